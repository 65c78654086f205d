"""Read real/holdout/synthetic tables from CSV or Parquet and check they describe the same columns."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from nemo_tabular.evaluation.errors import EvaluationError

READERS = {".csv": pd.read_csv, ".parquet": pd.read_parquet, ".pq": pd.read_parquet}


def read_table(path: str | Path, role: str) -> pd.DataFrame:
    """Load one table, failing with the role and file name when it is missing, unreadable or empty."""
    path = Path(path)
    if not path.is_file():
        raise EvaluationError(f"{role} file not found: {path}")
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise EvaluationError(f"{role} file {path}: unsupported format {path.suffix!r}; use .csv or .parquet")
    try:
        frame = reader(path)
    except pd.errors.EmptyDataError:
        raise EvaluationError(f"{role} file {path} is empty") from None
    except Exception as error:  # pyarrow and the csv parser raise many types; all mean "unreadable"
        raise EvaluationError(f"{role} file {path} cannot be read: {error}") from error
    if frame.empty:
        raise EvaluationError(f"{role} file {path} has no rows")
    return frame


def check_same_columns(
    real: pd.DataFrame, other: pd.DataFrame, role: str, source: str | Path
) -> pd.DataFrame:
    """Return `other` with the real table's column order, or fail naming the columns that differ."""
    missing = [name for name in real.columns if name not in other.columns]
    extra = [name for name in other.columns if name not in real.columns]
    if missing or extra:
        raise EvaluationError(
            f"{role} file {source} does not match the real table's columns: "
            f"missing {missing}, unexpected {extra}"
        )
    return other[list(real.columns)]


def check_has_column(frame: pd.DataFrame, column: str, what: str, source: str | Path) -> None:
    """Fail naming the file when a configured column (target, group_by, ...) is absent."""
    if column not in frame.columns:
        raise EvaluationError(
            f"{what} column {column!r} not found in {source}; columns are {list(frame.columns)}"
        )
