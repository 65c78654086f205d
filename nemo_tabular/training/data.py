"""Training and validation batches: megatron's GPTDataset over the prepared .bin/.idx files.

Documents (a flat table's rows, or an entity's rows) are packed into fixed-length sequences; a
sequence may start mid-document. With `train.reset_attention` on, each document sees only itself,
laid out as the sampler lays it out: the end-of-document token before it at position 0, its tokens
at 1, 2, ... (megatron's own reset would put them at 0, 1, ..., which sampling never shows).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from megatron.core.datasets.blended_megatron_dataset_builder import BlendedMegatronDatasetBuilder
from megatron.core.datasets.gpt_dataset import GPTDataset, GPTDatasetConfig

from nemo_tabular.run_dir import PREPARE_COMMAND, PreparedData
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


def build_datasets(
    data_dir: str | Path,
    tokenizer: TabularTokenizer,
    seq_length: int,
    seed: int,
    train_samples: int,
    valid_samples: int,
    reset_attention: bool,
) -> tuple[GPTDataset, GPTDataset]:
    """Train and valid GPTDatasets with exactly the requested number of samples each."""
    prepared = PreparedData(data_dir)
    for split in ("train", "valid"):
        for suffix in (".bin", ".idx"):
            path = prepared.split_path(split, suffix)
            if not path.is_file():
                raise FileNotFoundError(f"{path}: not found; run {PREPARE_COMMAND} first")
    config = GPTDatasetConfig(
        random_seed=seed,
        sequence_length=seq_length,
        blend_per_split=[*[([str(prepared.split_path(split, ""))], None) for split in ("train", "valid")], None],
        tokenizer=DatasetTokenizer(tokenizer.vocab_size, tokenizer.eod_id, tokenizer.pad_id),
        reset_position_ids=False,
        reset_attention_mask=False,
        eod_mask_loss=False,
        create_attention_mask=False,
        path_to_cache=str(prepared.data_dir / "cache"),
        mid_level_dataset_surplus=0.005,
    )
    train, valid, _ = BlendedMegatronDatasetBuilder(
        GPTDataset, [train_samples, valid_samples, None], lambda: True, config
    ).build()
    if reset_attention:
        return DocumentAligned(train, tokenizer.eod_id), DocumentAligned(valid, tokenizer.eod_id)
    return train, valid


class DocumentAligned:
    """GPTDataset samples where every document attends only to itself, at the positions sampling uses.

    The end-of-document token that precedes a document starts it, at position 0. The sample's leading
    part, cut from a document that began before the sample, has unknown positions: it trains only when
    the sample holds no document start at all (a window inside a document longer than the sample).
    """

    def __init__(self, dataset: GPTDataset, eod: int):
        self.dataset, self.eod = dataset, eod

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict:
        sample = dict(self.dataset[index])
        tokens = torch.as_tensor(sample["tokens"])
        index_range = torch.arange(len(tokens))
        starts = tokens == self.eod
        document = starts.cumsum(0)
        first = torch.cummax(torch.where(starts, index_range, 0), 0).values
        same_document = (document[:, None] == document[None, :]).tril()
        sample["position_ids"] = index_range - first
        sample["attention_mask"] = ~same_document[None]  # megatron's convention: True = may not attend
        if starts.any():
            sample["loss_mask"] = torch.as_tensor(sample["loss_mask"]) * (document > 0)
        return sample


def batches(dataset: GPTDataset, micro_batch: int, start_sample: int, dp_rank: int, dp_size: int):
    """Endless micro batches for this data-parallel rank, starting at global sample `start_sample`.

    Global micro batch g holds samples g*micro*dp .. +micro*dp; rank r takes its slice, so any DP size
    sees the same global batches in the same order, and a resumed run continues where it stopped.
    """
    index = start_sample
    while True:
        chunk = [dataset[(index + dp_rank * micro_batch + i) % len(dataset)] for i in range(micro_batch)]
        index += micro_batch * dp_size
        yield {
            key: torch.stack([torch.as_tensor(sample[key]) for sample in chunk])
            for key in chunk[0]
            if chunk[0][key] is not None
        }
