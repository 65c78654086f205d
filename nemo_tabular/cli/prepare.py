"""`nemo-tabular prepare`: a table -> tokenizer.json, meta.json and the Megatron splits of a run directory."""

from __future__ import annotations

import time

from omegaconf import DictConfig


def run(cfg: DictConfig) -> str:
    """Prepare the configured table and return a summary of what was written where."""
    from nemo_tabular.data.prepare import prepare_dataset, summary

    started = time.perf_counter()
    output = prepare_dataset(cfg)
    return summary(output, time.perf_counter() - started)
