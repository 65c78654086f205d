"""Standalone GPT weights -> a Hugging Face GPT2LMHeadModel directory (save_pretrained) that HF tools load.

GPT-2's Conv1D layers store weights as [in, out], the transpose of torch.nn.Linear's [out, in];
grouped key/value heads are repeated so every query head has its own (GPT-2 has no GQA).
Beside the weights: an HF tokenizer (tokenizer.json etc., which AutoTokenizer loads), the project's
tokenizer as tabular_tokenizer.json (to decode rows; SlotLogitsProcessor reads it) and a model card.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import torch
from transformers import GPT2Config, GPT2LMHeadModel

from nemo_tabular.io import write_text
from nemo_tabular.sampling.bundle import TableLayout
from nemo_tabular.sampling.megatron_weights import ExportError
from nemo_tabular.sampling.model import GPTConfig
from nemo_tabular.tokenizer import TabularTokenizer
from nemo_tabular.tokenizer.hf import save_hf_tokenizer

from .hf_generation import TABULAR_TOKENIZER_FILE
from .model_card import model_card

MODEL_CARD_FILE = "README.md"


def gpt2_config(config: GPTConfig, tokenizer: TabularTokenizer) -> GPT2Config:
    """The GPT2Config with the same sizes; dropout off, exact GeLU, eod as BOS/EOS and pad as pad."""
    if config.n_head * config.head_dim != config.d_model:
        raise ExportError(
            f"GPT-2 needs n_head * head_dim == d_model, got {config.n_head} * {config.head_dim} != {config.d_model}"
        )
    return GPT2Config(
        vocab_size=config.vocab_size,
        n_positions=config.n_positions,
        n_embd=config.d_model,
        n_layer=config.n_layer,
        n_head=config.n_head,
        n_inner=config.d_ff,
        activation_function="gelu",
        layer_norm_epsilon=config.layernorm_eps,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        tie_word_embeddings=config.tied_embeddings,
        bos_token_id=tokenizer.eod_id,
        eos_token_id=tokenizer.eod_id,
        pad_token_id=tokenizer.pad_id,
    )


def expand_kv_heads(qkv: torch.Tensor, config: GPTConfig) -> torch.Tensor:
    """[q | k groups | v groups] rows -> [q | k | v] with one k and v per query head."""
    hd, nh, ng = config.head_dim, config.n_head, config.n_kv_head
    q, k, v = qkv.split([nh * hd, ng * hd, ng * hd], dim=0)
    repeat = nh // ng
    k = k.reshape(ng, hd, *k.shape[1:]).repeat_interleave(repeat, dim=0).reshape(nh * hd, *k.shape[1:])
    v = v.reshape(ng, hd, *v.shape[1:]).repeat_interleave(repeat, dim=0).reshape(nh * hd, *v.shape[1:])
    return torch.cat([q, k, v], dim=0)


def gpt2_state_dict(config: GPTConfig, weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Standalone GPT state dict -> GPT2LMHeadModel state dict (Conv1D weights transposed)."""
    out = {
        "transformer.wte.weight": weights["wte.weight"],
        "transformer.wpe.weight": weights["wpe.weight"],
        "transformer.ln_f.weight": weights["ln_f.weight"],
        "transformer.ln_f.bias": weights["ln_f.bias"],
        "lm_head.weight": weights.get("lm_head.weight", weights["wte.weight"]),
    }
    linears = {"attn.qkv": "attn.c_attn", "attn.proj": "attn.c_proj", "mlp.fc": "mlp.c_fc", "mlp.proj": "mlp.c_proj"}
    for i in range(config.n_layer):
        src, dst = f"blocks.{i}.", f"transformer.h.{i}."
        for norm in ("ln_1", "ln_2"):
            out[f"{dst}{norm}.weight"] = weights[f"{src}{norm}.weight"]
            out[f"{dst}{norm}.bias"] = weights[f"{src}{norm}.bias"]
        for old, new in linears.items():
            weight, bias = weights[f"{src}{old}.weight"], weights[f"{src}{old}.bias"]
            if old == "attn.qkv":
                weight, bias = expand_kv_heads(weight, config), expand_kv_heads(bias, config)
            out[f"{dst}{new}.weight"] = weight.T.contiguous()
            out[f"{dst}{new}.bias"] = bias
    return out


def save_hf(
    path: str | os.PathLike,
    config: GPTConfig,
    weights: dict[str, torch.Tensor],
    tokenizer: TabularTokenizer,
    layout: TableLayout | None = None,
    provenance: Mapping[str, object] | None = None,
) -> Path:
    """Write a GPT2LMHeadModel directory with its HF tokenizer, tabular_tokenizer.json and README.md.

    layout (flat by default) and provenance (e.g. model_card.checkpoint_provenance) only shape the card.
    """
    path = Path(path)
    model = GPT2LMHeadModel(gpt2_config(config, tokenizer))
    missing, unexpected = model.load_state_dict(gpt2_state_dict(config, weights), strict=False)
    missing = [name for name in missing if not name.endswith(".attn.bias")]
    if missing or unexpected:
        raise ExportError(f"GPT-2 weight mapping mismatch: missing {missing}, unexpected {unexpected}")
    model.save_pretrained(path)
    save_hf_tokenizer(tokenizer, path, model_max_length=config.n_positions)
    tokenizer.save(path / TABULAR_TOKENIZER_FILE)
    write_text(path / MODEL_CARD_FILE, model_card(tokenizer, config, layout, provenance))
    return path
