"""A prepared data directory: the files data prep writes there, and the one reader of its meta.json."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nemo_tabular import json_checks as checks
from nemo_tabular.errors import UserError

META_FILE = "meta.json"
TOKENIZER_FILE = "tokenizer.json"
SPLITS = ("train", "valid", "test")
PREPARE_COMMAND = "nemo-tabular prepare"


@dataclass(frozen=True)
class PreparedData:
    """`data_dir` as written by nemo_tabular.data.prepare: meta.json, tokenizer.json and each split's files."""

    data_dir: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_dir", Path(self.data_dir))  # a str from a config is welcome too

    @property
    def meta_path(self) -> Path:
        return self.data_dir / META_FILE

    @property
    def tokenizer_path(self) -> Path:
        return self.data_dir / TOKENIZER_FILE

    def split_path(self, split: str, suffix: str = ".parquet") -> Path:
        """A split's file: its rows as a table (.parquet) or its token documents (.bin, .idx)."""
        if split not in SPLITS:
            raise ValueError(f"split {split!r}: expected one of {', '.join(SPLITS)}")
        return self.data_dir / f"{split}{suffix}"

    def is_prepared(self) -> bool:
        """True once prep has finished here (meta.json is written last)."""
        return self.meta_path.is_file()

    @functools.cached_property
    def meta(self) -> dict[str, Any]:
        """meta.json's content, read once; a missing or broken file raises naming it and what to do."""
        return read_meta(self.meta_path)

    def split_count(self, split: str, key: str, instead: str | None = None) -> int:
        """One count of a split (rows, documents, tokens, longest_document_rows); `instead` names a setting
        that makes the count unnecessary, for the error message."""
        alternative = f" or {instead}" if instead else ""
        try:
            meta = self.meta
        except FileNotFoundError as err:
            raise FileNotFoundError(f"{err}{alternative}") from None
        counts = meta.get("splits", {}).get(split, {})
        if key not in counts:
            raise UserError(
                f"{self.meta_path}: no {key!r} (prepared by an older version); prepare the dataset again{alternative}"
            )
        self._check_rows_on_disk(split, counts)
        return int(counts[key])

    def _check_rows_on_disk(self, split: str, counts: Mapping[str, Any]) -> None:
        """The split's row count must be what its .parquet holds (read from the file's footer), so a count
        that sizes sampling or training is the data's, not only the file's claim. Checked where counts are
        used, not when meta.json is read: configs compose without pyarrow."""
        table = self.split_path(split)
        if "rows" not in counts or not table.is_file():
            return
        import pyarrow.parquet as pq

        try:
            on_disk = pq.ParquetFile(table).metadata.num_rows
        except Exception as err:  # noqa: BLE001 - pyarrow raises several types for a damaged file
            raise UserError(f"{table}: unreadable ({err}); run {PREPARE_COMMAND} again") from None
        if on_disk != counts["rows"]:
            raise MetaError(
                f"{self.meta_path}: splits.{split}.rows is {counts['rows']}, but {table} holds {on_disk} rows"
            )


