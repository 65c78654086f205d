"""Batched, constrained row generation: every drawn token is legal for its slot, so every row decodes.

A prompt is an optional leading end-of-document token followed by whole rows (row_width tokens
each). All sequences of a batch advance in lockstep, so they share the slot at every step.
When a sequence would outgrow the model's context, the window restarts at a row boundary and keeps
the most recent whole rows (the KV cache is rebuilt from that window).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .constraints import Allowed, SlotConstraints
from .model import GPT
from .token_choice import SamplingSettings, choose_tokens


@dataclass
class GeneratedRows:
    """tokens: (batch, n_rows, row_width), pad after a sequence's end-of-document; n_rows: rows per sequence."""

    tokens: torch.Tensor
    n_rows: torch.Tensor


def window_start(length: int, lead: int, row_width: int, n_positions: int) -> int:
    """First token of the most recent whole rows that leave room for one more row in the context."""
    if length + row_width <= n_positions:
        return 0
    rows_to_drop = -(-(length + row_width - n_positions - lead) // row_width)
    return lead + rows_to_drop * row_width


def draw(model: GPT, hidden: torch.Tensor, allowed: Allowed, settings: SamplingSettings,
         generator: torch.Generator) -> torch.Tensor:
    """Next ids from the last hidden states, among the allowed ids only."""
    logits = model.logits(hidden, allowed.lo, allowed.hi)
    return choose_tokens(logits, allowed.mask, settings, generator) + allowed.lo


@torch.no_grad()
def generate_rows(model: GPT, constraints: SlotConstraints, prompt: torch.Tensor, n_rows: int, *,
                  inner_terminators: Sequence[int], last_terminators: Sequence[int],
                  eod_id: int, pad_id: int, settings: SamplingSettings, generator: torch.Generator,
                  forced: torch.Tensor | None = None, use_cache: bool = True) -> GeneratedRows:
    """Generate up to `n_rows` rows after `prompt` (batch, length); a sequence stops at end-of-document.

    forced: (batch, 1 or n_rows, row_width - 1) ids to write instead of sampling, -1 where free.
    inner/last_terminators: ids allowed to end rows before the last / the last row.
    """
    width, n_positions = constraints.row_width, model.config.n_positions
    batch, length = prompt.shape
    lead = length % width
    if length + n_rows * width > n_positions and n_positions < 2 * width:
        raise ValueError(f"the model's context ({n_positions} tokens) must hold two rows of {width} tokens "
                         f"to slide over longer sequences")
    seq = torch.empty(batch, length + n_rows * width, dtype=torch.long, device=prompt.device)
    seq[:, :length] = prompt
    out = torch.full((batch, n_rows, width), pad_id, dtype=torch.long, device=prompt.device)
    alive = torch.ones(batch, dtype=torch.bool, device=prompt.device)
    rows_done = torch.zeros(batch, dtype=torch.long, device=prompt.device)
    inner, last = constraints.terminators(inner_terminators), constraints.terminators(last_terminators)
    cache = model.new_cache(batch) if use_cache else None
    start = window_start(length, lead, width, n_positions)
    hidden = model.features(seq[:, start:length], cache)[:, -1]
    for row in range(n_rows):
        for slot in range(width):
            if slot < width - 1:
                allowed = constraints.slots[slot]
            else:
                allowed = last if row == n_rows - 1 else inner
            wanted = None
            if forced is not None and slot < width - 1:
                wanted = forced[:, min(row, forced.shape[1] - 1), slot]
            if wanted is not None and bool((wanted >= 0).all()):
                token = wanted
            else:
                token = draw(model, hidden, allowed, settings, generator)
                if wanted is not None:
                    token = torch.where(wanted >= 0, wanted, token)
            token = torch.where(alive, token, torch.full_like(token, pad_id))
            out[:, row, slot] = token
            seq[:, length] = token
            length += 1
            if slot == width - 1:
                rows_done += alive.long()
                alive &= token != eod_id
            if (row == n_rows - 1 and slot == width - 1) or not alive.any():
                break
            if length - start > n_positions:
                start = window_start(length, lead, width, n_positions)
                if cache is not None:
                    cache.reset()
                hidden = model.features(seq[:, start:length], cache)[:, -1]
            elif cache is not None:
                hidden = model.features(seq[:, length - 1:length], cache)[:, -1]
            else:
                hidden = model.features(seq[:, start:length])[:, -1]
        if not alive.any():
            break
    return GeneratedRows(out, rows_done)
