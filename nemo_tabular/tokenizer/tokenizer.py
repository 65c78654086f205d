"""TabularTokenizer: whole DataFrames <-> fixed-width token rows, with one id range per slot.

Ids: 0 pad, 1 end-of-document, 2 end-of-row, then each column's slots in column order.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from nemo_tabular.io import write_text

from .codecs import codec_for
from .errors import TokenizerError
from .schema import OUT_OF_RANGE, check_file_size, check_tokenizer_json
from .spec import ColumnSpec

FORMAT = "nemo-tabular-tokenizer"
VERSION = 1


class TabularTokenizer:
    """Encodes rows as `row_width` tokens: every column's slots, then a terminator (EOR or EOD)."""

    pad_id = 0
    eod_id = 1
    eor_id = 2
    n_special = 3

    def __init__(self, columns: list[ColumnSpec]):
        self.columns = list(columns)
        self.codecs = [codec_for(spec) for spec in self.columns]
        self._slot_ranges: list[tuple[int, int]] = []
        self._column_slots: list[slice] = []
        offset = self.n_special
        for codec in self.codecs:
            start = len(self._slot_ranges)
            for size in codec.slot_sizes():
                self._slot_ranges.append((offset, offset + size))
                offset += size
            self._column_slots.append(slice(start, len(self._slot_ranges)))
        self.vocab_size = offset
        self.row_width = len(self._slot_ranges) + 1
        self._offsets = np.array([lo for lo, _ in self._slot_ranges], dtype=np.int64)
        self._sizes = np.array([hi - lo for lo, hi in self._slot_ranges], dtype=np.int64)

    @classmethod
    def fit(
        cls,
        df: pd.DataFrame,
        settings: Mapping,
        columns: Mapping | None = None,
        seed: int = 0,
        order_by: Sequence[str] = (),
    ) -> TabularTokenizer:
        """Fit on one in-memory DataFrame (see TokenizerFitter for chunked fitting and order_by's headroom)."""
        from .fitter import TokenizerFitter

        fitter = TokenizerFitter(settings, columns, seed=seed, order_by=order_by)
        fitter.update(df)
        return fitter.finish()

    @property
    def column_names(self) -> list[str]:
        return [spec.name for spec in self.columns]

    def column(self, name: str) -> ColumnSpec:
        """The spec of column `name`; an unknown name raises listing the known ones."""
        for spec in self.columns:
            if spec.name == name:
                return spec
        raise TokenizerError(f"unknown column {name!r}; the tokenizer's columns are {self.column_names}")

    def column_slots(self, name: str) -> slice:
        """Which slots of a row (positions 0..row_width-2) hold column `name`."""
        return self._column_slots[self.column_names.index(self.column(name).name)]

    def slot_ranges(self) -> list[tuple[int, int]]:
        """Half-open id range allowed at each of the first row_width - 1 positions of a row."""
        return list(self._slot_ranges)

    def encode(self, df: pd.DataFrame, out_of_range: str | None = None) -> np.ndarray:
        """Rows -> int32 tokens of shape (n_rows, row_width); the last column is eor_id.

        Values the fitting rows never held are encoded as new data is: a category outside a column's
        list takes its rare token (an error where the column has none), a number or date outside the
        fitted range follows the column's `out_of_range` ("clip": the nearest end of the range;
        "error": refused naming column, row and value). `out_of_range` given here overrides every
        column's setting; prep passes "clip" for the held-out splits, whose values may reach beyond
        the training split's range by nature.
        """
        if out_of_range not in (None, *OUT_OF_RANGE):
            raise TokenizerError(f"out_of_range must be one of {', '.join(OUT_OF_RANGE)}, got {out_of_range!r}")
        missing = [name for name in self.column_names if name not in df.columns]
        if missing:
            raise TokenizerError(f"table lacks column(s) {missing}; the tokenizer needs {self.column_names}")
        out = np.empty((len(df), self.row_width), dtype=np.int32)
        for codec, slots in zip(self.codecs, self._column_slots):
            local = codec.encode(df[codec.spec.name], out_of_range)
            out[:, slots] = local + self._offsets[slots]
        out[:, -1] = self.eor_id
        return out

    def outside_counts(self, df: pd.DataFrame) -> dict[str, int]:
        """Per column, how many present values lie outside the fitted range or categories.

        These are the values encode() clips (numbers, dates) or maps to the rare token (categories);
        prep records them for the held-out splits in meta.json.
        """
        counts = {}
        for codec in self.codecs:
            series = df[codec.spec.name]
            counts[codec.spec.name] = int((~codec.valid(series) & series.notna().to_numpy()).sum())
        return counts

    def decode(self, tokens: np.ndarray) -> pd.DataFrame:
        """Token rows of width row_width or row_width - 1 -> a DataFrame in column order."""
        tokens = np.asarray(tokens, dtype=np.int64)
        if tokens.ndim != 2 or tokens.shape[1] not in (self.row_width, self.row_width - 1):
            raise TokenizerError(
                f"expected token rows of width {self.row_width} (or {self.row_width - 1} without "
                f"the terminator), got shape {tokens.shape}"
            )
        local = tokens[:, : self.row_width - 1] - self._offsets
        bad = (local < 0) | (local >= self._sizes)
        if bad.any():
            row, slot = np.argwhere(bad)[0]
            lo, hi = self._slot_ranges[slot]
            raise TokenizerError(
                f"row {row}: token {tokens[row, slot]} at slot {slot} is outside that slot's range [{lo}, {hi})"
            )
        columns = {
            codec.spec.name: codec.decode(local[:, slots]) for codec, slots in zip(self.codecs, self._column_slots)
        }
        return pd.DataFrame(columns)

    def valid_mask(self, df: pd.DataFrame) -> np.ndarray:
        """True for rows whose every value lies inside the fitted ranges and categories."""
        mask = np.ones(len(df), dtype=bool)
        for codec in self.codecs:
            if codec.spec.name not in df.columns:
                return np.zeros(len(df), dtype=bool)
            try:
                mask &= codec.valid(df[codec.spec.name])
            except TokenizerError:
                mask &= False
        return mask

    def to_json(self) -> dict:
        return {"format": FORMAT, "version": VERSION, "columns": [spec.to_json() for spec in self.columns]}

    def save(self, path: str | os.PathLike) -> None:
        """Write the tokenizer as JSON, atomically (temp file + rename)."""
        write_text(path, json.dumps(self.to_json(), indent=1))

    @classmethod
    def load(cls, path: str | os.PathLike) -> TabularTokenizer:
        """Read a tokenizer written by save(); a wrong file raises naming it.

        The file is checked against the schema's bounds (tokenizer.schema) before any codec is built,
        so a crafted code_len, base or kind fails at once, naming the file, column and field.
        """
        path = Path(path)
        try:
            check_file_size(path)
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise TokenizerError(f"{path}: no tokenizer file there") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise TokenizerError(f"{path}: not a tokenizer JSON file ({err})") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("version") != VERSION:
            raise TokenizerError(f"{path}: not a {FORMAT} v{VERSION} file")
        check_tokenizer_json(data, path)
        return cls([ColumnSpec.from_json(c) for c in data["columns"]])

    def __repr__(self) -> str:
        return (
            f"TabularTokenizer({len(self.columns)} columns, row_width={self.row_width}, vocab_size={self.vocab_size})"
        )
