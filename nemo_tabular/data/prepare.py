"""Data prep orchestration: order rows into documents, split, fit (or load) the tokenizer on the training
split, encode, write the data dir."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from omegaconf import DictConfig, OmegaConf
from tqdm.auto import tqdm  # a notebook gets its widget bar

from nemo_tabular.columns import as_list
from nemo_tabular.data.documents import DocumentKeys, DocumentLayout
from nemo_tabular.data.encoding import encode_chunks
from nemo_tabular.data.errors import DataPrepError
from nemo_tabular.data.indexed import DocumentWriter
from nemo_tabular.data.schema import ChunkCoercer, check_columns, declared_kinds, leading_first
from nemo_tabular.data.scratch import RowStore, TokenStore
from nemo_tabular.data.sources import check_source, count_rows, iter_chunks, open_source, source_columns
from nemo_tabular.data.splits import SPLITS, TRAIN, row_splits, split_documents, split_series
from nemo_tabular.io import replace_directory
from nemo_tabular.run_dir import META_FILE, TOKENIZER_FILE, PreparedData
from nemo_tabular.tokenizer import TabularTokenizer, TokenizerError, TokenizerFitter


@dataclass(frozen=True)
class PrepOptions:
    """Everything prep reads from the Hydra config, read in this one place."""

    name: str
    source: str
    group_by: list[str]
    order_by: list[str]
    overrides: dict[str, dict]
    drop: list[str]
    first_columns: list[str]
    target: str | None
    tokenizer_settings: DictConfig
    tokenizer_path: str | None
    valid: float
    test: float
    seed: int
    chunk_rows: int
    workers: int
    limit_rows: int | None
    output: Path

    @classmethod
    def from_config(cls, cfg: DictConfig) -> PrepOptions:
        """Read the composed `prepare` config (dataset, tokenizer, paths and the prep keys)."""
        dataset = cfg.dataset
        return cls(
            name=dataset.name,
            source=dataset.source,
            group_by=as_list(dataset.group_by),
            order_by=as_list(dataset.order_by),
            overrides=OmegaConf.to_container(dataset.columns, resolve=True) if dataset.columns else {},
            drop=as_list(dataset.drop),
            first_columns=as_list(dataset.get("first_columns")),  # absent in dataset configs written before it
            target=dataset.target,
            tokenizer_settings=cfg.tokenizer,
            tokenizer_path=cfg.tokenizer_path,
            valid=float(cfg.split.valid),
            test=float(cfg.split.test),
            seed=int(cfg.seed),
            chunk_rows=int(cfg.chunk_rows),
            workers=int(cfg.workers),
            limit_rows=cfg.limit_rows,
            output=Path(cfg.paths.data_dir),
        )

    @property
    def is_single_series(self) -> bool:
        """An ordered table without groups is one entity, split by time rather than by document."""
        return bool(self.order_by) and not self.group_by


def prepare_dataset(cfg: DictConfig) -> Path:
    """Tokenize `cfg.dataset` into `cfg.paths.data_dir` (see docs/architecture.md) and return that path.

    The split comes first and the tokenizer is fitted on the training split alone, so no value,
    category or range that only valid/test hold reaches tokenizer.json or the model. Passes over the
    source, each streamed in `chunk_rows` chunks: the document keys (only group_by/order_by are read),
    the fit (training rows), the encoding (all rows; held-out values outside the training range are
    clipped, unseen categories take the rare token, and meta.json counts both).
    """
    options = PrepOptions.from_config(cfg)
    with open_source(options.source) as path:
        columns = source_columns(path)
        check_columns(
            path,
            columns,
            options.group_by,
            options.order_by,
            options.overrides,
            options.drop,
            options.target,
            options.first_columns,
        )
        check_source(path, options.drop)
        layout, document_split = assign_splits(scan_documents(path, options, columns), options)
        row_split = row_splits(layout, document_split)
        tokenizer = load_or_fit_tokenizer(path, options, row_split)
        with replace_directory(options.output) as work:
            tokenizer.save(work / TOKENIZER_FILE)
            scratch = work / ".scratch"
            scratch.mkdir()
            tokens, rows, outside = encode_source(path, options, tokenizer, work / TOKENIZER_FILE, scratch, row_split)
            counts = write_splits(work, layout, document_split, tokens.open(), rows, tokenizer, options.chunk_rows)
            shutil.rmtree(scratch)
            write_meta(work / META_FILE, options, tokenizer, counts, outside)
    return options.output


def chunk_stream(
    path: Path, options: PrepOptions, description: str, columns: list[str] | None = None
) -> Iterator[pd.DataFrame]:
    """The source's chunks with consistent column types, behind a progress bar over rows.

    `columns` reads only those columns (the key pass); otherwise every kept column, in token order.
    """
    kinds = declared_kinds(options.overrides)
    coerce = ChunkCoercer(path, kinds, options.order_by, options.group_by)
    text_columns = [c for c, kind in kinds.items() if kind == "category"]
    chunks = iter_chunks(path, options.chunk_rows, options.limit_rows, text_columns, options.drop, columns)
    with tqdm(total=count_rows(path, options.limit_rows), unit="rows", unit_scale=True, desc=description) as bar:
        for chunk in chunks:
            if columns is None:
                chunk = chunk[leading_first(list(chunk.columns), options.first_columns)]
            yield coerce(chunk)
            bar.update(len(chunk))


def scan_documents(path: Path, options: PrepOptions, columns: list[str]) -> DocumentKeys:
    """Pass 1: every row's document keys (group_by, order_by values), reading only those columns.

    A flat table needs only its row count: Parquet metadata has it, a CSV's first kept column is read.
    """
    keys = DocumentKeys(options.group_by, options.order_by)
    wanted = options.group_by + options.order_by
    if not wanted:
        known = count_rows(path, options.limit_rows)
        if known is not None:
            keys.rows = known
            return keys
        wanted = [next(c for c in columns if c not in options.drop)]
    with closing(chunk_stream(path, options, "read keys", columns=wanted)) as chunks:
        for chunk in chunks:
            keys.add(chunk)
    return keys


def load_or_fit_tokenizer(path: Path, options: PrepOptions, row_split: np.ndarray) -> TabularTokenizer:
    """Load `tokenizer_path`, or fit a tokenizer on the training rows in one streaming pass (writes nothing).

    Held-out rows are only observed, to reserve the missing and rare tokens their encoding needs.
    """
    if options.tokenizer_path:
        try:
            return TabularTokenizer.load(options.tokenizer_path)
        except TokenizerError as err:
            raise DataPrepError(f"tokenizer_path: {err}") from err
    if not (row_split == TRAIN).any():
        raise DataPrepError(
            f"{path}: the training split is empty ({len(row_split)} rows; split.valid="
            f"{options.valid}, split.test={options.test}); lower them or give more rows"
        )
    try:
        fitter = TokenizerFitter(options.tokenizer_settings, options.overrides, order_by=options.order_by)
        with closing(chunk_stream(path, options, "fit tokenizer")) as chunks:
            for chunk in chunks:
                train = row_split[chunk.index.to_numpy()] == TRAIN
                if train.any():
                    fitter.update(chunk[train])
                if not train.all():
                    fitter.observe_held_out(chunk[~train])
        return fitter.finish()
    except TokenizerError as err:
        raise DataPrepError(f"{path}: {err}") from err


def encode_source(
    path: Path,
    options: PrepOptions,
    tokenizer: TabularTokenizer,
    tokenizer_file: Path,
    scratch: Path,
    row_split: np.ndarray,
) -> tuple[TokenStore, RowStore, dict[str, dict[str, int]]]:
    """Last pass: encode every chunk to scratch tokens and keep its rows for the parquet splits.

    Returns, per held-out split, how many values per column lie outside the tokenizer's ranges or
    categories (their tokens are clipped or rare; their .parquet rows keep the values as they are).
    """
    tokens = TokenStore(scratch / "tokens.int32", tokenizer.row_width)
    rows = RowStore(scratch / "rows")
    outside = {split: Counter() for split in SPLITS if split != SPLITS[TRAIN]}
    # closed on any exit, so its progress bar ends before an error is printed (an abandoned generator closes
    # only when collected, and the bar's last line then came after the CLI's error line)
    with closing(chunk_stream(path, options, "encode")) as chunks:
        try:
            for chunk, encoded in encode_chunks(chunks, tokenizer, tokenizer_file, options.workers, row_split):
                rows.append(chunk)
                tokens.append(encoded)
                chunk_split = row_split[chunk.index.to_numpy()]
                for split in outside:
                    held_out = chunk_split == SPLITS.index(split)
                    if held_out.any():
                        outside[split].update(tokenizer.outside_counts(chunk[held_out]))
        except TokenizerError as err:
            raise DataPrepError(f"{path}: {err}") from err
    return tokens, rows, {split: {c: n for c, n in counts.items() if n} for split, counts in outside.items()}


def assign_splits(keys: DocumentKeys, options: PrepOptions) -> tuple[DocumentLayout, np.ndarray]:
    """Order rows into documents and give each document its split."""
    layout = keys.layout()
    if options.is_single_series:
        return split_series(layout, options.valid, options.test)
    return layout, split_documents(layout.n_documents, options.valid, options.test, options.seed)


def document_batches(
    layout: DocumentLayout, documents: np.ndarray, max_rows: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(file rows, rows per document) for runs of whole documents of about `max_rows` rows each."""
    lengths = layout.lengths()[documents]
    ends = np.cumsum(lengths)
    batch_of = (ends - 1) // max(max_rows, 1)
    cuts = np.flatnonzero(np.diff(batch_of)) + 1
    for batch in np.split(np.arange(len(documents)), cuts):
        if len(batch) == 0:
            continue
        starts = layout.bounds[documents[batch]]
        batch_lengths = lengths[batch]
        offsets = np.repeat(starts - (np.cumsum(batch_lengths) - batch_lengths), batch_lengths)
        yield layout.row_order[offsets + np.arange(offsets.size)], batch_lengths


