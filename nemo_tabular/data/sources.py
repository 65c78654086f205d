"""Find a source table (local path or `package://pkg/path` inside an installed package) and read it in chunks."""

from __future__ import annotations

import contextlib
import importlib.resources
from collections.abc import Iterator, Sequence
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from nemo_tabular.data.errors import DataPrepError

PACKAGE_SCHEME = "package://"
PARQUET_SUFFIXES = (".parquet", ".pq")


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


def is_parquet(path: Path) -> bool:
    """Parquet by suffix; anything else is read as CSV (pandas handles .csv.gz and friends)."""
    return path.suffix.lower() in PARQUET_SUFFIXES


def source_columns(path: Path) -> list[str]:
    """Column names of the file; raises if it is empty or has no data rows, before any work starts."""
    if is_parquet(path):
        parquet = pq.ParquetFile(path)
        if parquet.metadata.num_rows == 0:
            raise DataPrepError(f"{path}: file has no data rows")
        return list(parquet.schema_arrow.names)
    try:
        head = pd.read_csv(path, nrows=1)
    except pd.errors.EmptyDataError as err:
        raise DataPrepError(f"{path}: file is empty") from err
    if head.empty:
        raise DataPrepError(f"{path}: file has a header but no data rows")
    return list(head.columns)


def count_rows(path: Path, limit_rows: int | None) -> int | None:
    """Rows the reader will yield when it is cheap to know (Parquet metadata), else None."""
    if not is_parquet(path):
        return None
    rows = pq.ParquetFile(path).metadata.num_rows
    return rows if limit_rows is None else min(rows, limit_rows)


def iter_chunks(
    path: Path,
    chunk_rows: int,
    limit_rows: int | None = None,
    text_columns: Sequence[str] = (),
    drop: Sequence[str] = (),
) -> Iterator[pd.DataFrame]:
    """Yield DataFrames of at most `chunk_rows` rows, indexed by their 0-based row number in the file."""
    if is_parquet(path):
        batches = (b.to_pandas() for b in pq.ParquetFile(path).iter_batches(batch_size=chunk_rows))
    else:
        batches = pd.read_csv(path, chunksize=chunk_rows, dtype={c: str for c in text_columns})
    start = 0
    with contextlib.closing(batches):
        for chunk in batches:
            if limit_rows is not None and start + len(chunk) > limit_rows:
                chunk = chunk.iloc[: limit_rows - start]
            if chunk.empty:
                break
            if drop:
                chunk = chunk.drop(columns=list(drop))
            chunk.index = pd.RangeIndex(start, start + len(chunk))
            yield chunk
            start += len(chunk)
