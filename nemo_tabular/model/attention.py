"""Core attention for megatron's local layer spec on torch's scaled_dot_product_attention.

megatron's own DotProductAttention takes its scratch buffers from CUDA memory; this one runs on
any device, keeps megatron's tensor layout ([seq, batch, heads, dim] in, [seq, batch, hidden] out)
and supports grouped key/value heads.

A document mask whose documents are short next to the sequence (a flat table's rows) lets each
query attend only keys a few positions before it. Such masks run as local attention over blocks,
which skips most of the [s, s] scores that the mask would discard anyway.
"""

from __future__ import annotations

import weakref

import torch
import torch.nn.functional as F
from megatron.core.transformer.module import MegatronModule

# Local attention runs when the sequence holds at least this many blocks (s >= 8B: a query block's 2B
# keys are at most a quarter of it). Measured fwd+bwd on one CPU thread (fp32, 4 heads of 32, megatron's
# layout, block search included), in the time of dense SDPA under the same mask: 0.7x at s = 256 for
# diamonds' 19-token rows (B = 32; 0.75x of causal SDPA), 0.4-0.5x at s = 512, 0.25-0.45x at s = 1024,
# 0.9x at s = 128. With 4 blocks it was 0.8-0.98x: too close to count on.
LOCAL_MIN_BLOCKS = 8


