"""Pass-2 scratch storage on disk: encoded tokens and source rows, appended per chunk, read back by row index."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa


class TokenStore:
    """Encoded rows appended to one raw int32 file, read back as a (rows, row_width) memmap."""

    def __init__(self, path: Path, row_width: int) -> None:
        self.path = path
        self.row_width = row_width
        self.rows = 0
        self._file = open(path, "wb")

    def append(self, tokens: np.ndarray) -> None:
        """Append a (n, row_width) block of token ids."""
        if tokens.ndim != 2 or tokens.shape[1] != self.row_width:
            raise ValueError(f"expected tokens of shape (n, {self.row_width}), got {tokens.shape}")
        self._file.write(np.ascontiguousarray(tokens, dtype=np.int32).tobytes())
        self.rows += len(tokens)

    def open(self) -> np.ndarray:
        """Close for writing and map the tokens; only the pages that are read are loaded."""
        self._file.close()
        if self.rows == 0:
            return np.zeros((0, self.row_width), dtype=np.int32)
        return np.memmap(self.path, dtype=np.int32, mode="r", shape=(self.rows, self.row_width))


class RowStore:
    """Source rows kept as one Arrow IPC file per chunk (each with its own schema), memory-mapped for `take`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.schemas: list[pa.Schema] = []
        self.offsets = [0]
        self._tables: list[pa.Table] | None = None

    def append(self, chunk: pd.DataFrame) -> None:
        """Store one chunk of rows (its index is not kept: row numbers are implied by the order of appends)."""
        table = pa.Table.from_pandas(chunk, preserve_index=False)
        for i, column in enumerate(table.columns):
            if column.null_count == len(table):  # typeless, so a later chunk's values decide the column's type
                table = table.set_column(i, table.field(i).name, pa.nulls(len(table)))
        with pa.OSFile(str(self._path(len(self.schemas))), "wb") as sink:
            with pa.ipc.new_file(sink, table.schema) as writer:
                writer.write_table(table)
        self.schemas.append(table.schema)
        self.offsets.append(self.offsets[-1] + len(chunk))

    def schema(self) -> pa.Schema:
        """One schema all chunks can be cast to (e.g. a column that is int in one chunk and float in another)."""
        return pa.unify_schemas(self.schemas, promote_options="permissive")

    def take(self, rows: np.ndarray, schema: pa.Schema) -> pa.Table:
        """The stored rows at file positions `rows`, in that order, cast to `schema`."""
        if self._tables is None:
            self._tables = [self._open(i) for i in range(len(self.schemas))]
        chunk_of = np.searchsorted(np.asarray(self.offsets), rows, side="right") - 1
        pieces = []
        for chunk in np.unique(chunk_of):
            local = rows[chunk_of == chunk] - self.offsets[chunk]
            piece = self._tables[chunk].take(pa.array(local))
            pieces.append(piece if piece.schema.equals(schema) else piece.cast(schema))
        if not pieces:
            return schema.empty_table()
        gathered = pa.concat_tables(pieces)
        if np.all(chunk_of[1:] >= chunk_of[:-1]):  # already in the requested order
            return gathered
        return gathered.take(pa.array(np.argsort(np.argsort(chunk_of, kind="stable"))))

    def _open(self, index: int) -> pa.Table:
        """Memory-map one chunk's file."""
        return pa.ipc.open_file(pa.memory_map(str(self._path(index)))).read_all()

    def _path(self, index: int) -> Path:
        """File of chunk `index`."""
        return self.directory / f"rows-{index:06d}.arrow"
