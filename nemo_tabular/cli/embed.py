"""`nemo-tabular embed`: row embeddings from the trained GPT into Milvus, then a vector-search privacy audit."""

from __future__ import annotations

import json

from omegaconf import DictConfig


def run(cfg: DictConfig) -> str:
    """Embed the configured tables into the collection, audit the synthetic rows, and summarize both."""
    import torch

    from nemo_tabular.embeddings import RowEmbedder, RowVectorStore, connect
    from nemo_tabular.embeddings.pipeline import embed_run
    from nemo_tabular.io import write_text
    from nemo_tabular.sampling.loading import open_model, run_layout

    torch.set_num_threads(int(cfg.threads))
    embedder = RowEmbedder(
        open_model(cfg.model_path, run_layout(cfg.model_path, cfg.paths), trust=bool(cfg.trust_checkpoint)),
        int(cfg.batch_size),
    )
    client = connect(cfg.milvus.uri, cfg.milvus.token)
    try:
        store = RowVectorStore(client, cfg.collection, embedder.dim, cfg.milvus.index_type, cfg.milvus.metric)
        tables = {cfg.split: cfg.table} if cfg.table else dict(cfg.tables)
        summary = embed_run(
            store, embedder, tables, cfg.max_rows, int(cfg.seed), int(cfg.audit.n_synthetic), float(cfg.audit.quantile)
        )
    finally:
        client.close()
    audit = summary.pop("audit", None)
    lines = [json.dumps(summary)]
    if audit:
        write_text(cfg.audit.out, json.dumps(audit, indent=1))
        lines.append(
            f"audit: {audit['share_closer_to_train']:.3f} of synthetic rows are nearer a training row than "
            f"a holdout row (0.5 = no memorization); {audit['flagged_rate']:.2%} flagged, "
            f"{audit['copy_rate']:.2%} copies -> {cfg.audit.out}"
        )
    return "\n".join(lines)
