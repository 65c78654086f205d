"""Core attention for megatron's local layer spec on torch's scaled_dot_product_attention.

megatron's own DotProductAttention takes its scratch buffers from CUDA memory; this one runs on
any device, keeps megatron's tensor layout ([seq, batch, heads, dim] in, [seq, batch, hidden] out)
and supports grouped key/value heads.
"""

from __future__ import annotations

import torch.nn.functional as F
from megatron.core.transformer.module import MegatronModule


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
        q, k, v = (t.permute(1, 2, 0, 3) for t in (query, key, value))  # -> [batch, heads, seq, dim]
        if k.shape[1] != q.shape[1]:
            repeat = q.shape[1] // k.shape[1]
            k, v = k.repeat_interleave(repeat, dim=1), v.repeat_interleave(repeat, dim=1)
        dropout = self.dropout if self.training else 0.0
        if attention_mask is None:
            out = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout, is_causal=True,
                                                 scale=self.softmax_scale)
        else:  # megatron masks are True where attention is NOT allowed
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=~attention_mask, dropout_p=dropout,
                                                 scale=self.softmax_scale)
        seq, batch = out.shape[2], out.shape[0]
        return out.permute(2, 0, 1, 3).reshape(seq, batch, -1)
