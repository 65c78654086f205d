"""Rows from Hugging Face `model.generate()`: a LogitsProcessor that keeps every token in its slot, and a decoder.

Unconstrained, a small model's `generate()` now and then puts an id where the row's slot has no such
value (6 of 16 rows failed to decode in issue 19). `SlotLogitsProcessor` allows at each step only the
ids of the slot that comes next (the tokenizer's slot ranges, then the row terminators), the rule the
project's own sampler follows, so every generated row decodes. `decode_generated` turns the
generated ids back into a DataFrame with the project's tokenizer.

    model = AutoModelForCausalLM.from_pretrained(export_dir)
    processor = SlotLogitsProcessor.from_pretrained(export_dir)
    prompt = torch.full((64, 1), model.config.bos_token_id)
    ids = model.generate(prompt, logits_processor=LogitsProcessorList([processor]), do_sample=True,
                         max_new_tokens=processor.row_width)
    rows = decode_generated(ids, processor.tokenizer)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from transformers import LogitsProcessor

from nemo_tabular.tokenizer import TabularTokenizer, TokenizerError

TABULAR_TOKENIZER_FILE = "tabular_tokenizer.json"


class SlotLogitsProcessor(LogitsProcessor):
    """Sets every score outside the next slot's id range to -inf.

    A row is `row_width - 1` slot tokens and a terminator; the next slot of a sequence is the number
    of tokens since its last terminator (eod or eor; the start counts as one). After a row only the
    terminators are allowed: `<eod>` for a flat table (one row per document), `<eor>` or `<eod>`
    where documents hold an entity's rows (`sequential=True`). Ids past the tokenizer's vocabulary
    (the model's padding for tensor parallelism) are never allowed.
    """

    def __init__(self, tokenizer: TabularTokenizer, sequential: bool = False):
        self.tokenizer = tokenizer
        self.row_width = tokenizer.row_width
        self.terminators = (tokenizer.eor_id, tokenizer.eod_id) if sequential else (tokenizer.eod_id,)
        self.allowed = allowed_table(tokenizer, self.terminators)
        self._boundaries = torch.tensor([tokenizer.eor_id, tokenizer.eod_id])

    @classmethod
    def from_pretrained(cls, export_dir: str | os.PathLike, sequential: bool = False) -> SlotLogitsProcessor:
        """The processor of an HF export directory, from the tabular_tokenizer.json saved there."""
        return cls(load_tabular_tokenizer(export_dir), sequential=sequential)

    def next_slots(self, input_ids: torch.Tensor) -> torch.Tensor:
        """(batch,) position in the row of the token each sequence generates next, 0..row_width-1."""
        length = input_ids.shape[1]
        boundary = torch.isin(input_ids, self._boundaries.to(input_ids.device))
        positions = torch.arange(length, device=input_ids.device).expand_as(input_ids)
        last = torch.where(boundary, positions, -1).max(dim=1).values
        return (length - 1 - last) % self.row_width

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        allowed = self.allowed.to(scores.device)[self.next_slots(input_ids)]  # (batch, tokenizer vocab)
        if scores.shape[-1] < allowed.shape[-1]:
            raise ValueError(
                f"the model scores {scores.shape[-1]} ids, fewer than the tokenizer's "
                f"{allowed.shape[-1]}: wrong tokenizer for this model?"
            )
        mask = torch.zeros(scores.shape, dtype=torch.bool, device=scores.device)
        mask[:, : allowed.shape[-1]] = allowed
        return scores.masked_fill(~mask, float("-inf"))


def allowed_table(tokenizer: TabularTokenizer, terminators: Sequence[int]) -> torch.Tensor:
    """(row_width, vocab_size) bool: row `p` marks the ids allowed at position `p` of a row."""
    table = torch.zeros(tokenizer.row_width, tokenizer.vocab_size, dtype=torch.bool)
    for slot, (lo, hi) in enumerate(tokenizer.slot_ranges()):
        table[slot, lo:hi] = True
    table[-1, list(terminators)] = True
    return table


def load_tabular_tokenizer(export_dir: str | os.PathLike) -> TabularTokenizer:
    """The project's tokenizer saved in an HF export directory; an export without one is named."""
    path = Path(export_dir) / TABULAR_TOKENIZER_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{export_dir}: no {TABULAR_TOKENIZER_FILE} there; exports written before it "
            f"held the tabular tokenizer as tokenizer.json: export the checkpoint again"
        )
    return TabularTokenizer.load(path)


