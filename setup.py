"""Packaging beyond pyproject.toml: the wheel carries conf/, the Slurm templates and docker/ as package data.

They stay at the top of the repository (where users edit them); build_py copies them under
nemo_tabular/_resources, where nemo_tabular.resources finds them in an installed wheel.
"""

import runpy
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

# read from nemo_tabular/resources.py itself (it imports only pathlib), so the map is written once
RESOURCES = runpy.run_path(str(Path(__file__).parent / "nemo_tabular" / "resources.py"))["RESOURCES"]


class BuildWithResources(build_py):
    """build_py, then the resource directories copied into the built package."""

    def run(self):
        super().run()
        target = Path(self.build_lib) / "nemo_tabular" / "_resources"
        for name, source in RESOURCES.items():
            shutil.copytree(
                source, target / name, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
            )


setup(cmdclass={"build_py": BuildWithResources})
