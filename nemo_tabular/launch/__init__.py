"""Launching pipeline stages at scale: local torchrun or Slurm batch jobs rendered from the config."""

from nemo_tabular.launch.errors import LaunchError
from nemo_tabular.launch.launcher import launch

__all__ = ["LaunchError", "launch"]
