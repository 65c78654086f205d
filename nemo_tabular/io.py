"""Files that readers never see half-written, and the one way to read and write CSV/Parquet tables.

Every file and directory made here gets the mode a plain `open()` or `mkdir()` would give it: 0666 or
0777 less the umask (tempfile's mkstemp/mkdtemp would make them owner-only).

- `write_text` and `atomic_path`: a temp file beside the target, fsync'd, then `os.replace`d over it.
- Temp files and directories are named `.<target>.<pid>@<host>.<random>.<tmp|partial>`; one that a killed
  process (SIGKILL, power loss) left behind is removed by the next write of the same target on the same
  host (`remove_stale`), and one from another host or an older version is reported, not touched.
- `replace_directory` and `swap_directory`: a directory built beside the target takes its place. On Linux
  the two are exchanged in one `renameat2(RENAME_EXCHANGE)`, so the target path is never missing; where
  that call does not exist (other systems, old libc, some network filesystems) the old directory is
  renamed aside first, which leaves a moment without the target.
- `read_table`, `table_columns`, `table_rows`, `iter_table_chunks` and `TableWriter`: CSV (optionally
  compressed, e.g. .csv.gz) and Parquet by suffix, with errors (`TableError`) that name the file.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import logging
import os
import re
import secrets
import shutil
import socket
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from nemo_tabular.errors import UserError

PARQUET_SUFFIXES = (".parquet", ".pq")
CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".csv.xz", ".csv.zst", ".csv.zip")
AT_FDCWD = -100  # <fcntl.h>: paths relative to the working directory
RENAME_EXCHANGE = 2  # <linux/fs.h>: swap the two paths atomically
NO_EXCHANGE = {errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.ENOENT}


log = logging.getLogger(__name__)


class TableError(UserError):
    """A table file that is missing, unreadable, empty or of an unknown format; the message names the file."""


class OutputError(UserError):
    """An output that cannot be written where it was asked for (permissions, read-only or full disk);
    the message names the path and the reason."""


def output_error(path: Path, err: OSError) -> OutputError:
    """`err` (raised while creating a file or directory for `path`) as one line naming `path` and where it
    failed: the directory, rather than the hidden temp name inside it."""
    where = Path(err.filename) if err.filename is not None else path.parent
    if where.name.startswith(f".{path.name}."):
        where = where.parent
    reason = err.strerror or str(err)
    if isinstance(err, FileExistsError) and where.exists() and not where.is_dir():  # mkdir over a file
        reason = "a file, not a directory"
    return OutputError(
        f"{path}: cannot be written ({reason}: {where}); choose another location, or make that directory writable"
    )


# ---------------------------------------------------------------- files


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write `text` (UTF-8) to `path` atomically: readers see the old file or the whole new one."""
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty temp file beside `path` to write; a clean exit fsyncs it and renames it to `path`.

    On an error the temp file is removed and `path` keeps its old content.
    """
    path = Path(path)
    temporary = _reserve(path, "tmp", _create_file)
    try:
        yield temporary
        _fsync(temporary)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def _reserve(path: Path, kind: str, create: Callable[[Path], None]) -> Path:
    """Create a new, uniquely named hidden file or directory beside `path` and return its path.

    The name carries this process's id and host, so the next run can tell a leftover of a killed
    process from the work of a running one; stale leftovers of `path` are removed first. A directory
    that cannot be written raises OutputError naming `path`.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale(path)
        while True:
            candidate = path.with_name(f".{path.name}.{os.getpid()}@{_host()}.{secrets.token_hex(4)}.{kind}")
            try:
                create(candidate)
                return candidate
            except FileExistsError:
                continue
    except OSError as err:
        raise output_error(path, err) from err


TEMP_KINDS = ("tmp", "partial")
_TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)@(?P<host>[A-Za-z0-9_-]+)\.[0-9a-f]{8}\.(?P<kind>tmp|partial)$")
_OLD_TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.[0-9a-f]{8}\.(?P<kind>tmp|partial|previous)$")  # before pids


