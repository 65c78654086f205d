"""Find a source table (local path or `package://pkg/path` inside an installed package) and read it in chunks
(through nemo_tabular.io, with prep's errors)."""

from __future__ import annotations

import contextlib
import importlib.resources
from collections.abc import Iterator, Sequence
from pathlib import Path

import pandas as pd

from nemo_tabular.data.errors import DataPrepError
from nemo_tabular.io import TableError, iter_table_chunks, table_columns, table_rows

PACKAGE_SCHEME = "package://"


@contextlib.contextmanager
def open_source(uri: str) -> Iterator[Path]:
    """Yield a filesystem path for `uri`; package resources are made real files for the duration."""
    if uri.startswith(PACKAGE_SCHEME):
        package, _, inner = uri[len(PACKAGE_SCHEME):].partition("/")
        try:
            resource = importlib.resources.files(package).joinpath(inner)
        except ModuleNotFoundError as err:
            raise DataPrepError(f"{uri}: package {package!r} is not installed") from err
        if not resource.is_file():
            raise DataPrepError(f"{uri}: no such file in package {package!r}")
        with importlib.resources.as_file(resource) as path:
            yield path
        return
    path = Path(uri).expanduser()
    if not path.is_file():
        raise DataPrepError(f"{uri}: source file not found")
    yield path


def source_columns(path: Path) -> list[str]:
    """Column names of the file; raises if it is empty or has no data rows, before any work starts."""
    try:
        return table_columns(path, "source")
    except TableError as err:
        raise DataPrepError(str(err)) from None


def count_rows(path: Path, limit_rows: int | None) -> int | None:
    """Rows the reader will yield when it is cheap to know (Parquet metadata), else None."""
    rows = table_rows(path)
    return rows if rows is None or limit_rows is None else min(rows, limit_rows)


def iter_chunks(
    path: Path,
    chunk_rows: int,
    limit_rows: int | None = None,
    text_columns: Sequence[str] = (),
    drop: Sequence[str] = (),
) -> Iterator[pd.DataFrame]:
    """Yield DataFrames of at most `chunk_rows` rows, indexed by their 0-based row number in the file."""
    start = 0
    with contextlib.closing(iter_table_chunks(path, chunk_rows, text_columns)) as chunks:
        for chunk in chunks:
            if limit_rows is not None and start + len(chunk) > limit_rows:
                chunk = chunk.iloc[: limit_rows - start]
            if chunk.empty:
                break
            if drop:
                chunk = chunk.drop(columns=list(drop))
            chunk.index = pd.RangeIndex(start, start + len(chunk))
            yield chunk
            start += len(chunk)
