"""A small standalone GPT (GPT-2 layout, optional grouped KV heads) with a KV cache, for sampling without megatron."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class GPTConfig:
    """Sizes of a GPT-2 style decoder: learned positions, pre-LayerNorm blocks, exact GeLU, biases."""

    vocab_size: int
    n_positions: int
    n_layer: int
    n_head: int
    n_kv_head: int
    head_dim: int
    d_model: int
    d_ff: int
    layernorm_eps: float = 1e-5
    tied_embeddings: bool = True

    def to_json(self) -> dict:
        return asdict(self)


class KVCache:
    """Keys and values of every layer for a batch, preallocated for `capacity` tokens (default: the whole context).

    A sampler that knows how long its sequences get asks for no more: attention reads the cache
    at every step, and a compact one stays in the CPU's caches.
    """

    def __init__(
        self, config: GPTConfig, batch_size: int, device=None, dtype=torch.float32, capacity: int | None = None
    ):
        self.capacity = config.n_positions if capacity is None else min(capacity, config.n_positions)
        shape = (config.n_layer, batch_size, config.n_kv_head, self.capacity, config.head_dim)
        self.keys = torch.empty(shape, device=device, dtype=dtype)
        self.values = torch.empty(shape, device=device, dtype=dtype)
        self.length = 0

    def reset(self) -> None:
        self.length = 0

    def fill_from(self, other: KVCache) -> None:
        """Take `other`'s tokens (a batch of 1 is broadcast to every sequence): a prompt shared by the batch."""
        n = other.length
        if n > self.capacity:
            raise ValueError(f"{n} cached tokens do not fit a cache of {self.capacity}")
        self.keys[:, :, :, :n] = other.keys[:, :, :, :n]
        self.values[:, :, :, :n] = other.values[:, :, :, :n]
        self.length = n


