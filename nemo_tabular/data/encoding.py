"""Encode a stream of chunks with the tokenizer, in a process pool when there is more than one chunk.

Training rows are encoded by the tokenizer's own settings. Held-out rows (valid/test) are encoded as
new data is, with values outside the training split's range clipped to it whatever `out_of_range`
says: the holdout reaches beyond the training range by nature, and its .parquet keeps the true values.
"""

from __future__ import annotations

import itertools
import multiprocessing
from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from nemo_tabular.data.splits import TRAIN
from nemo_tabular.tokenizer import TabularTokenizer

_worker_tokenizer: TabularTokenizer | None = None


def encode_chunks(
    chunks: Iterable[pd.DataFrame],
    tokenizer: TabularTokenizer,
    tokenizer_path: Path,
    workers: int,
    row_split: np.ndarray | None = None,
) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
    """Yield (chunk, tokens) in input order; pool workers load the tokenizer from its JSON file.

    `row_split` holds the split id of every file row (chunks are indexed by file row); None: all train.
    """
    stream = iter(chunks)
    head = list(itertools.islice(stream, 2))
    if workers <= 1 or len(head) < 2:
        for chunk in itertools.chain(head, stream):
            yield chunk, encode_rows(tokenizer, chunk, held_out_rows(chunk, row_split))
        return
    # fork starts workers without re-importing; elsewhere the platform default is used.
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else None
    context = multiprocessing.get_context(method)
    with context.Pool(workers, initializer=_load_tokenizer, initargs=(str(tokenizer_path),)) as pool:
        pending: deque = deque()
        for chunk in itertools.chain(head, stream):
            pending.append((chunk, pool.apply_async(_encode, (chunk, held_out_rows(chunk, row_split)))))
            if len(pending) > 2 * workers:
                done, result = pending.popleft()
                yield done, result.get()
        while pending:
            done, result = pending.popleft()
            yield done, result.get()


def held_out_rows(chunk: pd.DataFrame, row_split: np.ndarray | None) -> np.ndarray:
    """Which rows of `chunk` belong to valid or test."""
    if row_split is None:
        return np.zeros(len(chunk), dtype=bool)
    return row_split[chunk.index.to_numpy()] != TRAIN


def encode_rows(tokenizer: TabularTokenizer, chunk: pd.DataFrame, held_out: np.ndarray) -> np.ndarray:
    """Tokens of every row: training rows by the tokenizer's settings, held-out rows clipped to its ranges."""
    if not held_out.any():
        return tokenizer.encode(chunk)
    tokens = np.empty((len(chunk), tokenizer.row_width), dtype=np.int32)
    if not held_out.all():
        tokens[~held_out] = tokenizer.encode(chunk[~held_out])
    tokens[held_out] = tokenizer.encode(chunk[held_out], out_of_range="clip")
    return tokens


def _load_tokenizer(path: str) -> None:
    """Pool initializer: each worker reads the tokenizer once."""
    global _worker_tokenizer
    _worker_tokenizer = TabularTokenizer.load(path)


def _encode(chunk: pd.DataFrame, held_out: np.ndarray) -> np.ndarray:
    """Pool task: encode one chunk."""
    return encode_rows(_worker_tokenizer, chunk, held_out)
