"""Standalone sampling: a small GPT with a KV cache, constrained row generation, conditions, forecasting."""

from .bundle import Bundle, TableLayout, is_bundle, load_bundle, save_bundle
from .model import GPT, GPTConfig
from .sampler import SampleOptions, iter_samples, sample_to_file
from .token_choice import SamplingSettings

__all__ = [
    "GPT",
    "Bundle",
    "GPTConfig",
    "SampleOptions",
    "SamplingSettings",
    "TableLayout",
    "is_bundle",
    "iter_samples",
    "load_bundle",
    "sample_to_file",
    "save_bundle",
]
