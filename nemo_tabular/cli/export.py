"""`nemo-tabular export`: a megatron dist checkpoint (any TP/PP) -> a standalone bundle and/or an HF GPT-2 dir."""

from __future__ import annotations

from omegaconf import DictConfig


def run(cfg: DictConfig) -> str:
    """Write the outputs that are not null and say where they went."""
    from nemo_tabular.export import save_hf, standalone_from_megatron
    from nemo_tabular.export.model_card import checkpoint_provenance
    from nemo_tabular.run_dir import PreparedData
    from nemo_tabular.sampling import TableLayout, save_bundle
    from nemo_tabular.sampling.loading import load_megatron_model
    from nemo_tabular.tokenizer import TabularTokenizer
    from nemo_tabular.training.checkpoint_layout import TOKENIZER_FILE  # the checkpoint's, not a bundle's

    tokenizer = TabularTokenizer.load(f"{cfg.checkpoint}/{TOKENIZER_FILE}")
    config, weights = standalone_from_megatron(load_megatron_model(cfg.checkpoint, bool(cfg.trust_checkpoint)))
    lines = []
    if cfg.bundle_dir:
        save_bundle(
            cfg.bundle_dir, config, weights, tokenizer, TableLayout.from_json(PreparedData(cfg.paths.data_dir).meta)
        )
        lines.append(f"bundle: {cfg.bundle_dir}")
    if cfg.hf_dir:
        save_hf(
            cfg.hf_dir,
            config,
            weights,
            tokenizer,
            TableLayout.from_json(PreparedData(cfg.paths.data_dir).meta),
            checkpoint_provenance(cfg.checkpoint),
        )
        lines.append(f"hugging face GPT-2: {cfg.hf_dir}")
    return "\n".join(lines)
