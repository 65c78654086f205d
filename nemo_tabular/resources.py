"""Where the files the pipeline reads at run time live: conf/, the Slurm templates and the Docker files.

A source checkout reads them in place; a wheel carries copies under nemo_tabular/_resources (setup.py puts
them there), so an installed `nemo-tabular` runs from any directory.
"""

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PACKAGED = PACKAGE_DIR / "_resources"
SOURCE_ROOT = PACKAGE_DIR.parent
# name under _resources -> path in the source checkout (setup.py copies each one into the wheel)
RESOURCES = {"conf": "conf", "slurm": "scripts/slurm", "docker": "docker"}


def resource_dir(name: str) -> Path:
    """The directory `name` (conf, slurm or docker): the installed copy if there is one, else the checkout's."""
    packaged = PACKAGED / name
    if packaged.is_dir():
        return packaged
    source = SOURCE_ROOT / RESOURCES[name]
    if source.is_dir():
        return source
    raise FileNotFoundError(f"{name}: neither {packaged} nor {source} exists; reinstall nemo-tabular")


def config_dir() -> Path:
    """The Hydra config directory every stage composes from."""
    return resource_dir("conf")
