"""Find a source table (local path or `package://pkg/path` inside an installed package) and read it in chunks
(through nemo_tabular.io, with prep's errors).

What pandas or Arrow would otherwise do silently or with a traceback is refused here in one line naming
the file: duplicate header names (pandas renames them `a.1`), CSV rows with too few or too many fields
(pandas fills short rows with NaN), nested or binary Parquet columns, and files that are truncated,
corrupt or not what their suffix says.
"""

from __future__ import annotations

import contextlib
import importlib.resources
import re
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from nemo_tabular.data.errors import DataPrepError
from nemo_tabular.io import TableError, is_parquet, iter_table_chunks, table_columns, table_rows

# what reading a file can raise when the file (not the code) is at fault
READ_ERRORS = (OSError, EOFError, zlib.error, UnicodeDecodeError, pd.errors.ParserError, pa.ArrowException)
PANDAS_RAGGED = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")
CHECK_BLOCK_BYTES = 1 << 24  # bytes Arrow parses at a time in the row-width check

PACKAGE_SCHEME = "package://"


@contextlib.contextmanager
def open_source(uri: str) -> Iterator[Path]:
    """Yield a filesystem path for `uri`; package resources are made real files for the duration."""
    if uri.startswith(PACKAGE_SCHEME):
        package, _, inner = uri[len(PACKAGE_SCHEME) :].partition("/")
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
    """Column names of the file; raises if it is empty, has no data rows or repeats a name, before any work."""
    try:
        columns = table_columns(path, "source")
        names = columns if is_parquet(path) else raw_csv_header(path)
    except TableError as err:
        raise DataPrepError(str(err)) from None
    except READ_ERRORS as err:
        raise unreadable(path, err) from None
    repeated = sorted({name for name in names if names.count(name) > 1}, key=names.index)
    if repeated:
        raise DataPrepError(
            f"{path}: the header names {', '.join(map(repr, repeated))} more than once; give every column its own name"
        )
    return columns


def raw_csv_header(path: Path) -> list[str]:
    """The CSV's header as written (pandas' own header parse renames a repeated `a` to `a.1`)."""
    header = pd.read_csv(path, header=None, nrows=1, dtype=str, keep_default_na=False)
    return header.iloc[0].tolist()


def check_source(path: Path, drop: Sequence[str] = ()) -> None:
    """Refuse what later passes would misread: ragged CSV rows, nested/binary Parquet columns (not dropped)."""
    if is_parquet(path):
        check_parquet_types(path, drop)
    else:
        check_csv_rows(path)


def check_parquet_types(path: Path, drop: Sequence[str] = ()) -> None:
    """Every kept Parquet column must be flat: numbers, text, booleans or dates, not lists, structs or bytes."""
    try:
        schema = pq.ParquetFile(path).schema_arrow
    except READ_ERRORS as err:
        raise unreadable(path, err) from None
    for field in schema:
        if field.name in drop:
            continue
        if (
            pa.types.is_nested(field.type)
            or pa.types.is_binary(field.type)
            or pa.types.is_large_binary(field.type)
            or pa.types.is_fixed_size_binary(field.type)
        ):
            raise DataPrepError(
                f"{path}: column {field.name!r} holds {field.type}, which has no tokens: only flat columns "
                f"(numbers, text, booleans, dates) are prepared; drop it (dataset.drop) or flatten it"
            )


def check_csv_rows(path: Path) -> None:
    """Refuse the first CSV row whose field count differs from the header's, naming its row and text.

    pandas fills a short row with NaN, silently; Arrow's parser reports each ragged row, so one fast
    streaming pass (decompressing .gz and friends) checks them all. A file Arrow cannot decompress is
    reported here too; one it cannot parse for other reasons is left to pandas' own read.
    """
    ragged = []

    def note(row) -> str:
        ragged.append(row)
        return "skip"

    options = pa_csv.ParseOptions(newlines_in_values=True, invalid_row_handler=note)
    first_column = raw_csv_header(path)[0]
    try:
        # single-threaded, so Arrow numbers the rows; only the first column is converted, as raw bytes
        reader = pa_csv.open_csv(
            pa.input_stream(str(path), compression="detect"),
            parse_options=options,
            read_options=pa_csv.ReadOptions(use_threads=False, block_size=CHECK_BLOCK_BYTES),
            convert_options=pa_csv.ConvertOptions(
                include_columns=[first_column], column_types={first_column: pa.binary()}
            ),
        )
        for _ in reader:
            if ragged:
                break
    except pa.ArrowInvalid:
        return
    except READ_ERRORS as err:
        raise unreadable(path, err) from None
    if ragged:
        row = ragged[0]
        where = f"row {row.number - 2}" if row.number is not None else "a row"  # number counts the header as 1
        raise DataPrepError(
            f"{path}: {where} has {row.actual_columns} fields where the header has "
            f"{row.expected_columns} (a ragged row: {shorten(row.text)})"
        )


def unreadable(path: Path, err: BaseException) -> DataPrepError:
    """One line for a file that cannot be read, naming it and what is wrong."""
    reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    if isinstance(err, pd.errors.ParserError) and (match := PANDAS_RAGGED.search(str(err))):
        expected, line, saw = match.groups()
        return DataPrepError(f"{path}: line {line} has {saw} fields where the header has {expected}")
    if isinstance(err, UnicodeDecodeError):
        return DataPrepError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})")
    if isinstance(err, pa.ArrowInvalid) and is_parquet(path):
        return DataPrepError(f"{path}: not a readable Parquet file ({reason})")
    if isinstance(err, pd.errors.ParserError):
        return DataPrepError(f"{path}: cannot parse the CSV ({reason})")
    return DataPrepError(f"{path}: cannot read the file, it is truncated or corrupt ({reason})")


def shorten(text: str, limit: int = 60) -> str:
    """repr of a text cut to `limit` characters, so a long row still gives a one-line message."""
    text = text.replace("\n", " ")
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


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
    columns: Sequence[str] | None = None,
) -> Iterator[pd.DataFrame]:
    """Yield DataFrames of at most `chunk_rows` rows, indexed by their 0-based row number in the file.

    `columns` reads only those (a pass that needs just the document keys); a read error mid-file is a
    DataPrepError naming the file.
    """
    start = 0
    with contextlib.closing(iter_table_chunks(path, chunk_rows, text_columns, columns)) as chunks:
        while True:
            try:
                chunk = next(chunks)
            except StopIteration:
                return
            except READ_ERRORS as err:
                raise unreadable(path, err) from None
            if limit_rows is not None and start + len(chunk) > limit_rows:
                chunk = chunk.iloc[: limit_rows - start]
            if chunk.empty:
                break
            dropped = [column for column in drop if column in chunk.columns]
            if dropped:
                chunk = chunk.drop(columns=dropped)
            chunk.index = pd.RangeIndex(start, start + len(chunk))
            yield chunk
            start += len(chunk)
