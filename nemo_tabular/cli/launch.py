"""`nemo-tabular launch`: a stage here (cluster=local) or as a Slurm batch job (cluster=slurm)."""

from __future__ import annotations

from omegaconf import DictConfig


def run(cfg: DictConfig) -> str:
    """Validate and launch; a failed local run exits with its own code."""
    from nemo_tabular.launch import launch

    code = launch(cfg)
    if code:
        raise SystemExit(code)
    return ""
