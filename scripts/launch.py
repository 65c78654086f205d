"""Hydra entry for launching a stage here or on Slurm:
`python scripts/launch.py cluster=slurm cluster.nodes=2 job=train -- dataset=diamonds model=1.3b`."""

import sys

import hydra
from omegaconf import DictConfig

from nemo_tabular.launch import LaunchError, launch
from nemo_tabular.launch.cli import pass_through_overrides


@hydra.main(config_path="../conf", config_name="launch", version_base="1.3")
def main(cfg: DictConfig) -> None:
    """Validate and launch; a bad setting exits 1 with a one-line error, a failed local run with its own code."""
    try:
        code = launch(cfg)
    except LaunchError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)
    sys.exit(code)


if __name__ == "__main__":
    try:
        sys.argv[1:] = pass_through_overrides(sys.argv[1:])
    except LaunchError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)
    main()