def write_splits(
    work: Path,
    layout: DocumentLayout,
    document_split: np.ndarray,
    tokens: np.ndarray,
    rows: RowStore,
    tokenizer: TabularTokenizer,
    batch_rows: int,
) -> dict[str, dict[str, int]]:
    """Write <split>.bin/.idx (documents in order, last row ending in eod) and <split>.parquet; return counts."""
    schema = rows.schema()
    counts = {}
    for split_id, split in enumerate(SPLITS):
        documents = np.flatnonzero(document_split == split_id)
        indexed = DocumentWriter(work / split)
        with pq.ParquetWriter(work / f"{split}.parquet", schema) as table_writer:
            n_rows = 0
            for file_rows, lengths in document_batches(layout, documents, batch_rows):
                block = tokens[file_rows]  # fancy indexing copies, so the scratch tokens stay untouched
                block[np.cumsum(lengths) - 1, -1] = tokenizer.eod_id
                indexed.add_documents(block, lengths * tokenizer.row_width)
                table_writer.write_table(rows.take(file_rows, schema))
                n_rows += len(file_rows)
        indexed.finalize()
        longest = int(layout.lengths()[documents].max()) if len(documents) else 0  # caps generated entities
        counts[split] = {
            "rows": n_rows,
            "documents": int(len(documents)),
            "tokens": n_rows * tokenizer.row_width,
            "longest_document_rows": longest,
        }
    return counts


