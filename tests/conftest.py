"""Shared fixtures: the repository's own config files, so tests use the defaults users get."""

from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from nemo_tabular.config import register_resolvers

REPO = Path(__file__).resolve().parents[1]
register_resolvers()  # conf/'s ${table_name:...}, ${run_path:...}, ... for tests that compose configs themselves


def load_tokenizer_settings(**overrides) -> dict:
    """conf/tokenizer/default.yaml as a dict, with keyword overrides."""
    settings = OmegaConf.to_container(OmegaConf.load(REPO / "conf" / "tokenizer" / "default.yaml"))
    settings.update(overrides)
    return settings


@pytest.fixture
def tokenizer_settings() -> dict:
    return load_tokenizer_settings()


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models run fastest on one thread, and the test machine's cores are shared.

    Modules opt in with `pytestmark = pytest.mark.usefixtures("one_thread")`.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# A megatron GPT of a few thousand weights: the checkpoint and hardening tests save and load it.
TINY_GPT = {
    "num_layers": 1,
    "hidden_size": 16,
    "num_attention_heads": 2,
    "num_query_groups": None,
    "ffn_hidden_size": 32,
    "seq_length": 16,
    "dropout": 0.0,
    "init_method_std": 0.02,
    "vocab_multiple": 64,
}


def tiny_megatron_gpt(tokenizer):
    """TINY_GPT as a one-process megatron GPTModel for `tokenizer` (seed the model-parallel RNG first)."""
    from nemo_tabular.model import build_gpt, padded_vocab_size, transformer_config

    vocab = padded_vocab_size(tokenizer.vocab_size, TINY_GPT["vocab_multiple"], 1)
    return build_gpt(transformer_config(TINY_GPT, 1, 1, bf16=False), vocab, TINY_GPT["seq_length"])
