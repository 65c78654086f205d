"""Open a model to sample from (or export): an exported bundle directory, or a megatron dist checkpoint.

A checkpoint of any TP/PP layout is loaded into one TP=1/PP=1 GPTModel by the training package's
loader (megatron resharding merges the shards), then mapped to the standalone GPT (megatron_weights.py).
Sampling, embedding and export all open models here; export builds on sampling, never the reverse.
"""

from __future__ import annotations

import os
from pathlib import Path

from nemo_tabular.hardware import sampling_dtype
from nemo_tabular.tokenizer import TabularTokenizer
from nemo_tabular.training.checkpoint_layout import TOKENIZER_FILE  # no megatron import

from .bundle import Bundle, TableLayout, is_bundle, load_bundle
from .megatron_weights import ExportError, standalone_from_megatron
from .model import GPT


def load_megatron_model(checkpoint_dir: str | os.PathLike, trust: bool = False):
    """The checkpoint as a single-process (TP=1, PP=1) megatron GPTModel, via the training package.

    trust=True (`trust_checkpoint=true`) opens a foreign checkpoint that the pickle allow-list refuses.
    """
    try:
        from nemo_tabular.training.checkpoint import load_gpt_for_inference
    except ImportError as err:
        raise ExportError(
            f"{checkpoint_dir}: reading a megatron checkpoint needs "
            f"nemo_tabular.training.checkpoint.load_gpt_for_inference ({err})"
        ) from None
    return load_gpt_for_inference(checkpoint_dir, trust)


def bundle_from_checkpoint(checkpoint_dir: str | os.PathLike, layout: TableLayout, trust: bool = False) -> Bundle:
    """A megatron checkpoint as an in-memory bundle (standalone GPT + the tokenizer saved beside it)."""
    checkpoint_dir = Path(checkpoint_dir)
    if not (checkpoint_dir / TOKENIZER_FILE).is_file():
        raise ExportError(f"{checkpoint_dir}: no {TOKENIZER_FILE} there; is this a training checkpoint directory?")
    config, weights = standalone_from_megatron(load_megatron_model(checkpoint_dir, trust))
    model = GPT(config)
    model.load_state_dict(weights, strict=True)
    return Bundle(model.eval(), TabularTokenizer.load(checkpoint_dir / TOKENIZER_FILE), layout)


def open_model(
    path: str | os.PathLike, layout: TableLayout, device: str = "cpu", precision: str = "fp32", trust: bool = False
) -> Bundle:
    """A bundle directory as saved (its own layout wins), else a checkpoint directory with `layout`.

    trust=True (`trust_checkpoint=true`) lets a checkpoint's pickles hold more than torch's checkpoint
    classes (a foreign checkpoint); a bundle is safetensors and JSON and needs no trust.

    precision=bf16 runs the weights in bfloat16: about 2x faster on CPUs with AMX or AVX512-BF16, rows
    differ from fp32's only as two nearby models' would (BENCHMARKS.md, Sampling); auto picks bf16 only where
    the device computes it natively.
    """
    dtype = sampling_dtype(precision, device)
    if is_bundle(path):
        return load_bundle(path, device=device, dtype=dtype)
    if not Path(path).is_dir():
        raise FileNotFoundError(f"{path}: no such model directory (a checkpoint or an exported bundle)")
    bundle = bundle_from_checkpoint(path, layout, trust)
    bundle.model.to(device=device, dtype=dtype)
    return bundle


def run_layout(model_path: str | os.PathLike, paths) -> TableLayout | None:
    """The layout open_model needs for `model_path`: None for a bundle (it carries its own), else the prepared
    run's (paths.data_dir's meta.json), since a checkpoint stores weights and tokenizer but not how rows group.
    `paths` is the config's paths node, read only for a checkpoint, so a bundle needs no run."""
    from nemo_tabular.run_dir import PreparedData

    return None if is_bundle(model_path) else TableLayout.from_json(PreparedData(paths.data_dir).meta)