def split_rows(ids: Sequence[int], tokenizer: TabularTokenizer) -> tuple[list[list[int]], int]:
    """The slot ids of each row in one generated sequence, and how many stretches were not rows.

    Rows end at eor or eod. A stretch of pad ids only (what generate() appends to a finished
    sequence) is no row; any other stretch of other than `row_width - 1` ids, or one with a pad
    id in it, is counted as not a row.
    """
    rows, bad, current = [], 0, []
    for token in [int(token) for token in ids] + [tokenizer.eod_id]:
        if token not in (tokenizer.eod_id, tokenizer.eor_id):
            current.append(token)
            continue
        if any(t != tokenizer.pad_id for t in current):
            if len(current) == tokenizer.row_width - 1 and tokenizer.pad_id not in current:
                rows.append(current)
            else:
                bad += 1
        current = []
    return rows, bad


def decode_generated(
    ids: torch.Tensor | np.ndarray,
    tokenizer: TabularTokenizer,
    prompt_length: int = 0,
    errors: str = "raise",
    sequence_column: str | None = None,
) -> pd.DataFrame:
    """Generated id sequences (batch, length), prompt included, -> a DataFrame of their rows in order.

    errors="raise" names the first stretch that is not a valid row (a row cut short by max_new_tokens,
    or an id outside its slot's range: possible only without SlotLogitsProcessor); "skip" leaves such
    stretches out. sequence_column, when given, names a first column saying which sequence each row
    came from (an entity, where documents hold many rows).
    """
    if errors not in ("raise", "skip"):
        raise ValueError(f"errors={errors!r}: expected 'raise' or 'skip'")
    ids = ids.cpu().numpy() if isinstance(ids, torch.Tensor) else np.asarray(ids)
    rows, owners = [], []
    for index, sequence in enumerate(ids[:, prompt_length:]):
        found, bad = split_rows(sequence.tolist(), tokenizer)
        if bad and errors == "raise":
            raise TokenizerError(
                f"sequence {index}: {bad} stretch(es) of tokens are not whole rows of "
                f"{tokenizer.row_width - 1} slot ids (cut short by max_new_tokens?)"
            )
        rows += found
        owners += [index] * len(found)
    tokens = np.array(rows, dtype=np.int64).reshape(len(rows), tokenizer.row_width - 1)
    inside = in_slot_ranges(tokens, tokenizer)
    if errors == "skip":
        tokens, owners = tokens[inside], np.asarray(owners, dtype=np.int64)[inside]
    elif not inside.all():
        first = int(np.argmin(inside))
        raise TokenizerError(
            f"sequence {owners[first]}: a row holds ids outside their slots' ranges ({tokens[first].tolist()})"
        )
    frame = tokenizer.decode(tokens)
    if sequence_column is not None:
        frame.insert(0, sequence_column, np.asarray(owners, dtype=np.int64))
    return frame


def in_slot_ranges(tokens: np.ndarray, tokenizer: TabularTokenizer) -> np.ndarray:
    """(n_rows,) bool: True where every id of the row lies in its slot's range."""
    ranges = np.array(tokenizer.slot_ranges(), dtype=np.int64).reshape(-1, 2)
    return ((tokens >= ranges[:, 0]) & (tokens < ranges[:, 1])).all(axis=1)
