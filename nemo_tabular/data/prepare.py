"""Data prep orchestration: fit (or load) the tokenizer, encode, order into documents, split, write the data dir."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from nemo_tabular.columns import as_list
from nemo_tabular.data.documents import DocumentKeys, DocumentLayout
from nemo_tabular.data.encoding import encode_chunks
from nemo_tabular.data.errors import DataPrepError
from nemo_tabular.data.indexed import DocumentWriter
from nemo_tabular.data.schema import ChunkCoercer, check_columns, declared_kinds, leading_first
from nemo_tabular.data.scratch import RowStore, TokenStore
from nemo_tabular.data.sources import count_rows, iter_chunks, open_source, source_columns
from nemo_tabular.data.splits import SPLITS, split_documents, split_series
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
    """Tokenize `cfg.dataset` into `cfg.paths.data_dir` (see docs/architecture.md) and return that path."""
    options = PrepOptions.from_config(cfg)
    with open_source(options.source) as path:
        columns = source_columns(path)
        check_columns(path, columns, options.group_by, options.order_by, options.overrides, options.drop,
                      options.target, options.first_columns)
        tokenizer = load_or_fit_tokenizer(path, options)
        with replace_directory(options.output) as work:
            tokenizer.save(work / TOKENIZER_FILE)
            scratch = work / ".scratch"
            scratch.mkdir()
            keys, tokens, rows = encode_source(path, options, tokenizer, work / TOKENIZER_FILE, scratch)
            layout, document_split = assign_splits(keys, options)
            counts = write_splits(work, layout, document_split, tokens.open(), rows, tokenizer, options.chunk_rows)
            shutil.rmtree(scratch)
            write_meta(work / META_FILE, options, tokenizer, counts)
    return options.output


def chunk_stream(path: Path, options: PrepOptions, description: str) -> Iterator[pd.DataFrame]:
    """The source's chunks with consistent column types, behind a progress bar over rows."""
    kinds = declared_kinds(options.overrides)
    coerce = ChunkCoercer(path, kinds, options.order_by)
    text_columns = [c for c, kind in kinds.items() if kind == "category"]
    chunks = iter_chunks(path, options.chunk_rows, options.limit_rows, text_columns, options.drop)
    with tqdm(total=count_rows(path, options.limit_rows), unit="rows", unit_scale=True, desc=description) as bar:
        for chunk in chunks:
            yield coerce(chunk[leading_first(list(chunk.columns), options.first_columns)])
            bar.update(len(chunk))


def load_or_fit_tokenizer(path: Path, options: PrepOptions) -> TabularTokenizer:
    """Load `tokenizer_path`, or fit a tokenizer in one streaming pass over the source (pass 1, writes nothing)."""
    if options.tokenizer_path:
        try:
            return TabularTokenizer.load(options.tokenizer_path)
        except TokenizerError as err:
            raise DataPrepError(f"tokenizer_path: {err}") from err
    try:
        fitter = TokenizerFitter(options.tokenizer_settings, options.overrides)
        for chunk in chunk_stream(path, options, "fit tokenizer"):
            fitter.update(chunk)
        return fitter.finish()
    except TokenizerError as err:
        raise DataPrepError(f"{path}: {err}") from err


def encode_source(
    path: Path, options: PrepOptions, tokenizer: TabularTokenizer, tokenizer_file: Path, scratch: Path
) -> tuple[DocumentKeys, TokenStore, RowStore]:
    """Pass 2: encode every chunk to scratch tokens, keep its rows for the parquet splits and its document keys."""
    keys = DocumentKeys(options.group_by, options.order_by)
    tokens = TokenStore(scratch / "tokens.int32", tokenizer.row_width)
    rows = RowStore(scratch / "rows")
    chunks = chunk_stream(path, options, "encode")
    try:
        for chunk, encoded in encode_chunks(chunks, tokenizer, tokenizer_file, options.workers):
            keys.add(chunk)
            rows.append(chunk)
            tokens.append(encoded)
    except TokenizerError as err:
        raise DataPrepError(f"{path}: {err}") from err
    return keys, tokens, rows


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
        counts[split] = {"rows": n_rows, "documents": int(len(documents)), "tokens": n_rows * tokenizer.row_width,
                         "longest_document_rows": longest}
    return counts


def write_meta(path: Path, options: PrepOptions, tokenizer: TabularTokenizer, counts: Mapping[str, dict]) -> None:
    """meta.json: what was prepared from where, and how much of it went to each split."""
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
    )
