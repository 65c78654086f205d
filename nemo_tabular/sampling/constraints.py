"""Which token ids may come next: the current slot's id range, or the allowed row terminators.

Every choice is a contiguous id range (lo, hi), optionally with a mask inside it, so the sampler
computes logits for that range only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import torch

from nemo_tabular.errors import UserError
from nemo_tabular.tokenizer import TabularTokenizer


@dataclass
class Allowed:
    """Ids lo..hi-1, restricted to `mask` (length hi - lo) when it is given."""

    lo: int
    hi: int
    mask: torch.Tensor | None = None

    @cached_property
    def single(self) -> int | None:
        """The one allowed id when there is only one (nothing to draw), else None."""
        if self.mask is None:
            return self.lo if self.hi - self.lo == 1 else None
        ids = self.mask.nonzero().flatten().tolist()
        return self.lo + ids[0] if len(ids) == 1 else None


class SlotConstraints:
    """The allowed ids of every row slot, from the tokenizer's slot ranges, checked against the model."""

    def __init__(self, tokenizer: TabularTokenizer, vocab_size: int, device=None):
        if vocab_size < tokenizer.vocab_size:
            raise UserError(
                f"model vocabulary ({vocab_size}) is smaller than the tokenizer's "
                f"({tokenizer.vocab_size}): wrong tokenizer for this model?"
            )
        self.row_width = tokenizer.row_width
        self.device = device
        self.slots = [Allowed(lo, hi) for lo, hi in tokenizer.slot_ranges()]

    def terminators(self, ids: Sequence[int]) -> Allowed:
        """Only the given terminator ids (eor and/or eod)."""
        lo, hi = min(ids), max(ids) + 1
        mask = torch.zeros(hi - lo, dtype=torch.bool, device=self.device)
        mask[[i - lo for i in ids]] = True
        return Allowed(lo, hi, None if mask.all() else mask)
