"""Assign documents to train/valid/test: a seeded shuffle of documents, or a cut in time for a single series."""

from __future__ import annotations

import numpy as np

from nemo_tabular.data.documents import DocumentLayout
from nemo_tabular.data.errors import DataPrepError

SPLITS = ("train", "valid", "test")
TRAIN, VALID, TEST = range(3)


def split_sizes(n: int, valid: float, test: float) -> tuple[int, int, int]:
    """How many of `n` items go to train, valid and test (fractions rounded half up)."""
    if valid < 0 or test < 0 or valid + test >= 1:
        raise DataPrepError(f"split fractions valid={valid}, test={test}: each must be >= 0 and together < 1")
    n_valid, n_test = (int(np.floor(fraction * n + 0.5)) for fraction in (valid, test))
    return n - n_valid - n_test, n_valid, n_test


def split_documents(n_documents: int, valid: float, test: float, seed: int) -> np.ndarray:
    """Split id (TRAIN/VALID/TEST) of each document: a seeded random choice of whole documents."""
    _, n_valid, n_test = split_sizes(n_documents, valid, test)
    shuffled = np.random.default_rng(seed).permutation(n_documents)
    split = np.full(n_documents, TRAIN, dtype=np.int8)
    split[shuffled[:n_test]] = TEST
    split[shuffled[n_test : n_test + n_valid]] = VALID
    return split


def split_series(layout: DocumentLayout, valid: float, test: float) -> tuple[DocumentLayout, np.ndarray]:
    """Cut a single ordered series into an earliest (train), a middle (valid) and a latest (test) document."""
    n_train, n_valid, _ = split_sizes(len(layout.row_order), valid, test)
    cuts = np.array([0, n_train, n_train + n_valid, len(layout.row_order)], dtype=np.int64)
    keep = np.diff(cuts) > 0
    bounds = np.concatenate([cuts[:-1][keep], cuts[-1:]])
    return DocumentLayout(layout.row_order, bounds), np.arange(3, dtype=np.int8)[keep]


def row_splits(layout: DocumentLayout, document_split: np.ndarray) -> np.ndarray:
    """The split id (int8) of every file row, from its document's split: what the fit and encode passes select by."""
    splits = np.empty(len(layout.row_order), dtype=np.int8)
    splits[layout.row_order] = np.repeat(document_split.astype(np.int8), layout.lengths())
    return splits
