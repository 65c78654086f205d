"""Validity: the share of synthetic rows whose every value lies within what the training split holds.

One definition, against the training split (the `real` table: the rows the model was trained on, and
since prep fits the tokenizer on them alone, the rows that decided its ranges and categories):
- a number or date is valid inside the training split's [min, max];
- a category or boolean is valid when the training split holds it (the tokenizer's `<rare>` is not a
  category of the training split, so it counts as invalid);
- a missing value is valid only in a column where the training split has missing values.
A row is valid when all its columns are; `column_invalid_share` gives each column's invalid share, so
`valid_share` is never 1 while a column has invalid values.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from nemo_tabular.evaluation.metadata import NUMERIC_KINDS, as_labels, as_numbers, conform

METHOD = "training_split"
DEFINITION = (
    "a row is valid when every value lies within the training split: numbers and dates inside its "
    "[min, max], categories among its values, missing values only where it has them"
)


def column_valid_masks(real: pd.DataFrame, synth: pd.DataFrame, kinds: dict[str, str]) -> dict[str, np.ndarray]:
    """Per column, which synthetic values lie in the training split's min/max or categories (see module)."""
    real, synth = conform(real, kinds), conform(synth, kinds)
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


def validity(real: pd.DataFrame, synth: pd.DataFrame, kinds: dict[str, str]) -> dict:
    """Share of valid synthetic rows and per-column invalid shares, against the training split `real`."""
    masks = column_valid_masks(real, synth, kinds)
    valid_rows = np.logical_and.reduce(list(masks.values())) if masks else np.ones(len(synth), dtype=bool)
    return {
        "method": METHOD,
        "definition": DEFINITION,
        "valid_share": float(valid_rows.mean()),
        "column_invalid_share": {name: float(1 - mask.mean()) for name, mask in masks.items()},
    }
