"""The pipeline stages the launcher can start, and how each one is started."""

from dataclasses import dataclass

from nemo_tabular.launch.errors import LaunchError


@dataclass(frozen=True)
class Job:
    """A stage: its `nemo-tabular` subcommand (which is also its Hydra config's name), whether it runs
    one process per GPU on every node (torchrun) or one process, whether that one process needs a GPU,
    and the overrides it gets (before the user's) where the launcher gives it GPUs."""

    name: str
    stage: str
    distributed: bool
    needs_gpu: bool
    gpu_overrides: tuple[str, ...] = ()

    @property
    def config_name(self) -> str:
        return self.stage


JOBS = {
    "prep": Job("prep", "prepare", distributed=False, needs_gpu=False),
    "train": Job("train", "train", distributed=True, needs_gpu=True),
    "sample": Job("sample", "sample", distributed=False, needs_gpu=True, gpu_overrides=("device=cuda",)),
}


def get_job(name: str) -> Job:
    """The job called `name`; an unknown name is an error listing the known ones."""
    try:
        return JOBS[name]
    except KeyError:
        raise LaunchError(f"unknown job {name!r}; choose one of: {', '.join(JOBS)}") from None
