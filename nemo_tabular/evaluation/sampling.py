"""Seeded row subsampling, so expensive metrics stay fast on large tables and repeat exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd


def subsample(frame: pd.DataFrame, max_rows: int | None, seed: int) -> pd.DataFrame:
    """At most `max_rows` rows drawn without replacement in their original order; all rows when None."""
    if max_rows is None or len(frame) <= max_rows:
        return frame
    rows = np.sort(np.random.default_rng(seed).choice(len(frame), size=max_rows, replace=False))
    return frame.iloc[rows]
