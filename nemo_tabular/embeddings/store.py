"""A Milvus collection of row embeddings: one per table, with the split and row values as fields.

Milvus Lite (a local `.db` path) is the default; an http(s) URI reaches a Milvus server.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from nemo_tabular.errors import UserError

SPLITS = ("train", "holdout", "synthetic")
# Row ids are unique across splits so one collection can hold them all and upserts stay idempotent.
ID_STRIDE = 10**12


class VectorStoreError(UserError):
    """The vector store cannot be reached or does not fit the data; the message says why."""


def row_ids(split: str, index: np.ndarray) -> np.ndarray:
    """Stable ids: split offset + row position, so re-embedding a table overwrites its rows."""
    if split not in SPLITS:
        raise VectorStoreError(f"split {split!r} is not one of {', '.join(SPLITS)}")
    return SPLITS.index(split) * ID_STRIDE + np.asarray(index, dtype=np.int64)


def connect(uri: str, token: str | None = None):
    """A MilvusClient for a Milvus Lite file path or a server URI; a bad URI raises clearly."""
    for noisy in ("faiss", "milvus_lite"):  # Milvus Lite logs every CPU probe and server start
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from pymilvus import MilvusClient

    uri = str(uri)
    if not uri.startswith(("http://", "https://", "tcp://", "unix:")):
        if not uri.endswith(".db"):
            raise VectorStoreError(
                f"milvus.uri {uri!r} is neither a Milvus Lite file (ending in .db) nor a server URI (http://host:19530)"
            )
        Path(uri).parent.mkdir(parents=True, exist_ok=True)
        # the embedded server answers pymilvus' version probe with a logged "not implemented"
        logging.getLogger("grpc._server").setLevel(logging.CRITICAL)
    try:
        return MilvusClient(uri=uri, token=token or "")
    except Exception as err:  # pymilvus raises several unrelated types for unreachable servers
        raise VectorStoreError(f"cannot connect to Milvus at {uri!r}: {err}") from err


class RowVectorStore:
    """Upsert, search and filter row embeddings in one collection."""

    def __init__(self, client, collection: str, dim: int, index_type: str = "AUTOINDEX", metric: str = "COSINE"):
        self.client, self.collection, self.dim, self.metric = client, collection, dim, metric
        if client.has_collection(collection):
            existing = _vector_dim(client.describe_collection(collection))
            if existing != dim:
                raise VectorStoreError(
                    f"collection {collection!r} holds vectors of dimension {existing}, but this model "
                    f"gives {dim}; use another collection name or drop it"
                )
        else:
            self._create(index_type)
        client.load_collection(collection)

    def _create(self, index_type: str) -> None:
        from pymilvus import DataType, MilvusClient

        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=True)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("split", DataType.VARCHAR, max_length=16)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=self.dim)
        index = self.client.prepare_index_params()
        index.add_index(field_name="vector", index_type=index_type, metric_type=self.metric)
        self.client.create_collection(self.collection, schema=schema, index_params=index)

    def upsert(self, split: str, index: np.ndarray, vectors: np.ndarray, rows: pd.DataFrame, batch: int = 2048) -> None:
        """Insert or overwrite rows by id, with their values as filterable fields."""
        if vectors.shape[1] != self.dim:
            raise VectorStoreError(
                f"vectors have dimension {vectors.shape[1]}, collection {self.collection!r} expects {self.dim}"
            )
        ids = row_ids(split, index)
        records = rows.reset_index(drop=True).to_dict(orient="records")
        for start in range(0, len(ids), batch):
            self.client.upsert(
                self.collection,
                [
                    {
                        "id": int(ids[i]),
                        "split": split,
                        "vector": vectors[i].astype(np.float32).tolist(),
                        **{k: _field_value(v) for k, v in records[i].items() if k not in ("id", "split", "vector")},
                    }
                    for i in range(start, min(start + batch, len(ids)))
                ],
            )

    def search(
        self, vectors: np.ndarray, k: int = 5, filter: str = "", fields: list[str] | None = None
    ) -> list[list[dict]]:
        """Nearest stored rows for each query vector, best first; `filter` is a Milvus expression, and one
        Milvus cannot parse is a VectorStoreError naming it (pymilvus' own traceback log is kept quiet)."""
        from pymilvus.exceptions import MilvusException

        decorators = logging.getLogger("pymilvus.decorators")  # logs every failed call with a traceback
        level = decorators.level
        decorators.setLevel(logging.CRITICAL)
        try:
            hits = self.client.search(
                self.collection,
                data=vectors.astype(np.float32).tolist(),
                limit=k,
                filter=filter,
                output_fields=fields or ["*"],
                search_params={"metric_type": self.metric},
            )
        except MilvusException as err:
            reason = milvus_reason(err, filter)
            raise VectorStoreError(
                f"filter={filter!r}: Milvus cannot use this filter ({reason}); it is a Milvus "
                f"boolean expression over split and the row's columns, e.g. "
                f'split == "train" and price > 1000'
            ) from None
        finally:
            decorators.setLevel(level)
        return [[{"id": h["id"], "distance": float(h["distance"]), **h.get("entity", {})} for h in row] for row in hits]

    def count(self, split: str) -> int:
        result = self.client.query(self.collection, filter=f'split == "{split}"', output_fields=["count(*)"])
        return int(result[0]["count(*)"])


def milvus_reason(err: Exception, expression: str) -> str:
    """A MilvusException's message as one line: without the echoed expression and the caret line under it."""
    lines = [line.strip() for line in str(getattr(err, "message", err)).splitlines()]
    kept = [line for line in lines if line and line != expression.strip() and set(line) != {"^"}]
    return "; ".join(kept) or type(err).__name__


def _vector_dim(description: Mapping) -> int:
    for field in description.get("fields", []):
        if field.get("name") == "vector":
            return int(field.get("params", {}).get("dim"))
    raise VectorStoreError("collection has no 'vector' field")


def _field_value(value):
    """Row values as JSON-friendly scalars (NaN -> None, timestamps -> ISO strings)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value.isoformat()
    if value is pd.NaT or value is None:
        return None
    return value
