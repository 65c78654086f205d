"""Validate a bundle's config.json before a model is built from it.

A bundle is what users share (safetensors + JSON, no pickles), so its config is input: `GPT(config)`
allocates every weight the config implies before the weights file is read, and a crafted
`d_model=10**6` would ask for terabytes. `check_bundle_config` bounds every size field and checks the
layout fields; `check_weight_shapes` then compares the shape of every tensor the config implies with
the weights file's header (nothing is built or loaded), so the real model that follows is exactly as
large as the file on disk. Errors are BundleError, one line naming the file and the field.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from pathlib import Path

from nemo_tabular import json_checks as checks
from nemo_tabular.errors import UserError

from .model import GPTConfig

# Far above any model this project trains (conf/model/20b.yaml: 44 layers, width 6144, FFN 24576, context 2048).
BOUNDS = {
    "vocab_size": (1, 2**23),  # tokenizer.schema.MAX_VOCAB (2**22) padded to a multiple
    "n_positions": (2, 2**20),
    "n_layer": (1, 1024),
    "n_head": (1, 1024),
    "n_kv_head": (1, 1024),
    "head_dim": (1, 4096),
    "d_model": (1, 2**16),
    "d_ff": (1, 2**18),
}


class BundleError(UserError):
    """A bundle whose config.json or weights do not describe one sound model; names the file and field."""


def check_bundle_config(meta: Mapping, path: str | os.PathLike) -> GPTConfig:
    """The GPTConfig of config.json `meta` at `path`, after checking every field; BundleError otherwise."""
    where = f"{path}: model"
    model = meta.get("model")
    if not isinstance(model, Mapping):
        raise BundleError(f"{path}: model must be an object of the GPT's sizes, got {checks.short(model)}")
    known = {field.name for field in dataclasses.fields(GPTConfig)}
    if unknown := sorted(set(model) - known):
        raise BundleError(f"{where}: unknown field {unknown[0]!r}; expected only {', '.join(sorted(known))}")
    sizes = {key: checks.integer(model, key, low, high, where, BundleError) for key, (low, high) in BOUNDS.items()}
    if sizes["n_kv_head"] > sizes["n_head"] or sizes["n_head"] % sizes["n_kv_head"]:
        raise BundleError(f"{where}: n_head ({sizes['n_head']}) must be a multiple of n_kv_head ({sizes['n_kv_head']})")
    eps = checks.number(model, "layernorm_eps", 1e-12, 0.1, where, BundleError, default=1e-5)
    tied = model.get("tied_embeddings", True)
    if not isinstance(tied, bool):
        raise BundleError(f"{where}: tied_embeddings must be true or false, got {checks.short(tied)}")
    table = meta.get("table")
    if table is not None:
        if not isinstance(table, Mapping):
            raise BundleError(f"{path}: table must be an object with group_by and order_by, got {checks.short(table)}")
        for key in ("group_by", "order_by"):
            checks.names(table, key, f"{path}: table", BundleError)
    return GPTConfig(**sizes, layernorm_eps=float(eps), tied_embeddings=tied)


def expected_shapes(config: GPTConfig) -> dict[str, tuple[int, ...]]:
    """The shape of every tensor in GPT(config).state_dict(), by name, computed without building the model
    (even on the meta device its first build costs seconds of torch start-up); tests/test_artefact_schemas.py
    checks it against the model itself."""
    d, qkv, attention = (
        config.d_model,
        (config.n_head + 2 * config.n_kv_head) * config.head_dim,
        config.n_head * config.head_dim,
    )
    shapes: dict[str, tuple[int, ...]] = {"wte.weight": (config.vocab_size, d), "wpe.weight": (config.n_positions, d)}
    for layer in range(config.n_layer):
        block = f"blocks.{layer}"
        shapes.update(
            {
                f"{block}.ln_1.weight": (d,),
                f"{block}.ln_1.bias": (d,),
                f"{block}.attn.qkv.weight": (qkv, d),
                f"{block}.attn.qkv.bias": (qkv,),
                f"{block}.attn.proj.weight": (d, attention),
                f"{block}.attn.proj.bias": (d,),
                f"{block}.ln_2.weight": (d,),
                f"{block}.ln_2.bias": (d,),
                f"{block}.mlp.fc.weight": (config.d_ff, d),
                f"{block}.mlp.fc.bias": (config.d_ff,),
                f"{block}.mlp.proj.weight": (d, config.d_ff),
                f"{block}.mlp.proj.bias": (d,),
            }
        )
    shapes.update({"ln_f.weight": (d,), "ln_f.bias": (d,)})
    if not config.tied_embeddings:
        shapes["lm_head.weight"] = (config.vocab_size, d)
    return shapes


def parameter_count(config: GPTConfig) -> int:
    """How many numbers the config's GPT holds."""
    return sum(math.prod(shape) for shape in expected_shapes(config).values())


def check_weight_shapes(config: GPTConfig, weights: str | os.PathLike) -> None:
    """Every tensor the config's GPT has must be in the safetensors file `weights` with the same shape, and
    no other: then the model built next is exactly as large as the file. Only the file's header is read."""
    from safetensors import safe_open

    weights = Path(weights)
    try:
        with safe_open(str(weights), framework="pt") as file:
            found = {name: tuple(file.get_slice(name).get_shape()) for name in file.keys()}
    except Exception as err:  # noqa: BLE001 - safetensors raises its own error types for a damaged header
        raise BundleError(f"{weights}: not a readable safetensors file ({err})") from None
    expected = expected_shapes(config)
    in_file, in_config = (sum(math.prod(shape) for shape in shapes.values()) for shapes in (found, expected))
    if in_file != in_config:
        raise BundleError(f"{weights}: holds {in_file:,} weights, but config.json's model has {in_config:,}")
    for name, shape in expected.items():
        if name not in found:
            raise BundleError(f"{weights}: no tensor {name!r}, which the config's model has")
        if found[name] != shape:
            raise BundleError(
                f"{weights}: tensor {name!r} has shape {list(found[name])}, but config.json's model gives {list(shape)}"
            )
    if extra := sorted(set(found) - set(expected)):
        raise BundleError(f"{weights}: tensor {extra[0]!r} is not part of the config's model")