class SelfAttention(nn.Module):
    """Causal self-attention; q, k, v come from one linear layer in [q heads, k heads, v heads] order."""

    def __init__(self, config: GPTConfig, layer: int):
        super().__init__()
        self.layer = layer
        self.n_head, self.n_kv_head, self.head_dim = config.n_head, config.n_kv_head, config.head_dim
        self.qkv = nn.Linear(config.d_model, (config.n_head + 2 * config.n_kv_head) * config.head_dim)
        self.proj = nn.Linear(config.n_head * config.head_dim, config.d_model)

    def forward(self, x: torch.Tensor, cache: KVCache | None) -> torch.Tensor:
        batch, steps, _ = x.shape
        sizes = [self.n_head * self.head_dim, self.n_kv_head * self.head_dim, self.n_kv_head * self.head_dim]
        q, k, v = self.qkv(x).split(sizes, dim=-1)
        q = q.view(batch, steps, self.n_head, self.head_dim).transpose(1, 2)
        k = k.view(batch, steps, self.n_kv_head, self.head_dim).transpose(1, 2)
        v = v.view(batch, steps, self.n_kv_head, self.head_dim).transpose(1, 2)
        past = 0
        if cache is not None:
            past = cache.length
            cache.keys[self.layer, :, :, past : past + steps] = k
            cache.values[self.layer, :, :, past : past + steps] = v
            k = cache.keys[self.layer, :, :, : past + steps]
            v = cache.values[self.layer, :, :, : past + steps]
        if self.n_kv_head != self.n_head:
            k = k.repeat_interleave(self.n_head // self.n_kv_head, dim=1)
            v = v.repeat_interleave(self.n_head // self.n_kv_head, dim=1)
        if steps == 1:
            y = F.scaled_dot_product_attention(q, k, v)
        elif past == 0:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            mask = torch.ones(steps, past + steps, dtype=torch.bool, device=x.device).tril(past)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.proj(y.transpose(1, 2).reshape(batch, steps, -1))


class MLP(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.fc = nn.Linear(config.d_model, config.d_ff)
        self.proj = nn.Linear(config.d_ff, config.d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(F.gelu(self.fc(x)))


class Block(nn.Module):
    def __init__(self, config: GPTConfig, layer: int):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.d_model, eps=config.layernorm_eps)
        self.attn = SelfAttention(config, layer)
        self.ln_2 = nn.LayerNorm(config.d_model, eps=config.layernorm_eps)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor, cache: KVCache | None) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), cache)
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    """Token ids -> next-token logits; with a KV cache, only the new tokens need to be passed."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        if config.n_head % config.n_kv_head:
            raise ValueError(f"n_head={config.n_head} is not a multiple of n_kv_head={config.n_kv_head}")
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.d_model)
        self.wpe = nn.Embedding(config.n_positions, config.d_model)
        self.blocks = nn.ModuleList(Block(config, i) for i in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.d_model, eps=config.layernorm_eps)
        self.lm_head = None if config.tied_embeddings else nn.Linear(config.d_model, config.vocab_size, bias=False)

    def new_cache(self, batch_size: int, capacity: int | None = None) -> KVCache:
        """An empty KV cache for `batch_size` sequences of up to `capacity` tokens (None: the context)."""
        weight = self.wte.weight
        return KVCache(self.config, batch_size, device=weight.device, dtype=weight.dtype, capacity=capacity)

    def features(self, ids: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        """Final hidden states (batch, steps, d_model) for `ids` placed after the cache's tokens."""
        return self.features_of(self.wte(ids), cache)

    def features_of(self, inputs: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        """features() from input vectors (batch, steps, d_model) instead of token ids; positions are added here.

        A caller that embeds a position as something other than one token (a column's digits) uses this.
        """
        past = cache.length if cache is not None else 0
        steps = inputs.shape[1]
        if past + steps > self.config.n_positions:
            raise ValueError(f"sequence of {past + steps} tokens exceeds the context of {self.config.n_positions}")
        if cache is not None and past + steps > cache.capacity:
            raise ValueError(f"sequence of {past + steps} tokens exceeds the KV cache's {cache.capacity}")
        positions = torch.arange(past, past + steps, device=inputs.device)
        x = inputs + self.wpe(positions)
        for block in self.blocks:
            x = block(x, cache)
        if cache is not None:
            cache.length = past + steps
        return self.ln_f(x)

    def step(self, ids: torch.Tensor, cache: KVCache) -> torch.Tensor:
        """Final hidden states (batch, d_model) after one new token per sequence (ids: (batch,)), added to `cache`.

        The same computation as features() for one step, on (batch, d_model) tensors with the residual
        sums done in place: a sampler calls it once per token, so fewer and smaller ops add up.
        """
        return self.step_of(self.wte(ids), cache)

    def step_of(self, inputs: torch.Tensor, cache: KVCache) -> torch.Tensor:
        """step() from one input vector per sequence (batch, d_model), which it overwrites (the residual stream)."""
        past = cache.length
        if past + 1 > cache.capacity:
            raise ValueError(f"sequence of {past + 1} tokens exceeds the KV cache's {cache.capacity}")
        batch = inputs.shape[0]
        x = inputs.add_(self.wpe.weight[past])
        for block in self.blocks:
            attn = block.attn
            heads, kv_heads, dim = attn.n_head, attn.n_kv_head, attn.head_dim
            qkv = attn.qkv(block.ln_1(x))
            q = qkv[:, : heads * dim].view(batch, heads, 1, dim)
            keys, values = cache.keys[attn.layer], cache.values[attn.layer]
            keys[:, :, past] = qkv[:, heads * dim : (heads + kv_heads) * dim].view(batch, kv_heads, dim)
            values[:, :, past] = qkv[:, (heads + kv_heads) * dim :].view(batch, kv_heads, dim)
            k, v = keys[:, :, : past + 1], values[:, :, : past + 1]
            if kv_heads != heads:
                k = k.repeat_interleave(heads // kv_heads, dim=1)
                v = v.repeat_interleave(heads // kv_heads, dim=1)
            y = F.scaled_dot_product_attention(q, k, v).view(batch, heads * dim)
            x.addmm_(y, attn.proj.weight.t()).add_(attn.proj.bias)
            mlp = block.mlp
            x.addmm_(F.gelu(mlp.fc(block.ln_2(x))), mlp.proj.weight.t()).add_(mlp.proj.bias)
        cache.length = past + 1
        return self.ln_f(x)

    def logits(self, hidden: torch.Tensor, lo: int = 0, hi: int | None = None) -> torch.Tensor:
        """Logits of ids lo..hi-1 only: constrained sampling never needs the rest of the vocabulary.

        In the dtype of `hidden`: a bfloat16 model's sampler passes float32 hidden states.
        """
        weight = self.wte.weight if self.lm_head is None else self.lm_head.weight
        return hidden @ weight[lo:hi].to(hidden.dtype).T

    def forward(self, ids: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        """Logits (batch, steps, vocab) for `ids` placed after the cache's tokens (or at position 0)."""
        return self.logits(self.features(ids, cache))
