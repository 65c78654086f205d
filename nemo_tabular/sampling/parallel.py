"""Sample on several CPU cores: worker processes each write a share of the rows, joined in share order.

A small model on a CPU samples fastest on one core (torch's threads scale poorly at these sizes;
BENCHMARKS.md), so N processes of one thread give up to N times the rows/s (1.4-1.6x with two on a
2-core machine, where they share the caches and memory). Each share has its own seed, derived
from (seed, share), so the rows depend on seed, batch_size and workers and on nothing else.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import pickle
import signal
import sys
import traceback
from dataclasses import replace
from pathlib import Path
from queue import Empty

import numpy as np
import torch
from tqdm.auto import tqdm  # a notebook gets its widget bar

from nemo_tabular.errors import ConfigError
from nemo_tabular.hardware import usable_cores
from nemo_tabular.io import TableWriter, iter_table_chunks, scratch_directory

from .bundle import Bundle
from .conditions import is_table, read_conditions
from .sampler import SampleOptions, entity_column, expected_rows, iter_samples, write_frames

POLL_SECONDS = 1.0  # how often the parent checks that its workers are still alive


def share_seed(seed: int, share: int) -> int:
    """A share's seed: independent streams for (seed, 0), (seed, 1), ..."""
    return int(np.random.SeedSequence([seed, share]).generate_state(1)[0])


