"""`nemo-tabular search`: the stored rows nearest to given rows, in the trained model's embedding space."""

from __future__ import annotations

from omegaconf import DictConfig


def run(cfg: DictConfig) -> str:
    """Look the query rows up and print the hits (or write them as CSV)."""
    import torch

    from nemo_tabular.embeddings import RowEmbedder, RowVectorStore, VectorStoreError, connect
    from nemo_tabular.embeddings.pipeline import read_query, search_rows
    from nemo_tabular.sampling.loading import open_model, run_layout

    torch.set_num_threads(int(cfg.threads))
    embedder = RowEmbedder(
        open_model(cfg.model_path, run_layout(cfg.model_path, cfg.paths), trust=bool(cfg.trust_checkpoint))
    )
    client = connect(cfg.milvus.uri, cfg.milvus.token)
    try:
        if not client.has_collection(cfg.collection):
            raise VectorStoreError(
                f"no collection {cfg.collection!r} at {cfg.milvus.uri}; run nemo-tabular embed first"
            )
        store = RowVectorStore(client, cfg.collection, embedder.dim, cfg.milvus.index_type, cfg.milvus.metric)
        hits = search_rows(store, embedder, read_query(cfg.query), int(cfg.k), cfg.filter, bool(cfg.show_vectors))
    finally:
        client.close()
    if cfg.out:
        hits.to_csv(cfg.out, index=False)
        return f"wrote {len(hits)} hits to {cfg.out}"
    return hits.to_string(index=False)
