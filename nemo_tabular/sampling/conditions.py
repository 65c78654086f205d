"""Conditions (fixed column values) -> the token ids to force at those columns' slots.

A condition fixes whole columns; the sampler writes their tokens instead of drawing them, so the
columns after them in the tokenizer's column order are generated given the fixed values. Columns
before the first fixed column are drawn without seeing them (they come first in every row).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np
import pandas as pd

from nemo_tabular.io import read_table
from nemo_tabular.tokenizer import TabularTokenizer, TokenizerError
from nemo_tabular.tokenizer.errors import plain

FREE = -1


def is_table(conditions) -> bool:
    """True for a table of conditions (a file or DataFrame: one output per row), False for a dict or None."""
    return conditions is not None and not isinstance(conditions, Mapping)


def read_conditions(source: Mapping | str | os.PathLike | pd.DataFrame) -> pd.DataFrame:
    """A dict (one condition for every row) or a CSV/Parquet file / DataFrame (one condition per row)."""
    if isinstance(source, pd.DataFrame):
        return source.reset_index(drop=True)
    if isinstance(source, Mapping):
        return pd.DataFrame({name: [value] for name, value in source.items()})
    return read_table(source, "conditions")


def forced_tokens(tokenizer: TabularTokenizer, conditions: pd.DataFrame) -> np.ndarray:
    """(n_conditions, row_width - 1) int64 ids: the encoded condition values, FREE elsewhere."""
    out = np.full((len(conditions), tokenizer.row_width - 1), FREE, dtype=np.int64)
    offsets = np.array([lo for lo, _ in tokenizer.slot_ranges()], dtype=np.int64)
    for name in conditions.columns:
        tokenizer.column(name)  # raises naming the known columns
        codec = tokenizer.codecs[tokenizer.column_names.index(name)]
        values = conditions[name]
        try:
            valid = codec.valid(values)
        except TokenizerError as err:
            raise TokenizerError(f"condition {err}") from None
        if not valid.all():
            bad = plain(values.iloc[int(np.flatnonzero(~valid)[0])])
            raise TokenizerError(f"condition on column {name!r}: {bad!r} {describe_allowed(codec)}")
        slots = tokenizer.column_slots(name)
        out[:, slots] = codec.encode(values) + offsets[slots]
    return out


def describe_allowed(codec) -> str:
    """What a column accepts, for error messages: its fitted range or (some of) its categories."""
    spec = codec.spec
    if spec.is_numeric:
        return f"is outside the fitted range [{codec.format_grid(spec.low)}, {codec.format_grid(spec.high)}]"
    shown = ", ".join(repr(c) for c in spec.categories[:20])
    more = f", ... ({len(spec.categories)} in all)" if len(spec.categories) > 20 else ""
    return f"is not a known category; known: {shown}{more}"
