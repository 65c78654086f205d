"""The pipeline stages the launcher can start, and how each one is started."""

from dataclasses import dataclass

from nemo_tabular.launch.errors import LaunchError


@dataclass(frozen=True)
class Job:
    """A stage: its entry script (relative to the repository root), its Hydra config, whether it runs
    one process per GPU on every node (torchrun) or one process, whether that one process needs a GPU,
    and the overrides it gets (before the user's) where the launcher gives it GPUs."""

    name: str
    script: str
    config_name: str
    distributed: bool
    needs_gpu: bool
    gpu_overrides: tuple[str, ...] = ()


JOBS = {
    "prep": Job("prep", "data_prep/prepare.py", "prepare", distributed=False, needs_gpu=False),
    "train": Job("train", "scripts/train.py", "train", distributed=True, needs_gpu=True),
    "sample": Job("sample", "scripts/sample.py", "sample", distributed=False, needs_gpu=True,
                  gpu_overrides=("device=cuda",)),
}


def get_job(name: str) -> Job:
    """The job called `name`; an unknown name is an error listing the known ones."""
    try:
        return JOBS[name]
    except KeyError:
        raise LaunchError(f"unknown job {name!r}; choose one of: {', '.join(JOBS)}") from None
