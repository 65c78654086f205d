"""Hydra entry for export: `python scripts/export.py dataset=diamonds` (checkpoint -> bundle and/or HF dir)."""

import sys

import hydra
from omegaconf import DictConfig

from nemo_tabular.export import ExportError, save_hf, standalone_from_megatron
from nemo_tabular.export.model_card import checkpoint_provenance
from nemo_tabular.sampling.loading import load_megatron_model
from nemo_tabular.sampling import TableLayout, save_bundle
from nemo_tabular.tokenizer import TabularTokenizer
from nemo_tabular.training.checkpoint_layout import TOKENIZER_FILE


@hydra.main(config_path="../conf", config_name="export", version_base="1.3")
def main(cfg: DictConfig) -> None:
    """Write the outputs that are not null; an unexportable model exits 1 with a one-line error."""
    try:
        tokenizer = TabularTokenizer.load(f"{cfg.checkpoint}/{TOKENIZER_FILE}")
        config, weights = standalone_from_megatron(load_megatron_model(cfg.checkpoint))
        if cfg.bundle_dir:
            save_bundle(cfg.bundle_dir, config, weights, tokenizer, TableLayout.from_json(cfg.dataset))
            print(f"bundle: {cfg.bundle_dir}")
        if cfg.hf_dir:
            save_hf(cfg.hf_dir, config, weights, tokenizer, TableLayout.from_json(cfg.dataset),
                    checkpoint_provenance(cfg.checkpoint))
            print(f"hugging face GPT-2: {cfg.hf_dir}")
    except (ExportError, ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
