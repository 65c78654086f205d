"""Encode a stream of chunks with the tokenizer, in a process pool when there is more than one chunk."""

from __future__ import annotations

import itertools
import multiprocessing
from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from nemo_tabular.tokenizer import TabularTokenizer

_worker_tokenizer: TabularTokenizer | None = None


def encode_chunks(
    chunks: Iterable[pd.DataFrame], tokenizer: TabularTokenizer, tokenizer_path: Path, workers: int
) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
    """Yield (chunk, tokens) in input order; pool workers load the tokenizer from its JSON file."""
    stream = iter(chunks)
    head = list(itertools.islice(stream, 2))
    if workers <= 1 or len(head) < 2:
        for chunk in itertools.chain(head, stream):
            yield chunk, tokenizer.encode(chunk)
        return
    # fork starts workers without re-importing; elsewhere the platform default is used.
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else None
    context = multiprocessing.get_context(method)
    with context.Pool(workers, initializer=_load_tokenizer, initargs=(str(tokenizer_path),)) as pool:
        pending: deque = deque()
        for chunk in itertools.chain(head, stream):
            pending.append((chunk, pool.apply_async(_encode, (chunk,))))
            if len(pending) > 2 * workers:
                done, result = pending.popleft()
                yield done, result.get()
        while pending:
            done, result = pending.popleft()
            yield done, result.get()


def _load_tokenizer(path: str) -> None:
    """Pool initializer: each worker reads the tokenizer once."""
    global _worker_tokenizer
    _worker_tokenizer = TabularTokenizer.load(path)


def _encode(chunk: pd.DataFrame) -> np.ndarray:
    """Pool task: encode one chunk."""
    return _worker_tokenizer.encode(chunk)
