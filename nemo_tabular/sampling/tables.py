"""Tables on disk: read a CSV/Parquet file; stream chunks to one, written to a temp file and renamed when complete."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

PARQUET_SUFFIXES = (".parquet", ".pq")


def read_table(path: str | os.PathLike, what: str) -> pd.DataFrame:
    """A whole CSV or Parquet file; a missing or empty file raises naming `what` it was meant to be."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: {what} file not found")
    table = pd.read_parquet(path) if path.suffix.lower() in PARQUET_SUFFIXES else pd.read_csv(path)
    if table.empty:
        raise ValueError(f"{path}: {what} file has no rows")
    return table


class TableWriter:
    """Context manager: write(chunk) appends rows; a clean exit renames the temp file to `path`."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.parquet = self.path.suffix.lower() in PARQUET_SUFFIXES
        if not self.parquet and self.path.suffix.lower() != ".csv":
            raise ValueError(f"{self.path}: output must end in .csv, .parquet or .pq")
        self.rows = 0
        self._tmp: Path | None = None
        self._handle = None
        self._parquet_writer: pq.ParquetWriter | None = None

    def __enter__(self) -> "TableWriter":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")  # not mkstemp: keep the umask's mode
        self._tmp.unlink(missing_ok=True)
        return self

    def write(self, chunk: pd.DataFrame) -> None:
        if self.parquet:
            if self._parquet_writer is None:
                table = pa.Table.from_pandas(chunk, preserve_index=False)
                self._parquet_writer = pq.ParquetWriter(self._tmp, table.schema)
            else:
                table = pa.Table.from_pandas(chunk, schema=self._parquet_writer.schema, preserve_index=False)
            self._parquet_writer.write_table(table)
        else:
            chunk.to_csv(self._tmp, mode="a", header=self.rows == 0, index=False)
        self.rows += len(chunk)

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._parquet_writer is not None:
            self._parquet_writer.close()
        if exc_type is None:
            os.replace(self._tmp, self.path)
        else:
            self._tmp.unlink(missing_ok=True)
