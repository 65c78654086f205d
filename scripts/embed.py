"""Hydra entry for row embeddings: `python scripts/embed.py dataset=diamonds` (see conf/embed.yaml)."""

import json
import sys

import hydra
import torch
from omegaconf import DictConfig

from nemo_tabular.embeddings import RowEmbedder, RowVectorStore, VectorStoreError, connect
from nemo_tabular.io import write_text
from nemo_tabular.embeddings.pipeline import embed_run
from nemo_tabular.sampling.loading import open_model
from nemo_tabular.sampling import TableLayout


def run(cfg: DictConfig) -> dict:
    """Embed the configured tables into the collection and audit the synthetic rows."""
    torch.set_num_threads(int(cfg.threads))
    embedder = RowEmbedder(open_model(cfg.model_path, TableLayout.from_json(cfg.dataset)), int(cfg.batch_size))
    client = connect(cfg.milvus.uri, cfg.milvus.token)
    try:
        store = RowVectorStore(client, cfg.collection, embedder.dim, cfg.milvus.index_type, cfg.milvus.metric)
        tables = {cfg.split: cfg.table} if cfg.table else dict(cfg.tables)
        summary = embed_run(store, embedder, tables, cfg.max_rows, int(cfg.seed),
                            int(cfg.audit.n_synthetic), float(cfg.audit.quantile))
    finally:
        client.close()
    if "audit" in summary:
        write_text(cfg.audit.out, json.dumps(summary["audit"], indent=1))
    return summary


@hydra.main(config_path="../conf", config_name="embed", version_base="1.3")
def main(cfg: DictConfig) -> None:
    try:
        summary = run(cfg)
    except (ValueError, FileNotFoundError, VectorStoreError) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)
    audit = summary.pop("audit", None)
    print(json.dumps(summary))
    if audit:
        print(f"audit: {audit['share_closer_to_train']:.3f} of synthetic rows are nearer a training row than a "
              f"holdout row (0.5 = no memorization); {audit['flagged_rate']:.2%} flagged, "
              f"{audit['copy_rate']:.2%} copies -> {cfg.audit.out}")


if __name__ == "__main__":
    main()
