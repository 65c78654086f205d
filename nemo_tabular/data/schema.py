"""Check the dataset config against the file's columns and keep every chunk's column types consistent."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from nemo_tabular.data.errors import DataPrepError
from nemo_tabular.tokenizer.codecs import parse_bools

NUMERIC_KINDS = ("float", "int")
BOOLEAN = "a boolean (kind: bool reads true/false, yes/no, y/n, t/f, on/off and 1/0)"


def check_columns(
    path: Path,
    columns: Sequence[str],
    group_by: Sequence[str],
    order_by: Sequence[str],
    overrides: Mapping[str, object],
    drop: Sequence[str],
    target: str | None,
    first_columns: Sequence[str] = (),
) -> None:
    """Raise naming the file and column when the dataset config refers to a column the file lacks."""
    available = set(columns)
    roles = [("drop", c) for c in drop] + [("group_by", c) for c in group_by] + [("order_by", c) for c in order_by]
    roles += [("columns", c) for c in overrides] + ([("target", target)] if target else [])
    roles += [("first_columns", c) for c in first_columns]
    repeated = sorted({c for c in first_columns if list(first_columns).count(c) > 1})
    if repeated:
        raise DataPrepError(f"{path}: first_columns names {repeated} more than once")
    for role, column in roles:
        if column not in available:
            raise DataPrepError(
                f"{path}: {role} names column {column!r}, which is not in the file; columns: {list(columns)}"
            )
    for role, column in roles:
        if role != "drop" and column in drop:
            raise DataPrepError(f"{path}: {role} names column {column!r}, which dataset.drop removes")


def leading_first(columns: Sequence[str], first_columns: Sequence[str]) -> list[str]:
    """The column (token) order: `first_columns` (validated by check_columns), then the rest in the file's order."""
    return list(first_columns) + [c for c in columns if c not in first_columns]


def declared_kinds(overrides: Mapping[str, Mapping[str, object]]) -> dict[str, str]:
    """Column kinds the dataset config declares explicitly ({name: kind})."""
    return {name: str(spec["kind"]) for name, spec in overrides.items() if spec and spec.get("kind")}


class ChunkCoercer:
    """Fixes each column's type family (declared, or from its first non-empty chunk) and holds later chunks to it."""

    def __init__(
        self, path: Path, kinds: Mapping[str, str], order_by: Sequence[str], group_by: Sequence[str] = ()
    ) -> None:
        self.path = path
        self.kinds = dict(kinds)
        self.order_by = list(order_by)
        self.labels = set(group_by)  # entity ids are labels: '17' beside 'X-17' is no mix of kinds
        self.numeric = {column: kind in NUMERIC_KINDS for column, kind in self.kinds.items()}

    def __call__(self, chunk: pd.DataFrame) -> pd.DataFrame:
        """Return `chunk` with numeric and date columns parsed; raise naming the first bad row."""
        for column in chunk.columns:
            series = chunk[column]
            if column not in self.numeric and series.notna().any():
                self.numeric[column] = is_numeric(series)
            if self.numeric.get(column) and not is_numeric(series):
                chunk[column] = self._parse(series, pd.to_numeric, "a number")
            elif self.kinds.get(column) == "bool" and not pd.api.types.is_bool_dtype(series):
                chunk[column] = self._parse(series, parse_bools, BOOLEAN)  # the .parquet keeps True/False
            elif self._is_date(column, series):
                if not pd.api.types.is_datetime64_any_dtype(series):
                    chunk[column] = self._parse(series, self._to_dates, "a date")
            elif column not in self.kinds and column not in self.labels and is_text(series):
                self._refuse_numbers_among_text(series)
        return chunk

    def _is_date(self, column: str, series: pd.Series) -> bool:
        """Declared datetime columns, and order_by columns that are neither numbers nor dates already."""
        if self.kinds.get(column) == "datetime":
            return True
        return column in self.order_by and not self.numeric.get(column) and not is_numeric(series)

    def _parse(self, series: pd.Series, parse, what: str) -> pd.Series:
        """Parse with `parse(errors='coerce')`; a value that turned into NaN/NaT is an error naming its row."""
        parsed = parse(series, errors="coerce")
        bad = np.asarray(parsed.isna() & series.notna())
        if bad.any():
            row = series.index[int(np.flatnonzero(bad)[0])]
            value = series.loc[row]
            raise DataPrepError(f"{self.path}: column {series.name!r} row {row}: cannot parse {value!r} as {what}")
        return parsed

    def _to_dates(self, series: pd.Series, errors: str = "coerce") -> pd.Series:
        """pandas' date parse, except that text with UTC offsets becomes UTC datetimes (the same instants).

        pandas leaves text with several offsets (a zone across DST) as objects and gives each single
        offset its own dtype, so chunks would disagree; in UTC every chunk has one dtype and the
        tokenizer records the zone "UTC". Text mixing values with and without an offset is refused.
        """
        parsed = _quiet_to_datetime(series, errors=errors)
        if not (isinstance(parsed.dtype, pd.DatetimeTZDtype) or parsed.dtype == object):
            return parsed
        failed = parsed.isna().to_numpy() & series.notna().to_numpy()
        if failed.any():
            self._refuse_naive_beside_aware(series, failed)
        return pd.to_datetime(series, errors=errors, utc=True)

    def _refuse_naive_beside_aware(self, series: pd.Series, failed: np.ndarray) -> None:
        """Values that failed a parse whose other values carry a UTC offset: if they are dates without
        one, the column has no one meaning; refuse it naming both rows (else `_parse` names the value)."""
        retried = _quiet_to_datetime(series[failed], errors="coerce", format="mixed").dropna()
        naive = [row for row, value in retried.items() if value.tzinfo is None]
        if naive:
            row, other = naive[0], series.index[int(np.flatnonzero(~failed & series.notna().to_numpy())[0])]
            raise DataPrepError(
                f"{self.path}: column {series.name!r} row {row}: {series.loc[row]!r} has no UTC offset while "
                f"row {other} has one; give every value an offset, or none"
            )

    def _refuse_numbers_among_text(self, series: pd.Series) -> None:
        """A column of text in which some values are numbers is refused, not silently made a category.

        Either kind may be what the user means (codes such as '007' and 'A1', or numbers with a typo),
        so the message names the column, examples of both, and the declaration that decides.
        """
        present = series.dropna()
        numbers = pd.to_numeric(present, errors="coerce").notna().to_numpy()
        if not numbers.any() or numbers.all():
            return
        name = series.name
        examples = ", ".join(repr(v) for v in pd.unique(present[numbers])[:2])
        text_row = present.index[int(np.flatnonzero(~numbers)[0])]
        raise DataPrepError(
            f"{self.path}: column {name!r} mixes numbers (e.g. {examples}) and text (e.g. {present.loc[text_row]!r} "
            f"in row {text_row}); declare its kind: dataset.columns.{name}.kind=category keeps every value as "
            f"text, kind=float or int refuses the text rows"
        )


def _quiet_to_datetime(series: pd.Series, **options) -> pd.Series:
    """pd.to_datetime without its FutureWarning about mixed offsets (the caller handles them)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*mixed time zones", category=FutureWarning)
        return pd.to_datetime(series, **options)


def is_text(series: pd.Series) -> bool:
    """Strings (object or string dtype), as opposed to numbers, booleans and dates."""
    return pd.api.types.is_object_dtype(series) or pd.api.types.is_string_dtype(series)


def is_numeric(series: pd.Series) -> bool:
    """Numbers (ints, floats, bools), as opposed to text or dates."""
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_datetime64_any_dtype(series)