def split_evenly(total: int, parts: int) -> list[int]:
    """`total` as `parts` counts that differ by at most one, larger first; zeros left out."""
    counts = [total // parts + (i < total % parts) for i in range(parts)]
    return [count for count in counts if count > 0]


def share_options(options: SampleOptions, workers: int, sequential: bool) -> list[SampleOptions]:
    """Each worker's options: the condition rows, entities or rows split as evenly as possible, seeds derived.

    A table of conditions is split into consecutive blocks, so the outputs joined in share order keep
    its order. Fewer shares than workers when there is less work than workers.
    """
    if workers == 1:
        return [options]
    if is_table(options.conditions):
        table = read_conditions(options.conditions)
        bounds = np.cumsum([0, *split_evenly(len(table), workers)])
        parts = [{"conditions": table.iloc[lo:hi].reset_index(drop=True)} for lo, hi in zip(bounds[:-1], bounds[1:])]
    elif sequential and options.n_entities is not None:
        parts = [{"n_entities": count} for count in split_evenly(options.n_entities, workers)]
    else:
        parts = [{"n_rows": count} for count in split_evenly(options.n_rows, workers)]
    return [replace(options, seed=share_seed(options.seed, i), **part) for i, part in enumerate(parts)]


def sample_share(
    share: int,
    bundle: Bundle,
    options: SampleOptions,
    part: str,
    chunk_rows: int,
    threads: int,
    messages,
    parent: int | None = None,
) -> None:
    """A worker's job: write its share to the Parquet file `part` and report rows, then its copy counters.

    Any failure is sent to the parent, which raises it. A worker whose parent (process id `parent`) died,
    SIGKILL included, stops too: nobody would read its share.
    """
    if parent is not None:
        die_with_parent()
        if os.getppid() != parent:  # the parent died while this process started up
            raise SystemExit(1)

    def report(rows: int) -> None:
        if parent is not None and os.getppid() != parent:  # where die_with_parent is not available
            raise SystemExit(1)
        messages.put(("rows", share, rows))

    try:
        torch.set_num_threads(threads)
        with TableWriter(part) as writer:
            write_frames(iter_samples(bundle, options), writer, chunk_rows, report)
        reject = options.reject_copies
        counters = None if reject is None else (reject.checked, reject.rejected, reject.left_out)
        messages.put(("done", share, counters))
    except BaseException as err:  # noqa: BLE001 - any failure travels to the parent, which raises it
        err.add_note(f"in sampling worker {share}:\n{traceback.format_exc()}")
        try:
            pickle.dumps(err)
        except Exception:  # noqa: BLE001 - an exception that does not pickle still reaches the parent as text
            err = RuntimeError(f"{type(err).__name__}: {err}\n{err.__notes__[-1]}")
        messages.put(("error", share, err))


def die_with_parent() -> None:
    """Ask Linux to send this process SIGTERM when its parent exits, killed or not (prctl PR_SET_PDEATHSIG);
    elsewhere a no-op (the worker then notices at its next batch)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


ROWS_PER_WORKER = 20_000  # a worker's start-up (~2 s of imports and loading) pays off past about this many rows


def planned_workers(workers: int | str, n_rows: int, device: str) -> int:
    """`workers` as given, or for 'auto' one per ROWS_PER_WORKER rows up to the usable cores (1 off the CPU)."""
    if workers != "auto":
        if int(workers) < 1:
            raise ConfigError(f"workers={workers}: expected a count >= 1 or 'auto'")
        return int(workers)
    if not str(device).startswith("cpu"):
        return 1
    return max(1, min(usable_cores(), n_rows // ROWS_PER_WORKER))


def sample_in_parallel(
    bundle: Bundle,
    out: str | os.PathLike,
    options: SampleOptions,
    workers: int,
    chunk_rows: int = 65536,
    progress: bool = True,
) -> int:
    """sample_to_file() on `workers` processes (CPU only); returns the rows written to `out`.

    The torch threads of this process are split among the workers, at least one each.

    Copy counters of options.reject_copies add up the workers'. Sequential tables get entity ids
    numbered on across shares. A worker's error is raised here; nothing is left on disk then.
    """
    if workers < 1:
        raise ConfigError(f"workers must be >= 1, got {workers}")
    device = bundle.model.wte.weight.device
    if device.type != "cpu":
        raise ConfigError(
            f"workers={workers} runs sampling processes on CPU cores; on {device}, use workers=1 "
            "and a larger batch_size"
        )
    final = TableWriter(out)  # checks the file type before any work
    shares = share_options(options, workers, bundle.layout.sequential)
    out = Path(out)
    context = multiprocessing.get_context("spawn")  # fork after torch has started threads can hang
    messages = context.Queue()
    with scratch_directory(out) as parts_dir:  # removed on any exit; one a killed run left, the next run removes
        parts = [str(parts_dir / f"share{i}.parquet") for i in range(len(shares))]
        threads = max(1, torch.get_num_threads() // len(shares))
        processes = [
            context.Process(
                target=sample_share,
                daemon=True,
                args=(i, bundle, share, parts[i], chunk_rows, threads, messages, os.getpid()),
            )
            for i, share in enumerate(shares)
        ]
        try:
            for worker in processes:
                worker.start()
            total = expected_rows(options, bundle.layout.sequential)
            with tqdm(total=total, unit="row", disable=not progress) as bar:
                counters = collect(messages, processes, bar)
        finally:
            for worker in processes:
                if worker.is_alive():
                    worker.terminate()
                worker.join()
        if options.reject_copies is not None:
            reject = options.reject_copies
            for checked, rejected, left_out in counters:
                reject.checked += checked
                reject.rejected += rejected
                reject.left_out += left_out
        return join_parts(parts, final, entity_column(bundle) if bundle.layout.sequential else None, chunk_rows)


def collect(messages, processes: list, bar: tqdm) -> list:
    """Wait for every worker's 'done', advancing the bar; raise a worker's error or unexplained death."""
    counters: dict[int, tuple | None] = {}
    while len(counters) < len(processes):
        try:
            kind, share, payload = messages.get(timeout=POLL_SECONDS)
        except Empty:
            for share, worker in enumerate(processes):
                if share not in counters and not worker.is_alive() and messages.empty():
                    raise RuntimeError(
                        f"sampling worker {share} exited with code {worker.exitcode} without finishing (out of memory?)"
                    ) from None
            continue
        if kind == "rows":
            bar.update(payload)
        elif kind == "error":
            raise payload
        else:
            counters[share] = payload
    return [counters[share] for share in sorted(counters) if counters[share] is not None]


def join_parts(parts: list[str], final: TableWriter, entity: str | None, chunk_rows: int) -> int:
    """Copy the shares' Parquet files into `final` in order, numbering entities on from one share to the next."""
    offset = 0
    with final as writer:
        for part in parts:
            next_offset = offset
            for frame in iter_table_chunks(part, chunk_rows):
                if entity is not None and len(frame):
                    frame[entity] += offset
                    next_offset = int(frame[entity].max()) + 1
                writer.write(frame)
            offset = next_offset
        return writer.rows
