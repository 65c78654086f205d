"""Embed a run's tables into the vector store, audit the synthetic rows, search by example."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from nemo_tabular.io import read_table

from .audit import privacy_audit
from .embedder import RowEmbedder
from .store import RowVectorStore


def sample_rows(table: pd.DataFrame, max_rows: int | None, seed: int) -> pd.DataFrame:
    """At most `max_rows` rows, a seeded sample that keeps each row's position as its index."""
    if max_rows is None or len(table) <= max_rows:
        return table
    return table.sample(max_rows, random_state=seed).sort_index()


def index_table(
    store: RowVectorStore, embedder: RowEmbedder, split: str, table: pd.DataFrame, audit_pool: np.ndarray
) -> np.ndarray:
    """Embed `table` and upsert it under `split`; ids are the rows' positions in their file."""
    vectors = embedder.embed(table, desc=f"embed {split}")
    store.upsert(split, table.index.to_numpy(), vectors, table.assign(audit_pool=audit_pool))
    return vectors


def embed_run(
    store: RowVectorStore,
    embedder: RowEmbedder,
    tables: dict[str, str],
    max_rows: int | None,
    seed: int,
    audit_rows: int,
    audit_quantile: float,
) -> dict:
    """Index train, holdout and (if present) synthetic rows, then audit synthetic against real.

    The nearer-train-or-holdout share is only fair between equally many rows, so a seeded pool of
    training rows as large as the holdout is marked `audit_pool` and that share is taken on it.
    """
    frames = {
        split: sample_rows(read_table(path, split).reset_index(drop=True), max_rows, seed)
        for split, path in tables.items()
        if split != "synthetic" or Path(path).is_file()
    }
    pool_size = len(frames["holdout"]) if "holdout" in frames else None
    vectors = {}
    for split, table in frames.items():
        pool = np.ones(len(table), dtype=bool)
        if split == "train" and pool_size is not None and pool_size < len(table):
            pool[:] = False
            pool[np.random.default_rng(seed).choice(len(table), pool_size, replace=False)] = True
        vectors[split] = index_table(store, embedder, split, table, pool)
    summary = {
        "collection": store.collection,
        "dim": embedder.dim,
        "rows": {split: len(v) for split, v in vectors.items()},
    }
    if "synthetic" in vectors and "holdout" in vectors:
        synthetic = vectors["synthetic"][:audit_rows]
        summary["audit"] = privacy_audit(store, synthetic, vectors["holdout"], quantile=audit_quantile)
    return summary


def read_query(path: str | os.PathLike) -> pd.DataFrame:
    """Query rows from CSV, Parquet or JSON (one object or a list of objects)."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        if not path.is_file():
            raise FileNotFoundError(f"{path}: query file not found")
        data = json.loads(path.read_text())
        return pd.DataFrame(data if isinstance(data, list) else [data])
    return read_table(path, "query")


def search_rows(
    store: RowVectorStore, embedder: RowEmbedder, query: pd.DataFrame, k: int, filter: str, show_vectors: bool = False
) -> pd.DataFrame:
    """The k nearest stored rows of each query row, as one table with query index and rank; each hit's
    stored vector (embedder.dim floats) only with show_vectors."""
    hits = store.search(embedder.embed(query, desc="embed query"), k=k, filter=filter)
    records = [{"query": q, "rank": rank, **hit} for q, row in enumerate(hits) for rank, hit in enumerate(row)]
    table = pd.DataFrame(records)
    return table if show_vectors else table.drop(columns=["vector"], errors="ignore")