def read_meta(path: Path) -> dict[str, Any]:
    """Parse a meta.json file; errors name the file and say to run prep (again)."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not found; run {PREPARE_COMMAND} first")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise UserError(f"{path}: not valid JSON ({err}); run {PREPARE_COMMAND} again") from None
    if not isinstance(meta, dict):
        raise UserError(f"{path}: expected a JSON object; run {PREPARE_COMMAND} again")
    check_meta(meta, path)
    return meta


# Bounds no prepared table reaches, so a count in a crafted or damaged meta.json cannot size an allocation
# (sampling's default n_rows and max_rows_per_entity, training's steps come from these counts).
MAX_ROWS = 2**46  # 70 trillion rows
MAX_TOKENS_PER_ROW = 2**20
MAX_VOCAB = 2**22  # tokenizer.schema.MAX_VOCAB (not imported: that module needs pandas)
MAX_SEED = 2**63 - 1
SPLIT_BY = ("document", "time")
COUNTS = ("rows", "documents", "tokens", "longest_document_rows")


class MetaError(UserError):
    """A meta.json field of the wrong type, out of bounds or at odds with another; says to prepare again."""

    def __init__(self, message: str):
        super().__init__(f"{message}; run {PREPARE_COMMAND} again")


def check_meta(meta: Mapping[str, Any], path: Path) -> None:
    """Raise UserError naming `path` and the field unless every field meta.json has is of its type and bounds.

    Fields are optional (older versions wrote fewer; tests write a few by hand), but each one present is
    checked, and the counts must agree with each other as prep writes them.
    """
    where = str(path)
    if "dataset" in meta:
        checks.text(meta, "dataset", where, MetaError, max_chars=255)
    for key in ("source", "target", "tokenizer_fitted_on"):
        if key in meta:
            checks.text(meta, key, where, MetaError, nullable=True)
    columns = (
        checks.names(meta, "columns", where, MetaError, max_items=MAX_TOKENS_PER_ROW) if "columns" in meta else None
    )
    for key in ("group_by", "order_by"):
        named = checks.names(meta, key, where, MetaError)
        if columns is not None and (unknown := [name for name in named if name not in columns]):
            raise MetaError(f"{where}: {key} names {unknown[0]!r}, which is not in its columns")
    if columns is not None and meta.get("target") is not None and meta["target"] not in columns:
        raise MetaError(f"{where}: target {meta['target']!r} is not in its columns")
    if "split_by" in meta and meta["split_by"] not in SPLIT_BY:
        raise MetaError(f"{where}: split_by must be one of {', '.join(SPLIT_BY)}, got {checks.short(meta['split_by'])}")
    fractions = checks.mapping(meta, "fractions", where, MetaError)
    for key in fractions:
        checks.number(fractions, key, 0, 1, f"{where}: fractions", MetaError)
    if "seed" in meta:
        checks.integer(meta, "seed", 0, MAX_SEED, where, MetaError)
    checks.integer(meta, "limit_rows", 1, MAX_ROWS, where, MetaError, default=None)
    width = checks.integer(meta, "tokens_per_row", 1, MAX_TOKENS_PER_ROW, where, MetaError, default=None)
    vocab = checks.integer(meta, "vocab_size", 1, MAX_VOCAB, where, MetaError, default=None)
    for key in ("eor_id", "eod_id"):
        checks.integer(meta, key, 0, (vocab or MAX_VOCAB) - 1, where, MetaError, default=None)
    splits = checks.mapping(meta, "splits", where, MetaError)
    for split in splits:
        if split not in SPLITS:
            raise MetaError(f"{where}: splits has {checks.short(split)}; expected only {', '.join(SPLITS)}")
        check_counts(
            checks.mapping(splits, split, f"{where}: splits", MetaError), f"{where}: splits.{split}", width, MetaError
        )
    outside = checks.mapping(meta, "held_out_outside_tokenizer", where, MetaError)
    for split in outside:
        counted = checks.mapping(outside, split, f"{where}: held_out_outside_tokenizer", MetaError)
        for column in counted:
            checks.integer(counted, column, 0, MAX_ROWS, f"{where}: held_out_outside_tokenizer.{split}", MetaError)


def check_counts(counts: Mapping[str, Any], where: str, width: int | None, error: type[UserError]) -> None:
    """One split's counts: integers within MAX_ROWS that agree (documents, longest document <= rows;
    tokens = rows x tokens_per_row)."""
    found = {
        key: checks.integer(
            counts, key, 0, MAX_ROWS * MAX_TOKENS_PER_ROW if key == "tokens" else MAX_ROWS, where, error, default=None
        )
        for key in COUNTS
    }
    rows = found["rows"]
    if rows is not None:
        for key in ("documents", "longest_document_rows"):
            if found[key] is not None and found[key] > rows:
                raise error(f"{where}: {key} is {found[key]}, more than its {rows} rows")
        if width is not None and found["tokens"] is not None and found["tokens"] != rows * width:
            raise error(f"{where}: tokens must be rows x tokens_per_row = {rows * width}, got {found['tokens']}")
