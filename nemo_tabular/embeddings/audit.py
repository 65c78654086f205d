"""Privacy audit by vector search: is each synthetic row nearer the training rows than real unseen rows are?

Distances are cosine distances (1 - similarity) between L2-normalised row embeddings. A synthetic
row is flagged when it sits closer to its nearest training row than all but `quantile` of the
holdout rows do (holdout rows are real records the model never saw, so they set the bar), or when
its embedding matches a training row's outright (a copied row).
"""

from __future__ import annotations

import numpy as np

from .store import ID_STRIDE, RowVectorStore

SAME_ROW_DISTANCE = 1e-5  # identical rows embed identically, up to float32 rounding


def nearest_distances(
    store: RowVectorStore, vectors: np.ndarray, split: str, pool_only: bool = False, batch: int = 512
) -> tuple[np.ndarray, np.ndarray]:
    """Cosine distance to, and row index of, the nearest stored row of `split` for each vector.

    `pool_only` searches only the rows marked `audit_pool` (a training sample as large as the holdout).
    """
    distances, rows = np.empty(len(vectors)), np.empty(len(vectors), dtype=np.int64)
    where = f'split == "{split}"' + (" and audit_pool == true" if pool_only else "")
    for start in range(0, len(vectors), batch):
        hits = store.search(vectors[start : start + batch], k=1, filter=where, fields=["split"])
        for offset, row_hits in enumerate(hits):
            best = row_hits[0]
            distances[start + offset] = 1.0 - best["distance"]
            rows[start + offset] = best["id"] % ID_STRIDE
    return np.clip(distances, 0.0, 2.0), rows


def privacy_audit(
    store: RowVectorStore, synthetic: np.ndarray, holdout: np.ndarray, quantile: float = 0.01, max_flagged: int = 100
) -> dict:
    """Nearest-train vs nearest-holdout for synthetic rows, and the rows that look like copies."""
    to_train, train_rows = nearest_distances(store, synthetic, "train")
    to_holdout, _ = nearest_distances(store, synthetic, "holdout")
    to_train_pool, _ = nearest_distances(store, synthetic, "train", pool_only=True)
    holdout_to_train, _ = nearest_distances(store, holdout, "train")
    threshold = float(np.quantile(holdout_to_train, quantile))
    copies = to_train <= SAME_ROW_DISTANCE
    flagged = np.flatnonzero((to_train < threshold) | copies)
    order = flagged[np.argsort(to_train[flagged])][:max_flagged]
    closer = np.mean(to_train_pool < to_holdout) + 0.5 * np.mean(to_train_pool == to_holdout)
    return {
        "n_synthetic": int(len(synthetic)),
        "n_holdout": int(len(holdout)),
        "share_closer_to_train": float(closer),
        "median_distance_to_train": float(np.median(to_train)),
        "median_holdout_distance_to_train": float(np.median(holdout_to_train)),
        "flag_quantile": quantile,
        "flag_threshold": threshold,
        "copy_rate": float(copies.mean()) if len(copies) else 0.0,
        "flagged_rate": float(len(flagged) / max(len(synthetic), 1)),
        "flagged": [
            {"synthetic_row": int(i), "nearest_train_row": int(train_rows[i]), "distance": float(to_train[i])}
            for i in order
        ],
    }