def diagonal_blocks(mask: torch.Tensor, block: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Views of megatron's mask [b, 1, s, s] cut into blocks: (query block i, key block i) as [b, n, B, B]
    and (query block i, key block i - 1) as [b, n - 1, B, B], for query blocks 1 to n - 1."""
    batch, seq = mask.shape[0], mask.shape[-1]
    blocks = mask.reshape(batch, seq // block, block, seq // block, block)
    return blocks.diagonal(0, 1, 3).permute(0, 3, 1, 2), blocks.diagonal(-1, 1, 3).permute(0, 3, 1, 2)


def local_block(mask: torch.Tensor) -> int | None:
    """The block size B for local attention under megatron's `mask` [b, 1, s, s], None where it does not apply.

    Local attention is exact when every key a query may attend lies in the query's block or the one
    before: the allowed entries of those blocks are all the mask's allowed entries. Document masks of
    short documents (a flat table's rows) pass with B just above the longest document. B divides s, so
    nothing is padded; the smallest that passes is taken, if the sequence holds LOCAL_MIN_BLOCKS of it.
    """
    if mask.dim() != 4 or mask.shape[1] != 1 or mask.shape[2] != mask.shape[3]:
        return None
    seq = mask.shape[-1]
    allowed = mask.numel() - int(torch.count_nonzero(mask))  # megatron masks are True where NOT allowed
    for block in range(1, seq // LOCAL_MIN_BLOCKS + 1):
        if seq % block == 0:
            own, previous = diagonal_blocks(mask, block)
            hidden = int(torch.count_nonzero(own) + torch.count_nonzero(previous))
            if own.numel() + previous.numel() - hidden == allowed:
                return block
    return None


class PreviousAndOwn(torch.autograd.Function):
    """[n, B, ...] blocks -> [n, 2B, ...]: block i-1 (zeros for block 0) followed by block i.

    Written by hand because autograd through pad, slice and cat would fill and copy every gradient
    twice more; here forward is one copy and backward one copy and one add.
    """

    @staticmethod
    def forward(ctx, blocks: torch.Tensor) -> torch.Tensor:
        size = blocks.shape[1]
        windows = blocks.new_empty(blocks.shape[0], 2 * size, *blocks.shape[2:])
        windows[0, :size] = 0  # masked keys, but uninitialized memory may hold NaN, and NaN * 0 is NaN
        windows[1:, :size] = blocks[:-1]
        windows[:, size:] = blocks
        return windows

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        size = grad.shape[1] // 2
        blocks = grad[:, size:].clone()
        blocks[:-1] += grad[1:, :size]
        return blocks


def block_bias(mask: torch.Tensor, block: int, batch: int, heads: int, dtype: torch.dtype) -> torch.Tensor:
    """The additive mask (0 / -inf) of local attention's blocks: [n, batch*heads, B, 2B], keys of block
    i-1 then of block i; those before the sequence are masked. Additive because on CPU SDPA runs faster
    with it than with a bool mask, which it converts."""
    own, previous = diagonal_blocks(mask, block)
    blocks = own.shape[1]
    bias = torch.full((batch, blocks, block, 2 * block), float("-inf"), dtype=dtype, device=mask.device)
    bias[:, 1:, :, :block].masked_fill_(~previous, 0.0)
    bias[:, :, :, block:].masked_fill_(~own, 0.0)
    bias = bias.transpose(0, 1).unsqueeze(2).expand(blocks, batch, heads, block, 2 * block)
    return bias.reshape(blocks, batch * heads, block, 2 * block)


# The mask local_mask saw last (weakly held), what its answer depends on, and the answer.
_last_mask: tuple[weakref.ref, tuple, tuple[int, torch.Tensor] | None] | None = None


def local_mask(mask: torch.Tensor, query: torch.Tensor) -> tuple[int, torch.Tensor] | None:
    """`local_block` and `block_bias` for megatron's `mask` and a [s, b, h, d] `query`, or None: dense.

    Every layer of a forward pass gets the same mask tensor, so only the first works them out; a mask
    changed in place since (its version moved) is worked out again, and so is every inference-mode
    mask, which keeps no version.
    """
    global _last_mask
    batch, heads, dtype = query.shape[1], query.shape[2], query.dtype
    key = None if mask.is_inference() else (mask._version, batch, heads, dtype)
    if key is None or _last_mask is None or _last_mask[0]() is not mask or _last_mask[1] != key:
        block = local_block(mask)
        found = None if block is None else (block, block_bias(mask, block, batch, heads, dtype))
        _last_mask = (weakref.ref(mask), key, found)
    return _last_mask[2]


def local_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    block: int,
    bias: torch.Tensor,
    dropout: float,
    scale: float | None,
) -> torch.Tensor:
    """SDPA of [s, b, h, d] tensors in blocks of `block` tokens under their `block_bias` -> [s, b, h*d].

    A query block's keys are its own block and the one before, which hold every key its queries may
    attend (`local_block`), so each block scores 2*block keys instead of s. Blocks become SDPA's batch
    and (batch, head) its heads, views of megatron's layout. The result equals dense SDPA under the
    same mask, fully masked query rows (zeros) included.
    """
    seq, batch, heads, dim = query.shape
    blocks = seq // block
    q = query.reshape(blocks, block, batch * heads, dim).transpose(1, 2)
    k, v = (PreviousAndOwn.apply(t.reshape(blocks, block, batch * heads, dim)).transpose(1, 2) for t in (key, value))
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, dropout_p=dropout, scale=scale)
    return out.transpose(1, 2).reshape(seq, batch, heads * dim)


class SDPAttention(MegatronModule):
    """softmax(QK^T / sqrt(d)) V with a causal or given mask, heads split by tensor parallelism."""

    def __init__(
        self,
        config,
        layer_number: int,
        attn_mask_type,
        attention_type: str = "self",
        attention_dropout: float | None = None,
        softmax_scale: float | None = None,
        **_unused,
    ):
        super().__init__(config=config)
        self.dropout = config.attention_dropout if attention_dropout is None else attention_dropout
        self.softmax_scale = softmax_scale

    def forward(
        self, query, key, value, attention_mask, attn_mask_type=None, attention_bias=None, packed_seq_params=None
    ):
        if packed_seq_params is not None or attention_bias is not None:
            raise NotImplementedError("SDPAttention supports neither packed sequences nor attention bias")
        if key.shape[2] != query.shape[2]:  # grouped-query attention: each key/value head serves several
            repeat = query.shape[2] // key.shape[2]
            key, value = key.repeat_interleave(repeat, dim=2), value.repeat_interleave(repeat, dim=2)
        dropout = self.dropout if self.training else 0.0
        local = None if attention_mask is None else local_mask(attention_mask, query)
        if local is not None:
            return local_attention(query, key, value, *local, dropout, self.softmax_scale)
        q, k, v = (t.permute(1, 2, 0, 3) for t in (query, key, value))  # -> [batch, heads, seq, dim]
        if attention_mask is None:
            out = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout, is_causal=True, scale=self.softmax_scale)
        else:  # megatron masks are True where attention is NOT allowed
            out = F.scaled_dot_product_attention(
                q, k, v, attn_mask=~attention_mask, dropout_p=dropout, scale=self.softmax_scale
            )
        seq, batch = out.shape[2], out.shape[0]
        return out.permute(2, 0, 1, 3).reshape(seq, batch, -1)
