"""Hydra entry for search by example: `python scripts/search.py query=row.json k=5` (see conf/search.yaml)."""

import sys

import hydra
import torch
from omegaconf import DictConfig

from nemo_tabular.embeddings import RowEmbedder, RowVectorStore, VectorStoreError, connect
from nemo_tabular.embeddings.pipeline import read_query, search_rows
from nemo_tabular.sampling.loading import open_model
from nemo_tabular.sampling import TableLayout


@hydra.main(config_path="../conf", config_name="search", version_base="1.3")
def main(cfg: DictConfig) -> None:
    try:
        torch.set_num_threads(int(cfg.threads))
        embedder = RowEmbedder(open_model(cfg.model_path, TableLayout.from_json(cfg.dataset)))
        client = connect(cfg.milvus.uri, cfg.milvus.token)
        if not client.has_collection(cfg.collection):
            raise VectorStoreError(f"no collection {cfg.collection!r} at {cfg.milvus.uri}; run scripts/embed.py first")
        store = RowVectorStore(client, cfg.collection, embedder.dim, cfg.milvus.index_type, cfg.milvus.metric)
        hits = search_rows(store, embedder, read_query(cfg.query), int(cfg.k), cfg.filter)
        client.close()
    except (ValueError, FileNotFoundError, VectorStoreError) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)
    if cfg.out:
        hits.to_csv(cfg.out, index=False)
        print(f"wrote {len(hits)} hits to {cfg.out}")
    else:
        print(hits.to_string(index=False))


if __name__ == "__main__":
    main()
