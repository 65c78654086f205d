"""Check that the real, holdout and synthetic tables (read by nemo_tabular.io) describe the same columns."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from nemo_tabular.evaluation.errors import EvaluationError


def check_same_columns(real: pd.DataFrame, other: pd.DataFrame, role: str, source: str | Path) -> pd.DataFrame:
    """Return `other` with the real table's column order, or fail naming the columns that differ."""
    missing = [name for name in real.columns if name not in other.columns]
    extra = [name for name in other.columns if name not in real.columns]
    if missing or extra:
        raise EvaluationError(
            f"{role} file {source} does not match the real table's columns: missing {missing}, unexpected {extra}"
        )
    return other[list(real.columns)]


def check_has_column(frame: pd.DataFrame, column: str, what: str, source: str | Path) -> None:
    """Fail naming the file when a configured column (target, group_by, ...) is absent."""
    if column not in frame.columns:
        raise EvaluationError(f"{what} column {column!r} not found in {source}; columns are {list(frame.columns)}")
