"""Group rows into documents: one per row for a flat table, one per `group_by` key ordered by `order_by`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd


class GroupCoder:
    """Maps group keys to integer codes in order of first appearance, so codes do not depend on chunking."""

    def __init__(self, group_by: Sequence[str]) -> None:
        self.group_by = list(group_by)
        self.codes: dict[object, int] = {}

    def __call__(self, chunk: pd.DataFrame) -> np.ndarray:
        """The group code of every row in `chunk` (int64)."""
        if len(self.group_by) == 1:
            local, uniques = pd.factorize(chunk[self.group_by[0]], use_na_sentinel=False)
            keys = [None if pd.isna(key) else key for key in uniques]
        else:
            local, uniques = pd.factorize(pd.MultiIndex.from_frame(chunk[self.group_by]), use_na_sentinel=False)
            keys = list(uniques)
        mapping = np.array([self.codes.setdefault(key, len(self.codes)) for key in keys], dtype=np.int64)
        return mapping[local]


def order_key(series: pd.Series) -> np.ndarray:
    """A sortable array for one order_by column (numbers as float64, dates as int64 nanoseconds)."""
    if pd.api.types.is_datetime64_any_dtype(series):
        return series.to_numpy(dtype="datetime64[ns]").view(np.int64)
    return series.to_numpy(dtype=np.float64, na_value=np.nan)


@dataclass
class DocumentKeys:
    """The per-row keys collected while streaming: all that must fit in memory to order the documents."""

    group_by: list[str]
    order_by: list[str]
    coder: GroupCoder = field(init=False)
    groups: list[np.ndarray] = field(default_factory=list)
    orders: list[list[np.ndarray]] = field(default_factory=list)
    rows: int = 0

    def __post_init__(self) -> None:
        self.coder = GroupCoder(self.group_by)

    def add(self, chunk: pd.DataFrame) -> None:
        """Record the group code and order keys of every row in `chunk`."""
        if self.group_by:
            self.groups.append(self.coder(chunk))
        if self.order_by:
            self.orders.append([order_key(chunk[c]) for c in self.order_by])
        self.rows += len(chunk)

    def layout(self) -> DocumentLayout:
        """Rows in document order (stable sort by group, then order_by, then file position)."""
        if not self.group_by and not self.order_by:
            return DocumentLayout(np.arange(self.rows, dtype=np.int64), np.arange(self.rows + 1, dtype=np.int64))
        position = np.arange(self.rows, dtype=np.int64)
        orders = [np.concatenate([o[i] for o in self.orders]) for i in reversed(range(len(self.order_by)))]
        groups = np.concatenate(self.groups) if self.group_by else np.zeros(self.rows, dtype=np.int64)
        row_order = np.lexsort([position, *orders, groups])
        sorted_groups = groups[row_order]
        starts = np.flatnonzero(np.diff(sorted_groups)) + 1
        bounds = np.concatenate([[0], starts, [self.rows]]).astype(np.int64)
        return DocumentLayout(row_order.astype(np.int64), bounds)


@dataclass
class DocumentLayout:
    """`row_order[bounds[d]:bounds[d+1]]` are the file rows of document d, in order."""

    row_order: np.ndarray
    bounds: np.ndarray

    @property
    def n_documents(self) -> int:
        """Number of documents."""
        return len(self.bounds) - 1

    def lengths(self) -> np.ndarray:
        """Rows per document."""
        return np.diff(self.bounds)