def write_meta(
    path: Path,
    options: PrepOptions,
    tokenizer: TabularTokenizer,
    counts: Mapping[str, dict],
    outside: Mapping[str, dict[str, int]],
) -> None:
    """meta.json: what was prepared from where, how much of it went to each split, and what the tokenizer
    was fitted on (the training split, or a given file) with the held-out values outside it per column."""
    meta = {
        "dataset": options.name,
        "source": options.source,
        "columns": [column.name for column in tokenizer.columns],
        "group_by": options.group_by,
        "order_by": options.order_by,
        "target": options.target,
        "split_by": "time" if options.is_single_series else "document",
        "fractions": {"valid": options.valid, "test": options.test},
        "seed": options.seed,
        "limit_rows": options.limit_rows,
        "tokens_per_row": tokenizer.row_width,
        "vocab_size": tokenizer.vocab_size,
        "eor_id": tokenizer.eor_id,
        "eod_id": tokenizer.eod_id,
        "splits": dict(counts),
        "tokenizer_fitted_on": options.tokenizer_path or "train",
        "held_out_outside_tokenizer": dict(outside),  # per split and column: clipped, or <rare>, in the tokens
    }
    path.write_text(json.dumps(meta, indent=2) + "\n")


def summary(output: Path, seconds: float) -> str:
    """A few lines on what a finished prep produced, read from its meta.json."""
    meta = PreparedData(output).meta
    splits = meta["splits"]
    rows = sum(s["rows"] for s in splits.values())
    documents = sum(s["documents"] for s in splits.values())
    per_split = " / ".join(f"{name} {s['rows']:,} rows, {s['documents']:,} docs" for name, s in splits.items())
    return (
        f"prepared {meta['dataset']}: {rows:,} rows in {documents:,} documents ({per_split})\n"
        f"tokens per row {meta['tokens_per_row']}, vocab size {meta['vocab_size']}, "
        f"{seconds:.1f} s ({rows / max(seconds, 1e-9):,.0f} rows/s) -> {output}"
        + outside_summary(meta.get("held_out_outside_tokenizer") or {})
    )


def outside_summary(outside: Mapping[str, Mapping[str, int]]) -> str:
    """A line naming the held-out values the training-split tokenizer does not cover, or nothing."""
    parts = [
        f"{split} " + ", ".join(f"{column} {n:,}" for column, n in columns.items())
        for split, columns in outside.items()
        if columns
    ]
    if not parts:
        return ""
    return (
        "\nheld-out values outside the training split's ranges/categories (clipped or <rare> in the tokens, "
        "as they are in the .parquet): " + "; ".join(parts)
    )
