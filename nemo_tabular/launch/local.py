"""Local backend: run a stage on this machine, under torchrun when it is distributed."""

import os
import subprocess

from omegaconf import DictConfig, OmegaConf

from nemo_tabular.launch.command import local_argv
from nemo_tabular.launch.jobs import Job


def run_local(job: Job, cluster: DictConfig, overrides: list[str]) -> int:
    """Run `job` here with the cluster's environment added; returns its exit code."""
    argv = local_argv(job, overrides, cluster.gpus_per_node)
    extra_env = {name: str(value) for name, value in OmegaConf.to_container(cluster.env, resolve=True).items()}
    return subprocess.run(argv, env={**os.environ, **extra_env}).returncode
