"""Megatron GPTModel (TP=1, PP=1) -> the standalone GPT's config and weights.

Megatron fuses q, k, v into one linear layer interleaved per query group:
[group0: q heads of group 0, k, v | group1: ...]; the standalone model wants [all q | all k | all v].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from nemo_tabular.errors import UserError

from .model import GPTConfig


class ExportError(UserError):
    """A model whose architecture the standalone GPT (or GPT-2) cannot represent exactly."""


def check_exportable(config, position_embedding_type: str) -> None:
    """Refuse megatron settings the GPT-2 layout does not compute the same way."""
    problems = []
    if position_embedding_type != "learned_absolute":
        problems.append(f"position_embedding_type={position_embedding_type!r} (needs 'learned_absolute')")
    if config.normalization != "LayerNorm":
        problems.append(f"normalization={config.normalization!r} (needs 'LayerNorm')")
    if config.activation_func is not F.gelu or config.gated_linear_unit or config.bias_activation_fusion:
        problems.append("MLP activation is not the exact, unfused, ungated GeLU")
    if not config.add_bias_linear:
        problems.append("add_bias_linear=False (GPT-2 linear layers have biases)")
    if config.qk_layernorm or config.apply_residual_connection_post_layernorm:
        problems.append("qk_layernorm / post-LayerNorm residuals")
    if problems:
        raise ExportError("cannot export this model to the GPT-2 layout: " + "; ".join(problems))


def split_fused_qkv(fused: torch.Tensor, n_head: int, n_groups: int, head_dim: int) -> torch.Tensor:
    """Megatron's per-group interleaved qkv (weight or bias) -> rows ordered [all q | all k | all v]."""
    per_group = n_head // n_groups
    grouped = fused.reshape(n_groups, per_group + 2, head_dim, *fused.shape[1:])
    q = grouped[:, :per_group].reshape(n_head * head_dim, *fused.shape[1:])
    k = grouped[:, per_group].reshape(n_groups * head_dim, *fused.shape[1:])
    v = grouped[:, per_group + 1].reshape(n_groups * head_dim, *fused.shape[1:])
    return torch.cat([q, k, v], dim=0)


def standalone_from_megatron(model) -> tuple[GPTConfig, dict[str, torch.Tensor]]:
    """Config and state dict of the standalone GPT computing the same logits as a TP=1/PP=1 GPTModel."""
    cfg = model.config
    check_exportable(cfg, model.position_embedding_type)
    source = {name: t for name, t in model.state_dict().items() if isinstance(t, torch.Tensor)}
    n_groups = cfg.num_query_groups or cfg.num_attention_heads
    config = GPTConfig(
        vocab_size=source["embedding.word_embeddings.weight"].shape[0],
        n_positions=source["embedding.position_embeddings.weight"].shape[0],
        n_layer=cfg.num_layers,
        n_head=cfg.num_attention_heads,
        n_kv_head=n_groups,
        head_dim=cfg.kv_channels,
        d_model=cfg.hidden_size,
        d_ff=cfg.ffn_hidden_size,
        layernorm_eps=cfg.layernorm_epsilon,
        tied_embeddings=model.share_embeddings_and_output_weights,
    )
    out = {
        "wte.weight": source["embedding.word_embeddings.weight"],
        "wpe.weight": source["embedding.position_embeddings.weight"],
        "ln_f.weight": source["decoder.final_layernorm.weight"],
        "ln_f.bias": source["decoder.final_layernorm.bias"],
    }
    if not config.tied_embeddings:
        out["lm_head.weight"] = source["output_layer.weight"]
    renames = {
        "input_layernorm": "ln_1",
        "pre_mlp_layernorm": "ln_2",
        "self_attention.linear_proj": "attn.proj",
        "mlp.linear_fc1": "mlp.fc",
        "mlp.linear_fc2": "mlp.proj",
    }
    for i in range(cfg.num_layers):
        src, dst = f"decoder.layers.{i}.", f"blocks.{i}."
        for old, new in renames.items():
            for param in ("weight", "bias"):
                out[f"{dst}{new}.{param}"] = source[f"{src}{old}.{param}"]
        for param in ("weight", "bias"):
            fused = source[f"{src}self_attention.linear_qkv.{param}"]
            out[f"{dst}attn.qkv.{param}"] = split_fused_qkv(fused, cfg.num_attention_heads, n_groups, cfg.kv_channels)
    return config, {name: t.detach().cpu().float().contiguous() for name, t in out.items()}
