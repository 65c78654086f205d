"""How long a sampling run takes and how much it writes, measured on a short batch before it starts.

`n_rows=10**12` used to start without a word (an ETA of 117,000 hours, terabytes more than the disk
holds). Above MEASURE_ABOVE_ROWS rows, `estimate_sampling` draws MEASURE_ROWS rows with the run's
own model and settings, times them, and writes them in the output's format to memory for the bytes
per row; `SampleEstimate.warning()` is one line when the run would pass WARN_SECONDS or the free
space of the output's disk. It only warns: the run may be meant, and it can be stopped cleanly.
"""

from __future__ import annotations

import io
import os
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from nemo_tabular.io import is_parquet

from .bundle import Bundle
from .sampler import SampleOptions, iter_samples

MEASURE_ABOVE_ROWS = 1_000_000  # below this no run is long or large enough to warn about, so nothing is measured
MEASURE_ROWS = 256  # rows drawn for the measurement (well under a second for the models here)
WARN_SECONDS = 24 * 3600  # a run expected to take longer than a day is warned about


@dataclass(frozen=True)
class SampleEstimate:
    """A planned run: rows asked for, the measured speed and size per row, and the output disk's free space."""

    n_rows: int
    rows_per_second: float  # all workers together
    bytes_per_row: float
    free_bytes: int
    directory: Path  # the output's directory (its nearest existing ancestor)
    measured_rows: int
    workers: int

    @property
    def seconds(self) -> float:
        return self.n_rows / max(self.rows_per_second, 1e-9)

    @property
    def bytes(self) -> float:
        return self.n_rows * self.bytes_per_row

    def warning(self) -> str | None:
        """One line with the estimate when the run would take over WARN_SECONDS or outgrow the free space;
        else None."""
        too_long, too_large = self.seconds > WARN_SECONDS, self.bytes > self.free_bytes
        if not (too_long or too_large):
            return None
        workers = f"{self.workers} worker{'s' if self.workers != 1 else ''}"
        free = (
            f"more than the {size_text(self.free_bytes)} free" if too_large else f"{size_text(self.free_bytes)} free"
        ) + f" at {self.directory}"
        return (
            f"n_rows={self.n_rows:,} would take about {duration_text(self.seconds)} at "
            f"{self.rows_per_second:,.0f} rows/s (measured on {self.measured_rows} rows, {workers}) and write "
            f"about {size_text(self.bytes)} at {self.bytes_per_row:,.0f} bytes/row, {free}; lower n_rows, or "
            f"stop it with Ctrl-C (its temporary files are removed)"
        )


def duration_text(seconds: float) -> str:
    """`45 seconds`, `12 minutes`, `7.5 hours`, `117,153 hours`: whole units past ten, one decimal below."""
    for unit, length in (("hours", 3600), ("minutes", 60)):
        if seconds >= length:
            value = seconds / length
            return f"{value:,.0f} {unit}" if value >= 10 else f"{value:.1f} {unit}"
    return f"{seconds:.0f} seconds"


def size_text(n_bytes: float) -> str:
    """Decimal units, as disks are sold: `95.0 TB`, `40.2 GB`, `512 bytes`."""
    for unit, scale in (("PB", 1e15), ("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:,.1f} {unit}"
    return f"{n_bytes:.0f} bytes"


def existing_directory(path: str | os.PathLike) -> Path:
    """The nearest directory of `path`'s parents that exists (where its disk's free space can be read)."""
    directory = Path(path).absolute().parent
    while not directory.exists() and directory != directory.parent:
        directory = directory.parent
    return directory


def encoded_bytes(frame: pd.DataFrame, out: str | os.PathLike) -> int:
    """The size `frame` takes in out's format (Parquet or CSV), written to memory."""
    buffer = io.BytesIO()
    if is_parquet(out):
        frame.to_parquet(buffer, index=False)
    else:
        buffer.write(frame.to_csv(index=False).encode("utf-8"))
    return buffer.tell()


def estimate_sampling(bundle: Bundle, options: SampleOptions, out: str | os.PathLike, workers: int) -> SampleEstimate:
    """Draw MEASURE_ROWS rows as the run would (without copy rejection, whose counters are the run's) and
    return the estimate for options.n_rows rows on `workers` processes."""
    probe = replace(
        options,
        n_rows=min(MEASURE_ROWS, options.n_rows),
        n_entities=None,
        reject_copies=None,
        batch_size=min(options.batch_size, MEASURE_ROWS),
    )
    started = time.perf_counter()
    frames = list(iter_samples(bundle, probe))
    seconds = time.perf_counter() - started
    frame = pd.concat(frames, ignore_index=True)
    rows = max(len(frame), 1)
    directory = existing_directory(out)
    return SampleEstimate(
        n_rows=options.n_rows,
        rows_per_second=rows / max(seconds, 1e-9) * max(workers, 1),
        bytes_per_row=encoded_bytes(frame, out) / rows,
        free_bytes=shutil.disk_usage(directory).free,
        directory=directory,
        measured_rows=len(frame),
        workers=workers,
    )
