"""`nemo-tabular train`: a GPT on a prepared run; under torchrun every process runs this."""

from __future__ import annotations

import json

from omegaconf import DictConfig


def run(cfg: DictConfig) -> str:
    """Train, leave the process group, and return the run summary (without the loss history) as JSON."""
    from nemo_tabular.training.loop import leave_process_group, train

    try:
        summary = train(cfg)
    finally:
        leave_process_group()
    return json.dumps({key: value for key, value in summary.items() if key != "losses"})
