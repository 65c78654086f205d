"""Column kinds (float/int/category/datetime/bool) from the tokenizer or inferred, and SDMetrics metadata."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

NUMERIC_KINDS = ("float", "int", "datetime")
SDTYPE_OF_KIND = {
    "float": "numerical",
    "int": "numerical",
    "datetime": "datetime",
    "category": "categorical",
    "bool": "categorical",  # conform() turns booleans into labels, so they are compared as categories
}


def infer_kind(series: pd.Series) -> str:
    """Guess a tokenizer-style kind from a pandas column's dtype."""
    if pd.api.types.is_bool_dtype(series):
        return "bool"
    if pd.api.types.is_datetime64_any_dtype(series):
        return "datetime"
    if pd.api.types.is_integer_dtype(series):
        return "int"
    if pd.api.types.is_float_dtype(series):
        return "float"
    return "category"


def column_kinds(real: pd.DataFrame, tokenizer: Any = None) -> dict[str, str]:
    """Kind of every real column: the tokenizer's ColumnSpec.kind where it names the column, else inferred."""
    declared = {spec.name: spec.kind for spec in tokenizer.columns} if tokenizer is not None else {}
    return {name: declared.get(name) or infer_kind(real[name]) for name in real.columns}


def numeric_columns(kinds: dict[str, str]) -> list[str]:
    """Columns measured on a numeric scale (datetimes included, as their integer time)."""
    return [name for name, kind in kinds.items() if kind in NUMERIC_KINDS]


def categorical_columns(kinds: dict[str, str]) -> list[str]:
    """Columns compared by category (booleans included)."""
    return [name for name, kind in kinds.items() if kind not in NUMERIC_KINDS]


def as_numbers(series: pd.Series) -> np.ndarray:
    """A numeric or datetime column as float64 (datetimes in seconds since the epoch, NaT as NaN)."""
    if pd.api.types.is_datetime64_any_dtype(series):
        values = series.to_numpy(dtype="datetime64[ns]")
        return np.where(np.isnat(values), np.nan, values.astype("int64") / 1e9)
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def as_labels(series: pd.Series) -> pd.Series:
    """A categorical column as strings, missing values as one explicit label, so frames compare equal."""
    return series.astype("string").fillna("<NA>").astype(str)


def conform(frame: pd.DataFrame, kinds: dict[str, str]) -> pd.DataFrame:
    """Cast columns to what their kind implies, so real and synthetic frames share dtypes."""
    result = {}
    for name, kind in kinds.items():
        series = frame[name]
        if kind == "datetime":
            result[name] = as_utc_datetimes(series)
        elif kind in ("float", "int"):
            result[name] = pd.to_numeric(series, errors="coerce").astype("float64")
        else:
            result[name] = as_labels(series)
    return pd.DataFrame(result, index=frame.index)


def as_utc_datetimes(series: pd.Series) -> pd.Series:
    """Datetimes as naive UTC, whatever they came as: zoned (a tokenizer with a timezone decodes so),
    text with UTC offsets (a CSV), or naive (taken as they are), so every table compares the same instants."""
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        return series.dt.tz_convert("UTC").dt.tz_localize(None)
    if pd.api.types.is_datetime64_dtype(series.dtype):
        return series
    return pd.to_datetime(series, errors="coerce", utc=True).dt.tz_localize(None)


def sdmetrics_metadata(kinds: dict[str, str], table: str) -> dict:
    """SDMetrics unified (multi-table shaped) metadata for one table of conformed columns."""
    columns = {name: {"sdtype": SDTYPE_OF_KIND[kind]} for name, kind in kinds.items()}
    return {"tables": {table: {"columns": columns}}}
