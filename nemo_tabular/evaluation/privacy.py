"""Privacy by distance to closest record (DCR) and exact copies, against a training set and an unseen holdout.

Rows become vectors: numeric and datetime columns min-max scaled on the real data (train + holdout), with
missing values at -1 (a full range away from every observed value); categorical columns one-hot with weight
1/sqrt(2), so a category mismatch costs exactly as much as a full-range numeric difference. Categories the
real data lacks share one "unseen" slot.

Distances to train (5th percentile, nearest-neighbour ratio) use up to `max_reference_rows` training rows, so a
model that memorized its training set shows near-zero distances even when the holdout is much smaller.
"Closer to train than to holdout" compares equal-size train and holdout subsets, so it is a fair coin (0.5)
for data that memorized nothing. Where train is the larger, it is averaged over up to `MAX_SHARE_PARTS`
disjoint holdout-size parts of the training rows: which rows one part holds moves the share of a small table
by about 0.05, which the average removes. Copies of rows outside a part count as fresh there, so read it
beside dcr_p5 and the exact-copy rate.

The holdout's own share is the reference a reader compares it with: the same share for the holdout rows
themselves, each measured against the other holdout rows (leave one out) and the same training parts.
Fresh real rows score it near 0.5; the one row left out tilts it by about 1/(4 * rows) towards train.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from nemo_tabular.evaluation.metadata import NUMERIC_KINDS, as_labels, as_numbers, conform
from nemo_tabular.evaluation.sampling import subsample

MISSING_VALUE = -1.0
ONE_HOT_WEIGHT = 1 / math.sqrt(2)
EXACT_SQUARED_DISTANCE = 1e-9  # float rounding of exact copies; smaller squared distances count as 0
MAX_SHARE_PARTS = 16  # holdout-size training parts the DCR share averages over; more costs time, gains little


class DistanceEncoder:
    """Maps table rows to vectors whose Euclidean distance is the DCR distance described above."""

    def __init__(self, real: pd.DataFrame, kinds: dict[str, str]):
        """Fit numeric ranges and category lists on the real rows."""
        self.kinds = kinds
        self.ranges = {}
        self.categories = {}
        for name, kind in kinds.items():
            if kind in NUMERIC_KINDS:
                values = as_numbers(real[name])
                observed = values[np.isfinite(values)]
                low, high = (observed.min(), observed.max()) if observed.size else (0.0, 1.0)
                self.ranges[name] = (low, (high - low) or 1.0)
            else:
                self.categories[name] = pd.Index(sorted(as_labels(real[name]).unique()))

    @property
    def width(self) -> int:
        """Length of one encoded row."""
        return len(self.ranges) + sum(len(index) + 1 for index in self.categories.values())

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """Encode rows as float64 vectors of length `width`."""
        blocks = []
        for name, (low, span) in self.ranges.items():
            scaled = (as_numbers(frame[name]) - low) / span
            blocks.append(np.where(np.isnan(scaled), MISSING_VALUE, scaled)[:, None])
        for name, index in self.categories.items():
            codes = index.get_indexer(as_labels(frame[name]))
            codes[codes < 0] = len(index)  # the shared "unseen" slot
            one_hot = np.zeros((len(frame), len(index) + 1))
            one_hot[np.arange(len(frame)), codes] = ONE_HOT_WEIGHT
            blocks.append(one_hot)
        return np.hstack(blocks) if blocks else np.zeros((len(frame), 0))


def nearest_two_distances(
    queries: pd.DataFrame,
    reference: np.ndarray,
    encoder: DistanceEncoder,
    memory_bytes: int = 256 * 2**20,
    description: str = "DCR",
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Distance of every query row to its nearest and second-nearest reference row, in bounded chunks.

    `memory_bytes` bounds the one chunk-by-reference distance array; with a single reference row the
    second-nearest distance is infinite.
    """
    reference_norms = np.einsum("ij,ij->i", reference, reference)
    chunk_rows = max(1, memory_bytes // (8 * max(len(reference), 1) + 8 * encoder.width))
    nearest, second = np.empty(len(queries)), np.full(len(queries), np.inf)
    for start in tqdm(range(0, len(queries), chunk_rows), desc=description, disable=not progress, unit="chunk"):
        block = encoder.transform(queries.iloc[start : start + chunk_rows])
        squared = block @ reference.T  # |a - b|^2 = |a|^2 + |b|^2 - 2ab, built in place: one chunk-sized array
        squared *= -2
        squared += np.einsum("ij,ij->i", block, block)[:, None]
        squared += reference_norms[None, :]
        if reference.shape[0] >= 2:
            squared.partition(1, axis=1)
            second[start : start + len(block)] = squared[:, 1]
        nearest[start : start + len(block)] = squared[:, 0]
    for values in (nearest, second):
        values[values < EXACT_SQUARED_DISTANCE] = 0.0
        np.sqrt(values, out=values)
    return nearest, second


def share_closer_to_train(to_train: np.ndarray, to_holdout: np.ndarray) -> float:
    """Share of rows nearer a training row than any holdout row, ties half (0.5 = no memorization)."""
    return float(np.mean((to_train < to_holdout) + 0.5 * (to_train == to_holdout)))


def equal_size_parts(n_rows: int, size: int, seed: int) -> list[np.ndarray]:
    """Disjoint random sets of `size` row positions out of `n_rows`: as many as fit, at most MAX_SHARE_PARTS."""
    order = np.random.default_rng(seed).permutation(n_rows)
    count = max(1, min(n_rows // max(size, 1), MAX_SHARE_PARTS))
    return [np.sort(order[number * size : (number + 1) * size]) for number in range(count)]


def distance_ratio(nearest: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Nearest / second-nearest distance per row; 0 when both are 0 (a duplicated record was matched)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(second > 0, nearest / second, 0.0)


def row_hashes(frame: pd.DataFrame, kinds: dict[str, str]) -> np.ndarray:
    """One 64-bit hash per row of the kind-conformed values, so equal records hash equal across files."""
    return pd.util.hash_pandas_object(conform(frame, kinds), index=False).to_numpy()


def exact_copy_rate(rows: pd.DataFrame, train: pd.DataFrame, kinds: dict[str, str]) -> float:
    """Share of `rows` that appear verbatim in the full training table."""
    return float(np.isin(row_hashes(rows, kinds), row_hashes(train, kinds)).mean())


def _ratio(numerator: float, denominator: float) -> float | None:
    """numerator / denominator, None when the denominator is 0."""
    return float(numerator / denominator) if denominator > 0 else None


@dataclass(frozen=True)
class DistancesToTrain:
    """Each measured synthetic and holdout row's distance to its closest training row (the DCR histogram)."""

    synthetic: np.ndarray
    holdout: np.ndarray


def privacy_metrics(
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    synth: pd.DataFrame,
    kinds: dict[str, str],
    seed: int,
    max_synthetic_rows: int | None = 100_000,
    max_reference_rows: int | None = 50_000,
    progress: bool = True,
) -> tuple[dict, DistancesToTrain]:
    """DCR share (and the holdout's own), 5th-percentile DCR, nearest-neighbour distance ratio and exact-copy
    rates; and the distances to train they are made of.

    The tables are conformed to the column kinds first: a holdout read from CSV holds its dates as text,
    which would otherwise encode as missing values and put every holdout row a full range away.
    """
    train, holdout, synth = (conform(frame, kinds) for frame in (train, holdout, synth))
    train_reference = subsample(train, max_reference_rows, seed)
    holdout_reference = subsample(holdout, max_reference_rows, seed + 1)
    synth_rows = subsample(synth, max_synthetic_rows, seed + 2)
    share_rows = min(len(train_reference), len(holdout_reference))
    encoder = DistanceEncoder(pd.concat([train, holdout], ignore_index=True), kinds)
    train_vectors = encoder.transform(train_reference)

    def distances(queries: pd.DataFrame, reference: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
        return nearest_two_distances(queries, reference, encoder, description=f"DCR {what}", progress=progress)

    synth_to_train, synth_second = distances(synth_rows, train_vectors, "synthetic->train")
    holdout_to_train, holdout_second = distances(holdout_reference, train_vectors, "holdout->train")
    equal_holdout_rows = subsample(holdout_reference, share_rows, seed + 4)
    equal_holdout = encoder.transform(equal_holdout_rows)
    synth_to_holdout, _ = distances(synth_rows, equal_holdout, "synthetic->holdout")
    # a holdout row's nearest other holdout row is its second nearest (the nearest is itself)
    _, holdout_to_other = distances(equal_holdout_rows, equal_holdout, "holdout->holdout")
    parts = equal_size_parts(len(train_reference), share_rows, seed + 3)
    shares, holdout_shares = [], []
    for number, part in enumerate(parts, start=1):
        if len(part) == len(train_reference):  # train is no larger than the holdout: one part, already measured
            synth_to_part = synth_to_train
            holdout_to_part = (
                holdout_to_train
                if len(equal_holdout_rows) == len(holdout_reference)
                else distances(equal_holdout_rows, train_vectors, "holdout->train")[0]
            )
        else:
            what = f"train part {number}/{len(parts)}"
            synth_to_part, _ = distances(synth_rows, train_vectors[part], f"synthetic->{what}")
            holdout_to_part, _ = distances(equal_holdout_rows, train_vectors[part], f"holdout->{what}")
        shares.append(share_closer_to_train(synth_to_part, synth_to_holdout))
        holdout_shares.append(share_closer_to_train(holdout_to_part, holdout_to_other))

    synth_p5, holdout_p5 = float(np.percentile(synth_to_train, 5)), float(np.percentile(holdout_to_train, 5))
    metrics = {
        "rows": {
            "synthetic": len(synth_rows),
            "train_reference": len(train_reference),
            "holdout_reference": len(holdout_reference),
            "share_reference": share_rows,
            "share_train_parts": len(parts),
        },
        "dcr_share_closer_to_train": float(np.mean(shares)),
        "dcr_p5": {
            "synthetic_to_train": synth_p5,
            "holdout_to_train": holdout_p5,
            "ratio": _ratio(synth_p5, holdout_p5),
        },
        "nndr_mean": {
            "synthetic_to_train": float(distance_ratio(synth_to_train, synth_second).mean()),
            "holdout_to_train": float(distance_ratio(holdout_to_train, holdout_second).mean()),
        },
        "exact_copy_rate": {
            "synthetic": exact_copy_rate(synth, train, kinds),
            "holdout": exact_copy_rate(holdout, train, kinds),
        },
        # with one holdout row there is no other holdout row to be nearer to
        "holdout_reference": {"dcr_share_closer_to_train": float(np.mean(holdout_shares)) if share_rows > 1 else None},
    }
    return metrics, DistancesToTrain(synthetic=synth_to_train, holdout=holdout_to_train)
