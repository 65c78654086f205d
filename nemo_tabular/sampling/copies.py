"""Drop sampled rows that copy a training row exactly: a synthetic table must not hand back a real record.

Rows are compared as the token ids of their decoded values (the sampler re-encodes what it writes),
which equal each other exactly when the values do: the tokenizer's round trip is exact on its grid.
Each row is kept as a 64-bit fingerprint, so millions of training rows fit in a few megabytes; a
false match (about 1 in 2^64 per pair) only drops one extra synthetic row, never keeps a copy.
"""

from __future__ import annotations

import os

import numpy as np

from nemo_tabular.io import read_table
from nemo_tabular.tokenizer import TabularTokenizer

_MULTIPLIER = np.uint64(0x100000001B3)  # FNV-1a's 64-bit prime
_OFFSET = np.uint64(0xCBF29CE484222325)


def row_fingerprints(tokens: np.ndarray) -> np.ndarray:
    """One uint64 per row of a (rows, width) integer array; equal rows give equal fingerprints."""
    tokens = np.asarray(tokens)
    hashes = np.full(len(tokens), _OFFSET, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for column in tokens.T.astype(np.uint64):
            for shift in (0, 16):  # token ids fit 32 bits; mixing two 16-bit halves spreads every bit
                hashes ^= (column >> np.uint64(shift)) & np.uint64(0xFFFF)
                hashes *= _MULTIPLIER
    return hashes


class TrainingRows:
    """Fingerprints of the training rows' tokens (row terminator left out), to find copies among sampled rows."""

    def __init__(self, row_tokens: np.ndarray):
        self.fingerprints = np.unique(row_fingerprints(row_tokens))
        self.checked = self.rejected = 0  # sampled rows compared, and how many of them were copies
        self.left_out = 0  # sequential tables: copied rows that every draw repeated, left out of their entity

    @classmethod
    def from_table(cls, tokenizer: TabularTokenizer, path: str | os.PathLike) -> TrainingRows:
        """The rows of a CSV/Parquet table (the training split) encoded by the model's tokenizer."""
        table = read_table(path, "training rows (reject_copies_of)")
        return cls(tokenizer.encode(table)[:, :-1])

    def copies(self, row_tokens: np.ndarray) -> np.ndarray:
        """A boolean per row of `row_tokens` (terminator left out): True where it equals a training row."""
        return np.isin(row_fingerprints(row_tokens), self.fingerprints)

    def check(self, row_tokens: np.ndarray) -> np.ndarray:
        """copies(), counted in `checked` and `rejected`."""
        copies = self.copies(row_tokens)
        self.checked += len(copies)
        self.rejected += int(copies.sum())
        return copies

    def summary(self) -> str:
        """How many sampled rows copied a training row; a warning when most did (the model memorized the table)."""
        note = f"dropped {self.rejected:,} copies of training rows"
        if self.left_out:
            note += f" (of these, {self.left_out:,} left out of their entities: every draw copied)"
        share = self.rejected / max(self.checked, 1)
        if share > 0.5:
            note += (
                f" ({share:.0%} of sampled rows: the model has memorized much of the table; fewer training "
                "steps (train.min_steps, train.epochs) trade quality for less memorization)"
            )
        return note
