"""The GPT: megatron-core GPTModel in GPT-2 layout (see gpt.py)."""

from .gpt import build_gpt, padded_vocab_size, transformer_config

__all__ = ["build_gpt", "padded_vocab_size", "transformer_config"]