@functools.cache
def _host() -> str:
    """This machine's name as it appears in temp names: letters, digits, '_' and '-', at most 32."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname())[:32] or "host"


def _process_alive(pid: int) -> bool:
    """Whether process `pid` exists on this host (one of another user counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OverflowError:  # not a possible pid
        return False
    return True


def remove_stale(path: str | os.PathLike) -> list[Path]:
    """Remove the temp files and directories of `path` that a process no longer running on this host left
    (it was killed before it could clean up); return what was removed.

    Leftovers from another host (a shared filesystem) or without a process id (written before ids were
    part of the name) may belong to a running job, so they are only reported, once per call.
    """
    path = Path(path)
    removed = []
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return removed
    for entry in entries:
        if not entry.name.startswith(f".{path.name}."):
            continue
        found = _TEMP_NAME.match(entry.name)
        if found is not None and found["name"] == path.name:
            pid = int(found["pid"])
            if found["host"] != _host() or pid == os.getpid() or _process_alive(pid):
                if found["host"] != _host():
                    log.warning(
                        "%s: left by process %s on host %s, which may still be writing it; delete it if "
                        "no job there is running",
                        entry.path,
                        pid,
                        found["host"],
                    )
                continue
            leftover = Path(entry.path)
            try:
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(leftover)
                else:
                    leftover.unlink(missing_ok=True)
            except OSError as err:
                log.warning(
                    "%s: left by process %s, which no longer runs, but cannot be removed (%s)",
                    leftover,
                    pid,
                    err.strerror or err,
                )
                continue
            log.warning("%s: removed, left by process %s, which was stopped before it could finish", leftover, pid)
            removed.append(leftover)
        elif (old := _OLD_TEMP_NAME.match(entry.name)) is not None and old["name"] == path.name:
            log.warning(
                "%s: left by an interrupted earlier run (its name holds no process id); delete it if no "
                "other run is writing %s",
                entry.path,
                path,
            )
    return removed


def _create_file(path: Path) -> None:
    """A new empty file with open()'s mode (0666 less the umask); FileExistsError if the name is taken."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))


def _create_directory(path: Path) -> None:
    """A new empty directory with mkdir's mode (0777 less the umask)."""
    os.mkdir(path, 0o777)


def _fsync(path: Path) -> None:
    """Flush a written file's data to disk, so the rename cannot outlive its content in a crash."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _fsync_directory(path: Path) -> None:
    """Flush a directory entry (the rename); a no-op where directories cannot be opened (Windows)."""
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


# ---------------------------------------------------------------- directories


@contextlib.contextmanager
def replace_directory(target: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty directory beside `target` to fill; a clean exit swaps it in, an error removes it."""
    target = Path(target)
    work = _reserve(target, "partial", _create_directory)
    try:
        yield work
        swap_directory(work, target)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


@contextlib.contextmanager
def scratch_directory(beside: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty hidden directory beside `beside` (e.g. the shares of an output before they are joined),
    removed on exit whatever happens; one a killed process left is removed by the next run."""
    work = _reserve(Path(beside), "partial", _create_directory)
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


def swap_directory(new: str | os.PathLike, target: str | os.PathLike) -> None:
    """Put directory `new` at `target` and delete what was there (see the module docstring for the guarantee)."""
    new, target = Path(new), Path(target)
    if exchange_paths(new, target):
        shutil.rmtree(new)  # `new` now names the previous contents
    elif not os.path.lexists(target):
        os.rename(new, target)
    else:
        _swap_by_renames(new, target)
    _fsync_directory(target.parent)


def exchange_paths(first: Path, second: Path) -> bool:
    """Swap two existing paths in one step with Linux's renameat2; False where that is not possible."""
    rename = _renameat2()
    if rename is None:
        return False
    if rename(AT_FDCWD, os.fsencode(first), AT_FDCWD, os.fsencode(second), RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in NO_EXCHANGE:  # unsupported here, or `second` does not exist yet
        return False
    raise OSError(code, os.strerror(code), str(first), None, str(second))


@functools.cache
def _renameat2() -> Callable[..., int] | None:
    """libc's renameat2 (glibc 2.28+, Linux 3.15+), or None elsewhere."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


def _swap_by_renames(new: Path, target: Path) -> None:
    """The portable fallback: move `target` aside, rename `new` in, delete the old one (restored on failure)."""
    aside = target.with_name(f".{target.name}.{secrets.token_hex(4)}.previous")
    os.rename(target, aside)
    try:
        os.rename(new, target)
    except BaseException:
        os.rename(aside, target)
        raise
    shutil.rmtree(aside, ignore_errors=True)


# ---------------------------------------------------------------- tables


def is_parquet(path: str | os.PathLike) -> bool:
    """True for a Parquet file name (.parquet, .pq)."""
    return Path(path).name.lower().endswith(PARQUET_SUFFIXES)


def check_table_format(path: str | os.PathLike, what: str) -> None:
    """Raise TableError unless `path` ends in a CSV or Parquet suffix this module reads."""
    name = Path(path).name.lower()
    if not name.endswith(PARQUET_SUFFIXES + CSV_SUFFIXES):
        raise TableError(
            f"{path}: {what} file has an unsupported format {Path(path).suffix!r}; use .csv, .csv.gz or .parquet"
        )


def _check_file(path: Path, what: str) -> None:
    if not path.is_file():
        raise TableError(f"{path}: {what} file not found")
    check_table_format(path, what)


def read_table(path: str | os.PathLike, what: str) -> pd.DataFrame:
    """The whole CSV or Parquet file; missing, unreadable, empty or row-less files raise naming `what` it is."""
    path = Path(path)
    _check_file(path, what)
    try:
        table = pd.read_parquet(path) if is_parquet(path) else pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise TableError(f"{path}: {what} file is empty") from None
    except Exception as err:  # pyarrow and the CSV parser raise many types; all mean "unreadable"
        raise TableError(f"{path}: {what} file cannot be read ({err})") from err
    if table.empty:
        raise TableError(f"{path}: {what} file has no data rows")
    return table


def table_columns(path: str | os.PathLike, what: str) -> list[str]:
    """The file's column names, read from its header alone; raises if it has no data rows."""
    path = Path(path)
    _check_file(path, what)
    if is_parquet(path):
        parquet = pq.ParquetFile(path)
        if parquet.metadata.num_rows == 0:
            raise TableError(f"{path}: {what} file has no data rows")
        return list(parquet.schema_arrow.names)
    try:
        head = pd.read_csv(path, nrows=1)
    except pd.errors.EmptyDataError:
        raise TableError(f"{path}: {what} file is empty") from None
    if head.empty:
        raise TableError(f"{path}: {what} file has a header but no data rows")
    return list(head.columns)


def table_rows(path: str | os.PathLike) -> int | None:
    """The file's row count where that is cheap (Parquet metadata), else None."""
    return pq.ParquetFile(path).metadata.num_rows if is_parquet(path) else None


def iter_table_chunks(
    path: str | os.PathLike, chunk_rows: int, text_columns: Sequence[str] = (), columns: Sequence[str] | None = None
) -> Iterator[pd.DataFrame]:
    """The file as DataFrames of at most `chunk_rows` rows; `text_columns` stay strings in a CSV.

    `columns` reads only those columns (in the file's order), e.g. the keys a pass needs; None reads all.
    """
    selected = None if columns is None else list(columns)
    if is_parquet(path):
        batches = (
            batch.to_pandas() for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_rows, columns=selected)
        )
    else:
        batches = pd.read_csv(
            path,
            chunksize=chunk_rows,
            usecols=selected,
            dtype={column: str for column in text_columns if selected is None or column in selected},
        )
    with contextlib.closing(batches):
        yield from batches


class TableWriter:
    """Context manager: write(chunk) appends rows to a temp file that a clean exit renames to `path`.

    An error inside the block, or a block that wrote nothing, leaves `path` as it was.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.parquet = is_parquet(self.path)
        if not self.parquet and self.path.suffix.lower() != ".csv":
            raise TableError(f"{self.path}: output must end in .csv, .parquet or .pq")
        self.rows = 0
        self._chunks = 0
        self._target: contextlib.AbstractContextManager[Path] | None = None
        self._temporary: Path | None = None
        self._parquet_writer: pq.ParquetWriter | None = None

    def __enter__(self) -> TableWriter:
        self._target = atomic_path(self.path)
        self._temporary = self._target.__enter__()
        return self

    def write(self, chunk: pd.DataFrame) -> None:
        """Append `chunk`'s rows; later chunks are cast to the first one's Parquet schema."""
        if self.parquet:
            if self._parquet_writer is None:
                table = pa.Table.from_pandas(chunk, preserve_index=False)
                self._parquet_writer = pq.ParquetWriter(self._temporary, table.schema)
            else:
                table = pa.Table.from_pandas(chunk, schema=self._parquet_writer.schema, preserve_index=False)
            self._parquet_writer.write_table(table)
        else:
            chunk.to_csv(self._temporary, mode="a", header=self._chunks == 0, index=False)
        self._chunks += 1
        self.rows += len(chunk)

    def __exit__(self, exc_type, exc, tb) -> bool | None:
        if self._parquet_writer is not None:
            self._parquet_writer.close()
        if exc_type is None and self._chunks == 0:
            error = TableError(f"{self.path}: nothing was written (no chunks)")
            self._target.__exit__(TableError, error, None)  # removes the temp file
            raise error
        return self._target.__exit__(exc_type, exc, tb)
