"""Sample a synthetic table: flat rows or whole entities (documents), optionally conditioned, streamed to a file."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm  # a notebook gets its widget bar

from nemo_tabular.errors import ConfigError, UserError
from nemo_tabular.io import TableWriter

from .bundle import Bundle
from .conditions import forced_tokens, is_table, read_conditions
from .constraints import SlotConstraints
from .copies import TrainingRows
from .engine import generate_rows
from .token_choice import SamplingSettings

ENTITY_COLUMN = "entity"
MAX_BATCHES_OF_COPIES = 20  # consecutive batches with nothing but training copies before giving up


@dataclass
class SampleOptions:
    """What to generate; n_rows is ignored when conditions come as a table (one row/entity per condition row).

    reject_copies: a row equal to one of these training rows is dropped and drawn again; in a sequential
    table in place, with the same history (not applied with a table of conditions, whose rows each owe one
    output).
    """

    n_rows: int = 1000
    batch_size: int = 256
    seed: int = 0
    settings: SamplingSettings = field(default_factory=SamplingSettings)
    conditions: Mapping | str | os.PathLike | pd.DataFrame | None = None
    max_rows_per_entity: int | None = None  # sequential: cap on an entity's rows; None = what the context holds
    n_entities: int | None = None
    use_cache: bool = True
    reject_copies: TrainingRows | None = None

    def __post_init__(self):
        if self.n_rows < 1 or self.batch_size < 1:
            raise ConfigError(f"n_rows and batch_size must be >= 1, got {self.n_rows} and {self.batch_size}")


def stable_dtypes(frame: pd.DataFrame, bundle: Bundle) -> pd.DataFrame:
    """Nullable int columns as pandas Int64, so every chunk of a file has the same schema."""
    for spec in bundle.tokenizer.columns:
        if spec.kind == "int" and spec.nullable:
            frame[spec.name] = frame[spec.name].astype("Int64")
    return frame


def entity_column(bundle: Bundle) -> str:
    """The group_by name when the tokenizer does not generate it, else ENTITY_COLUMN."""
    group_by = bundle.layout.group_by
    if len(group_by) == 1 and group_by[0] not in bundle.tokenizer.column_names:
        return group_by[0]
    return ENTITY_COLUMN


def entity_key_slots(bundle: Bundle) -> list[int]:
    """Row slots of the group_by columns the tokenizer generates: one entity keeps one key in all its rows."""
    tok = bundle.tokenizer
    every_slot = range(tok.row_width - 1)
    return [
        slot
        for name in bundle.layout.group_by
        if name in tok.column_names
        for slot in every_slot[tok.column_slots(name)]
    ]


def filters_copies(conditions) -> bool:
    """Whether dropping copies of training rows applies: always, unless a table of conditions owes one output each."""
    return not is_table(conditions)


def iter_samples(bundle: Bundle, options: SampleOptions) -> Iterator[pd.DataFrame]:
    """Decoded batches of rows (flat) or of whole entities (sequential), until the target is reached."""
    tok, model = bundle.tokenizer, bundle.model
    device = model.wte.weight.device
    constraints = SlotConstraints(tok, model.config.vocab_size, device)
    generator = torch.Generator(device).manual_seed(options.seed)
    forced_all, per_row_conditions = None, False
    if options.conditions is not None:
        table = read_conditions(options.conditions)
        per_row_conditions = is_table(options.conditions)
        forced_all = torch.as_tensor(forced_tokens(tok, table), device=device)
    sequential = bundle.layout.sequential
    rows_per_doc, key_slots = 1, []
    if sequential:
        rows_per_doc = options.max_rows_per_entity or (model.config.n_positions - 1) // tok.row_width
        key_slots = entity_key_slots(bundle)
    target_docs = len(forced_all) if per_row_conditions else (options.n_entities if sequential else None)
    reject = options.reject_copies if filters_copies(options.conditions) else None

    def written_copies(frame: pd.DataFrame) -> np.ndarray:
        # compare what is written: a digit past the fitted range decodes clipped, like the training value
        return reject.check(tok.encode(frame)[:, :-1])

    is_copy = None
    if reject is not None and sequential:

        def is_copy(ids: torch.Tensor) -> np.ndarray:
            return written_copies(tok.decode(ids.cpu().numpy()))

    made_rows = made_docs = batches_of_copies = 0
    cache = None
    while True:
        if target_docs is not None:
            batch = min(options.batch_size, target_docs - made_docs)
        elif reject is not None and not sequential:  # full batches: most of a memorized table's draws are copies
            batch = options.batch_size
        else:  # entities as long as the longest allowed: enough of them for the rows still wanted
            batch = min(options.batch_size, -(-(options.n_rows - made_rows) // rows_per_doc))
        if batch <= 0 or (target_docs is None and made_rows >= options.n_rows):
            return
        forced = None
        if forced_all is not None:
            rows = forced_all[made_docs : made_docs + batch] if per_row_conditions else forced_all.expand(batch, -1)
            forced = rows[:, None, :]
        prompt = torch.full((batch, 1), tok.eod_id, dtype=torch.long, device=device)
        terminators = (tok.eor_id, tok.eod_id) if sequential else (tok.eod_id,)
        result = generate_rows(
            model,
            constraints,
            prompt,
            rows_per_doc,
            inner_terminators=terminators,
            last_terminators=(tok.eod_id,),
            eod_id=tok.eod_id,
            pad_id=tok.pad_id,
            settings=options.settings,
            generator=generator,
            forced=forced,
            constant_slots=key_slots,
            is_copy=is_copy,
            use_cache=options.use_cache,
            cache=cache,
        )
        cache = result.cache
        keep = np.arange(rows_per_doc)[None, :] < result.n_rows.cpu().numpy()[:, None]
        if result.left_out is not None:  # rows that stayed copies: history for their entity, never written
            left_out = result.left_out.cpu().numpy() & keep
            reject.left_out += int(left_out.sum())
            keep &= ~left_out
        counts = keep.sum(axis=1)
        counts = counts[counts > 0] if sequential else counts
        frame = stable_dtypes(tok.decode(result.tokens.cpu().numpy()[keep][:, :-1]), bundle)
        if reject is not None:
            if not sequential:
                copies = written_copies(frame)
                wanted = np.flatnonzero(~copies)[: options.n_rows - made_rows]
                frame, counts = frame.iloc[wanted].reset_index(drop=True), counts[wanted]
            batches_of_copies = batches_of_copies + 1 if frame.empty else 0
            if batches_of_copies == MAX_BATCHES_OF_COPIES:
                raise UserError(
                    f"{MAX_BATCHES_OF_COPIES} batches in a row held only copies of training rows; "
                    "the conditions fix too much or the model memorized the table "
                    "(reject_copies_of=null keeps copies)"
                )
        if sequential:
            frame.insert(0, entity_column(bundle), np.repeat(np.arange(made_docs, made_docs + len(counts)), counts))
        made_docs += len(counts)
        made_rows += len(frame)
        yield frame


def expected_rows(options: SampleOptions, sequential: bool) -> int | None:
    """Rows a progress bar can expect: n_rows, or unknown where a table of conditions (one output per row)
    or a number of entities sets the target."""
    if is_table(options.conditions) or (sequential and options.n_entities is not None):
        return None
    return options.n_rows


def write_frames(
    frames: Iterator[pd.DataFrame], writer: TableWriter, chunk_rows: int, on_rows: Callable[[int], None]
) -> None:
    """Write `frames` in chunks of about chunk_rows rows, calling on_rows(n) as each frame arrives."""
    pending: list[pd.DataFrame] = []
    pending_rows = 0
    for frame in frames:
        pending.append(frame)
        pending_rows += len(frame)
        on_rows(len(frame))
        if pending_rows >= chunk_rows:
            writer.write(pd.concat(pending, ignore_index=True))
            pending, pending_rows = [], 0
    if pending:
        writer.write(pd.concat(pending, ignore_index=True))


def sample_to_file(
    bundle: Bundle,
    out: str | os.PathLike,
    options: SampleOptions,
    chunk_rows: int = 65536,
    progress: bool = True,
    workers: int = 1,
) -> int:
    """Stream samples to `out` (.csv or .parquet) in chunks of about chunk_rows rows; returns rows written.

    workers > 1 runs that many processes, each sampling a share of the rows with its own seed (parallel.py):
    as many rows as with one, but not the same ones.
    """
    if workers != 1:
        from .parallel import sample_in_parallel  # parallel.py builds on this module

        return sample_in_parallel(bundle, out, options, workers, chunk_rows, progress)
    total = expected_rows(options, bundle.layout.sequential)
    with TableWriter(out) as writer, tqdm(total=total, unit="row", disable=not progress) as bar:
        write_frames(iter_samples(bundle, options), writer, chunk_rows, bar.update)
        return writer.rows
