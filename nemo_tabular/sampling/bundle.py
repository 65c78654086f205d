"""The standalone bundle: model.safetensors + config.json + tabular_tokenizer.json, loadable without megatron.

config.json holds the GPT sizes and the table layout (group_by/order_by), so a bundle alone says
whether it generates flat rows or whole entities. The project's tokenizer is tabular_tokenizer.json,
not tokenizer.json: that name is Hugging Face's, whose tools read any tokenizer.json as theirs.
Version 1 bundles (written before) held it as tokenizer.json and still load.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from nemo_tabular.columns import as_list
from nemo_tabular.io import replace_directory
from nemo_tabular.tokenizer import TabularTokenizer

from .bundle_schema import BundleError, check_bundle_config, check_weight_shapes
from .model import GPT, GPTConfig

FORMAT = "nemo-tabular-gpt"
VERSION = 2
VERSIONS = (1, 2)
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
TOKENIZER_FILE = "tabular_tokenizer.json"
V1_TOKENIZER_FILE = "tokenizer.json"  # the name version 1 bundles gave it
MAX_CONFIG_BYTES = 2**20  # a config.json is a few hundred bytes of sizes and column names


@dataclass
class TableLayout:
    """How rows form documents: group_by entities ordered by order_by; neither = flat (one row per document).

    order_by without group_by is a single series (one entity).
    """

    group_by: list[str] = field(default_factory=list)
    order_by: list[str] = field(default_factory=list)

    @property
    def sequential(self) -> bool:
        return bool(self.group_by or self.order_by)

    @classmethod
    def from_json(cls, data) -> TableLayout:
        """From a mapping with group_by/order_by (a bundle's `table`, meta.json or the dataset config)."""
        data = data or {}
        return cls(as_list(data.get("group_by")), as_list(data.get("order_by")))


@dataclass
class Bundle:
    """A loaded bundle: the model in eval mode, its tokenizer and the table layout."""

    model: GPT
    tokenizer: TabularTokenizer
    layout: TableLayout


def is_bundle(path: str | os.PathLike) -> bool:
    """True when `path` is a directory holding a bundle's weights and config."""
    path = Path(path)
    return (path / WEIGHTS_FILE).is_file() and (path / CONFIG_FILE).is_file()


def save_bundle(
    path: str | os.PathLike,
    config: GPTConfig,
    state_dict: dict[str, torch.Tensor],
    tokenizer: TabularTokenizer,
    layout: TableLayout,
) -> Path:
    """Write a bundle directory atomically: built beside `path`, then swapped in (no moment without a bundle)."""
    path = Path(path)
    with replace_directory(path) as work:
        tensors = {name: t.detach().to(torch.float32).contiguous() for name, t in state_dict.items()}
        save_file(tensors, str(work / WEIGHTS_FILE), metadata={"format": FORMAT})
        meta = {
            "format": FORMAT,
            "version": VERSION,
            "model": config.to_json(),
            "table": {"group_by": layout.group_by, "order_by": layout.order_by},
        }
        (work / CONFIG_FILE).write_text(json.dumps(meta, indent=1))
        tokenizer.save(work / TOKENIZER_FILE)
    return path


def load_bundle(
    path: str | os.PathLike, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32
) -> Bundle:
    """Read a bundle written by save_bundle; a directory that is not one raises naming it.

    dtype=torch.bfloat16 samples about twice as fast on CPUs with AMX or AVX512-BF16 (see BENCHMARKS.md);
    the sampler still draws from float32 logits.
    """
    path = Path(path)
    if not is_bundle(path):
        raise FileNotFoundError(f"{path}: not a model bundle (needs {WEIGHTS_FILE} and {CONFIG_FILE})")
    config_file = path / CONFIG_FILE
    if config_file.stat().st_size > MAX_CONFIG_BYTES:
        raise BundleError(
            f"{config_file}: {config_file.stat().st_size} bytes, more than any bundle config "
            f"({MAX_CONFIG_BYTES} bytes at most)"
        )
    try:
        meta = json.loads(config_file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BundleError(f"{config_file}: not valid JSON ({err})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or meta.get("version") not in VERSIONS:
        hint = (
            "; it is a Hugging Face model directory (an HF export): load it with transformers"
            if isinstance(meta, dict) and "model_type" in meta
            else ""
        )
        raise BundleError(f"{config_file}: not a {FORMAT} config of version {' or '.join(map(str, VERSIONS))}{hint}")
    config = check_bundle_config(meta, config_file)  # every size bounded before anything is allocated
    check_weight_shapes(config, path / WEIGHTS_FILE)  # and the model exactly as large as the weights file
    model = GPT(config)
    model.load_state_dict(load_file(str(path / WEIGHTS_FILE)), strict=True)
    model.to(device=device, dtype=dtype).eval()
    tokenizer = TabularTokenizer.load(path / (TOKENIZER_FILE if meta["version"] >= 2 else V1_TOKENIZER_FILE))
    if tokenizer.vocab_size > config.vocab_size:
        raise BundleError(
            f"{config_file}: model.vocab_size is {config.vocab_size}, fewer ids than its tokenizer's "
            f"{tokenizer.vocab_size}"
        )
    return Bundle(model, tokenizer, TableLayout.from_json(meta.get("table")))
