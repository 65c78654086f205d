"""Batched, constrained row generation: every drawn token is legal for its slot, so every row decodes.

A prompt is an optional leading end-of-document token followed by whole rows (row_width tokens
each). All sequences of a batch advance in lockstep, so they share the slot at every step.
When a sequence would outgrow the model's context, the window restarts at a row boundary and keeps
the most recent whole rows, about half a context of them, so that the next slide is many rows away
(the KV cache is rebuilt from the window at every slide).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from nemo_tabular.errors import ConfigError

from .constraints import Allowed, SlotConstraints
from .model import GPT, KVCache
from .token_choice import SamplingSettings, choose_tokens


@dataclass
class GeneratedRows:
    """tokens: (batch, n_rows, row_width), pad after a sequence's end-of-document; n_rows: rows per sequence.

    cache: the KV cache used (None without one), to pass to the next call of the same batch size.
    left_out: (batch, n_rows) rows that still copied a training row after every draw (None without a check):
    they stay in the sequence as history but are not to be written.
    """

    tokens: torch.Tensor
    n_rows: torch.Tensor
    cache: KVCache | None = None
    left_out: torch.Tensor | None = None


def window_start(length: int, lead: int, row_width: int, n_positions: int, room_rows: int = 1) -> int:
    """First token of the most recent whole rows that leave room for `room_rows` more rows in the context."""
    room = room_rows * row_width
    if length + room <= n_positions:
        return 0
    rows_to_drop = -(-(length + room - n_positions - lead) // row_width)
    return lead + rows_to_drop * row_width


def copied_rows(
    is_copy: Callable[[torch.Tensor], torch.Tensor], rows: torch.Tensor, alive: torch.Tensor
) -> torch.Tensor:
    """A bool per sequence: alive and its row (row_width - 1 ids, no terminator) copies a training row."""
    copied = torch.zeros_like(alive)
    live = alive.nonzero().squeeze(1)
    if len(live):
        copied[live] = torch.as_tensor(is_copy(rows[live]), dtype=torch.bool, device=alive.device)
    return copied


def draw(
    model: GPT, hidden: torch.Tensor, allowed: Allowed, settings: SamplingSettings, generator: torch.Generator
) -> torch.Tensor:
    """Next ids from the last hidden states, among the allowed ids only (logits in float32 for any model dtype)."""
    logits = model.logits(hidden.float(), allowed.lo, allowed.hi)
    return choose_tokens(logits, allowed.mask, settings, generator) + allowed.lo


class Feeder:
    """Runs the model over the tokens written since the last draw and returns the newest hidden states.

    Tokens that need no draw (forced, or the only allowed id) are only written; they are fed
    together with the next token that needs one, or never, at the end of a row (a flat table's
    end-of-document is always the same id). With the cache, only the new tokens run through the
    model; without it, the whole window does every time.
    """

    def __init__(
        self,
        model: GPT,
        seq: torch.Tensor,
        start: int,
        length: int,
        capacity: int,
        use_cache: bool,
        reuse: KVCache | None = None,
    ):
        self.model, self.seq, self.start, self.fed = model, seq, start, start
        self.cache = None
        if use_cache:
            weight = model.wte.weight
            fits = (
                reuse is not None
                and reuse.keys.shape[1] == seq.shape[0]
                and reuse.capacity >= capacity
                and reuse.keys.dtype == weight.dtype
                and reuse.keys.device == weight.device
            )
            self.cache = reuse if fits else model.new_cache(seq.shape[0], capacity)
            self.cache.reset()
        self.shared_prompt(length)

    def shared_prompt(self, length: int) -> None:
        """Feed the prompt; when every sequence has the same one (flat sampling, forecasting), run it once."""
        prompt = self.seq[:, self.start : length]
        batch = prompt.shape[0]
        if batch > 1 and bool((prompt == prompt[:1]).all()):
            one = self.model.new_cache(1, length - self.start) if self.cache is not None else None
            self.hidden = self.model.features(prompt[:1], one)[:, -1].expand(batch, -1)
            if self.cache is not None:
                self.cache.fill_from(one)
            self.fed = length
        else:
            self.hidden = self.latest(length)

    def slide(self, start: int) -> None:
        """The window now begins at `start`: the cached tokens are dropped and fed again from there."""
        self.start = self.fed = start
        if self.cache is not None:
            self.cache.reset()

    def rewind(self, length: int, start: int) -> None:
        """Forget the tokens from `length` on (a row drawn again) with the window back at `start`.

        With the cache and an unmoved window, the cache is cut before token length - 1, which is fed
        again for the hidden state the row starts from; otherwise the window is fed anew.
        """
        if self.cache is not None and start == self.start and self.fed >= length > start:
            self.cache.length = length - 1 - start
            self.fed = length - 1
        else:
            self.slide(start)

    def latest(self, length: int) -> torch.Tensor:
        """Hidden states (batch, d_model) after the first `length` tokens of every sequence."""
        if self.fed < length:
            if self.cache is not None and length - self.fed == 1:
                self.hidden = self.model.step(self.seq[:, self.fed], self.cache)
            elif self.cache is not None:
                self.hidden = self.model.features(self.seq[:, self.fed : length], self.cache)[:, -1]
            else:
                self.hidden = self.model.features(self.seq[:, self.start : length])[:, -1]
            self.fed = length
        return self.hidden


@torch.inference_mode()
def generate_rows(
    model: GPT,
    constraints: SlotConstraints,
    prompt: torch.Tensor,
    n_rows: int,
    *,
    inner_terminators: Sequence[int],
    last_terminators: Sequence[int],
    eod_id: int,
    pad_id: int,
    settings: SamplingSettings,
    generator: torch.Generator,
    forced: torch.Tensor | None = None,
    constant_slots: Sequence[int] = (),
    is_copy: Callable[[torch.Tensor], torch.Tensor] | None = None,
    max_draws: int = 10,
    use_cache: bool = True,
    cache: KVCache | None = None,
) -> GeneratedRows:
    """Generate up to `n_rows` rows after `prompt` (batch, length); a sequence stops at end-of-document.

    forced: (batch, 1 or n_rows, row_width - 1) ids to write instead of sampling, -1 where free.
    constant_slots: slots that every row after the first copies from the first (an entity's own key).
    is_copy: a bool per row of (k, row_width - 1) ids, True where it copies a training row. Such a row
    is drawn again in place, with the same history, up to `max_draws` draws in all; one that stays a
    copy is kept as history and marked in `left_out`.
    inner/last_terminators: ids allowed to end rows before the last / the last row.
    cache: the `cache` of an earlier result, reused when it fits (fresh memory costs page faults).
    """
    width, n_positions = constraints.row_width, model.config.n_positions
    batch, length = prompt.shape
    lead = length % width
    total = length + n_rows * width
    if total > n_positions and n_positions < 2 * width:
        raise ConfigError(
            f"the model's context ({n_positions} tokens) must hold two rows of {width} tokens "
            f"to slide over longer sequences"
        )
    device = prompt.device
    seq = torch.empty(batch, total, dtype=torch.long, device=device)
    seq[:, :length] = prompt
    out = torch.full((batch, n_rows, width), pad_id, dtype=torch.long, device=device)
    alive = torch.ones(batch, dtype=torch.bool, device=device)
    all_alive = True
    rows_done = torch.zeros(batch, dtype=torch.long, device=device)
    pad = torch.full((batch,), pad_id, dtype=torch.long, device=device)
    inner, last = constraints.terminators(inner_terminators), constraints.terminators(last_terminators)
    fully_forced = (forced >= 0).all(dim=0).tolist() if forced is not None else None  # [row][slot]
    constant = set(constant_slots)
    left_out = torch.zeros(batch, n_rows, dtype=torch.bool, device=device) if is_copy is not None else None
    redo, draws = None, 0  # while a copied row is drawn again: the other sequences' tokens, -1 where drawn
    start = window_start(length, lead, width, n_positions)
    # a slide feeds the whole window again: leave room for half a context of rows before the next one
    slide_room = max(1, (n_positions - lead) // width // 2)
    feeder = Feeder(model, seq, start, length, min(n_positions, total - start), use_cache, cache)
    row = 0
    while row < n_rows:
        row_length, row_start = length, start
        for slot in range(width):
            wanted, whole = None, False
            if slot < width - 1:
                allowed = constraints.slots[slot]
                if forced is not None:
                    at = min(row, forced.shape[1] - 1)
                    wanted, whole = forced[:, at, slot], fully_forced[at][slot]
            else:
                allowed = last if row == n_rows - 1 else inner
            if row > 0 and slot in constant:
                token = out[:, 0, slot]
            elif whole:
                token = wanted
            else:
                if allowed.single is not None:
                    token = torch.full((batch,), allowed.single, dtype=torch.long, device=device)
                else:
                    token = draw(model, feeder.latest(length), allowed, settings, generator)
                if wanted is not None:
                    token = torch.where(wanted >= 0, wanted, token)
            if redo is not None:
                token = torch.where(redo[:, slot] >= 0, redo[:, slot], token)
            if not all_alive:
                token = torch.where(alive, token, pad)
            out[:, row, slot] = token
            seq[:, length] = token
            length += 1
            if slot == width - 1:
                if is_copy is not None:
                    copied = copied_rows(is_copy, out[:, row, :-1], alive)
                    draws += 1
                    if bool(copied.any()) and draws < max_draws:
                        redo = torch.where(copied[:, None], -1, out[:, row])
                        length, start = row_length, row_start
                        feeder.rewind(length, start)
                        break  # draw this row again
                    left_out[:, row] = copied
                    redo, draws = None, 0
                rows_done += alive.long()
                alive &= token != eod_id
                all_alive = bool(alive.all())
                if not all_alive and not bool(alive.any()):
                    return GeneratedRows(out, rows_done, feeder.cache, left_out)
            if length - start > n_positions:
                start = window_start(length, lead, width, n_positions, slide_room)
                feeder.slide(start)
        else:
            row += 1
    return GeneratedRows(out, rows_done, feeder.cache, left_out)
