"""Training and validation batches: megatron's GPTDataset over the prepared .bin/.idx files.

Documents (a flat table's rows, or an entity's rows) are packed into fixed-length sequences; a
sequence may start mid-document. Rows never attend across documents only if
`train.reset_attention` is on; see BENCHMARKS.md for what packing costs (measured on diamonds).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from megatron.core.datasets.blended_megatron_dataset_builder import BlendedMegatronDatasetBuilder
from megatron.core.datasets.gpt_dataset import GPTDataset, GPTDatasetConfig

from nemo_tabular.tokenizer import TabularTokenizer


@dataclass
class DatasetTokenizer:
    """The three facts megatron's GPTDataset needs of a tokenizer."""

    vocab_size: int
    eod: int
    pad: int

    @property
    def unique_identifiers(self) -> dict:
        """What megatron hashes into its index cache names."""
        return {"class": "TabularTokenizer", "vocab_size": self.vocab_size, "eod": self.eod, "pad": self.pad}


def build_datasets(data_dir: str | Path, tokenizer: TabularTokenizer, seq_length: int, seed: int,
                   train_samples: int, valid_samples: int, reset_attention: bool) -> tuple[GPTDataset, GPTDataset]:
    """Train and valid GPTDatasets with exactly the requested number of samples each."""
    data_dir = Path(data_dir)
    for split in ("train", "valid"):
        for suffix in (".bin", ".idx"):
            if not (data_dir / f"{split}{suffix}").is_file():
                raise FileNotFoundError(f"{data_dir / (split + suffix)}: not found; run data_prep/prepare.py first")
    config = GPTDatasetConfig(
        random_seed=seed,
        sequence_length=seq_length,
        blend_per_split=[([str(data_dir / "train")], None), ([str(data_dir / "valid")], None), None],
        tokenizer=DatasetTokenizer(tokenizer.vocab_size, tokenizer.eod_id, tokenizer.pad_id),
        reset_position_ids=reset_attention,
        reset_attention_mask=reset_attention,
        eod_mask_loss=False,
        create_attention_mask=reset_attention,
        path_to_cache=str(data_dir / "cache"),
        mid_level_dataset_surplus=0.005,
    )
    train, valid, _ = BlendedMegatronDatasetBuilder(
        GPTDataset, [train_samples, valid_samples, None], lambda: True, config).build()
    return train, valid


def batches(dataset: GPTDataset, micro_batch: int, start_sample: int, dp_rank: int, dp_size: int):
    """Endless micro batches for this data-parallel rank, starting at global sample `start_sample`.

    Global micro batch g holds samples g*micro*dp .. +micro*dp; rank r takes its slice, so any DP size
    sees the same global batches in the same order, and a resumed run continues where it stopped.
    """
    index = start_sample
    while True:
        chunk = [dataset[(index + dp_rank * micro_batch + i) % len(dataset)] for i in range(micro_batch)]
        index += micro_batch * dp_size
        yield {key: torch.stack([torch.as_tensor(sample[key]) for sample in chunk])
               for key in chunk[0] if chunk[0][key] is not None}
