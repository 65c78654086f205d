"""Validity: the share of synthetic rows whose every value lies in the ranges and categories of training."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from nemo_tabular.evaluation.metadata import NUMERIC_KINDS, as_labels, as_numbers


def column_valid_masks(
    real: pd.DataFrame, synth: pd.DataFrame, kinds: dict[str, str]
) -> dict[str, np.ndarray]:
    """Per column, which synthetic values lie in the real min/max or categories (NaN if real has NaN)."""
    masks = {}
    for name, kind in kinds.items():
        if kind in NUMERIC_KINDS:
            real_values, values = as_numbers(real[name]), as_numbers(synth[name])
            observed = real_values[~np.isnan(real_values)]
            inside = np.zeros(len(values), dtype=bool)
            if observed.size:
                inside = (values >= observed.min()) & (values <= observed.max())
            masks[name] = inside | (np.isnan(values) & bool(np.isnan(real_values).any()))
        else:
            masks[name] = as_labels(synth[name]).isin(set(as_labels(real[name]))).to_numpy()
    return masks


def validity(real: pd.DataFrame, synth: pd.DataFrame, kinds: dict[str, str], tokenizer: Any = None) -> dict:
    """Share of valid rows (tokenizer ranges if given, else the real table's) and per-column invalid shares."""
    masks = column_valid_masks(real, synth, kinds)
    if tokenizer is not None:
        valid_rows = np.asarray(
            tokenizer.valid_mask(synth[[spec.name for spec in tokenizer.columns]]), dtype=bool
        )
        method = "tokenizer"
    else:
        valid_rows = np.logical_and.reduce(list(masks.values())) if masks else np.ones(len(synth), dtype=bool)
        method = "real_ranges"
    return {
        "method": method,
        "valid_share": float(valid_rows.mean()),
        "column_invalid_share": {name: float(1 - mask.mean()) for name, mask in masks.items()},
    }
