"""Training batches: packed by default; with reset_attention, each document alone in the sampler's layout."""

import warnings
from types import SimpleNamespace

import numpy as np
import pytest
import torch

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Transformer Engine and Apex are not installed")
    from megatron.core.datasets.indexed_dataset import IndexedDatasetBuilder

    from nemo_tabular.training.data import batches, build_datasets

EOD, PAD, WIDTH = 1, 0, 5
TOKENIZER = SimpleNamespace(vocab_size=32, eod_id=EOD, pad_id=PAD)


def write_split(prefix, documents: list[list[int]]) -> None:
    """One indexed-dataset sequence per document, as data prep writes them."""
    builder = IndexedDatasetBuilder(f"{prefix}.bin", dtype=np.int32)
    for document in documents:
        builder.add_item(torch.tensor(document, dtype=torch.int32))
        builder.end_document()
    builder.finalize(f"{prefix}.idx")


def rows(count: int, seed: int) -> list[list[int]]:
    """Flat-table documents: WIDTH - 1 values then the end-of-document terminator."""
    values = np.random.default_rng(seed).integers(3, 32, size=(count, WIDTH - 1))
    return [[*map(int, row), EOD] for row in values]


@pytest.fixture
def data_dir(tmp_path):
    write_split(tmp_path / "train", rows(200, 0))
    write_split(tmp_path / "valid", rows(40, 1))
    return tmp_path


def samples(data_dir, reset_attention: bool, seq_length: int = 16, count: int = 8) -> list[dict]:
    train, _ = build_datasets(
        data_dir, TOKENIZER, seq_length, seed=3, train_samples=count, valid_samples=2, reset_attention=reset_attention
    )
    return [train[i] for i in range(count)]


def test_packed_by_default(data_dir):
    for sample in samples(data_dir, reset_attention=False):
        assert sample.get("attention_mask") is None
        assert torch.equal(torch.as_tensor(sample["position_ids"]), torch.arange(16))
        assert torch.as_tensor(sample["loss_mask"]).min() == 1


def test_each_document_sees_itself_at_the_sampler_positions(data_dir):
    leading_masked = 0
    for sample in samples(data_dir, reset_attention=True):
        tokens, positions = sample["tokens"], sample["position_ids"]
        allowed = ~sample["attention_mask"][0]
        starts = torch.nonzero(tokens == EOD).flatten().tolist()
        assert starts, "16 tokens hold at least one end of a 5-token row"
        # the sampler's prompt: end-of-document at position 0, then the row's tokens at 1, 2, ...
        for begin, end in zip(starts, [*starts[1:], len(tokens)]):
            assert positions[begin:end].tolist() == list(range(end - begin))
            for j in range(begin, end):
                assert allowed[j].nonzero().flatten().tolist() == list(range(begin, j + 1))
        # the row cut off at the sample's start has unknown positions: it is not trained on
        assert sample["loss_mask"][: starts[0]].sum() == 0 and sample["loss_mask"][starts[0] :].min() == 1
        leading_masked += starts[0]
    assert leading_masked > 0, "some samples start inside a row"


def test_a_window_inside_a_long_document_still_trains(tmp_path):
    long_document = [*range(3, 31), *range(3, 31), EOD]
    write_split(tmp_path / "train", [long_document] * 4)
    write_split(tmp_path / "valid", [long_document])
    windows = [
        s for s in samples(tmp_path, reset_attention=True, seq_length=8, count=12) if not (s["tokens"] == EOD).any()
    ]
    assert windows
    for sample in windows:
        assert sample["loss_mask"].min() == 1
        assert torch.equal(~sample["attention_mask"][0], torch.ones(8, 8, dtype=torch.bool).tril())


def test_micro_batches_stack_the_layout(data_dir):
    train, _ = build_datasets(data_dir, TOKENIZER, 16, seed=3, train_samples=8, valid_samples=2, reset_attention=True)
    batch = next(batches(train, 4, 0, 0, 1))
    assert batch["tokens"].shape == (4, 16) and batch["position_ids"].shape == (4, 16)
    assert batch["attention_mask"].shape == (4, 1, 16, 16) and batch["attention_mask"].dtype == torch.bool
