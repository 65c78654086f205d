"""A prepared data directory: the files data prep writes there, and the one reader of its meta.json."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
            raise UserError(f"{self.meta_path}: no {key!r} (prepared by an older version); prepare the dataset "
                             f"again{alternative}")
        return int(counts[key])


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
    return meta
