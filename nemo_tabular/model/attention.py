"""Core attention for megatron's local layer spec on torch's scaled_dot_product_attention.

megatron's own DotProductAttention takes its scratch buffers from CUDA memory; this one runs on
any device, keeps megatron's tensor layout ([seq, batch, heads, dim] in, [seq, batch, hidden] out)
and supports grouped key/value heads.

A document mask whose documents are short next to the sequence (a flat table's rows) lets each
query attend only keys a few positions before it. Such masks run as local attention over blocks,
which skips most of the [s, s] scores that the mask would discard anyway.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from megatron.core.transformer.module import MegatronModule

# Local attention runs when the sequence holds at least this many blocks (s >= 8B, so a query block's
# 2B keys are at most a quarter of it). Measured fwd+bwd on one CPU thread (fp32, 4 heads of 32): 0.3 to
# 0.75x the time of dense SDPA for s = 256 to 1024 (diamonds' rows, 19 tokens, B = 32 at s = 256: 0.7x,
# also against causal SDPA), about even at s = 128; by 2B = 0.4 s the extra copies eat the savings.
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


def local_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, mask: torch.Tensor,
                    block: int, dropout: float, scale: float | None) -> torch.Tensor:
    """SDPA of [s, b, h, d] tensors under a mask [b, 1, s, s] that `local_block` gave `block` for -> [s, b, h*d].

    Queries are cut into blocks of `block` tokens; a block's keys are its own block and the one before,
    which hold every key its queries may attend, so each block scores 2*block keys instead of s. Blocks
    become SDPA's batch and (batch, head) its heads, views of megatron's layout; the mask's matching
    [block, 2*block] windows become an additive mask (0 / -inf: on CPU faster than a bool one, which
    SDPA converts). Keys before the sequence are masked, so the result equals dense SDPA under the
    same mask, fully masked query rows (zeros) included.
    """
    seq, batch, heads, dim = query.shape
    blocks = seq // block
    q = query.reshape(blocks, block, batch * heads, dim).transpose(1, 2)
    k, v = (PreviousAndOwn.apply(t.reshape(blocks, block, batch * heads, dim)).transpose(1, 2)
            for t in (key, value))
    own, previous = diagonal_blocks(mask, block)
    bias = query.new_full((batch, blocks, block, 2 * block), float("-inf"))  # [b, blocks, queries, keys]
    bias[:, 1:, :, :block].masked_fill_(~previous, 0.0)
    bias[:, :, :, block:].masked_fill_(~own, 0.0)
    bias = bias.transpose(0, 1).unsqueeze(2).expand(blocks, batch, heads, block, 2 * block)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.reshape(blocks, batch * heads, block, 2 * block),
                                         dropout_p=dropout, scale=scale)
    return out.transpose(1, 2).reshape(seq, batch, heads * dim)


class SDPAttention(MegatronModule):
    """softmax(QK^T / sqrt(d)) V with a causal or given mask, heads split by tensor parallelism."""

    def __init__(self, config, layer_number: int, attn_mask_type, attention_type: str = "self",
                 attention_dropout: float | None = None, softmax_scale: float | None = None, **_unused):
        super().__init__(config=config)
        self.dropout = config.attention_dropout if attention_dropout is None else attention_dropout
        self.softmax_scale = softmax_scale

    def forward(self, query, key, value, attention_mask, attn_mask_type=None, attention_bias=None,
                packed_seq_params=None):
        if packed_seq_params is not None or attention_bias is not None:
            raise NotImplementedError("SDPAttention supports neither packed sequences nor attention bias")
        if key.shape[2] != query.shape[2]:  # grouped-query attention: each key/value head serves several
            repeat = query.shape[2] // key.shape[2]
            key, value = key.repeat_interleave(repeat, dim=2), value.repeat_interleave(repeat, dim=2)
        dropout = self.dropout if self.training else 0.0
        block = None if attention_mask is None else local_block(attention_mask)
        if block is not None:
            return local_attention(query, key, value, attention_mask, block, dropout, self.softmax_scale)
        q, k, v = (t.permute(1, 2, 0, 3) for t in (query, key, value))  # -> [batch, heads, seq, dim]
        if attention_mask is None:
            out = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout, is_causal=True,
                                                 scale=self.softmax_scale)
        else:  # megatron masks are True where attention is NOT allowed
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=~attention_mask, dropout_p=dropout,
                                                 scale=self.softmax_scale)
        seq, batch = out.shape[2], out.shape[0]
        return out.permute(2, 0, 1, 3).reshape(seq, batch, -1)
