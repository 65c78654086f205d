"""The fitted description of one column: everything its codec needs, serializable as plain JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

KINDS = ("float", "int", "datetime", "category", "bool")
NUMERIC_KINDS = ("float", "int", "datetime")
DATETIME_UNITS_NS = {"s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9, "D": 86400 * 10**9}


@dataclass
class ColumnSpec:
    """One column's fitted encoding.

    Numeric kinds map a value to a grid index k = round(value * 10**decimals) (datetimes: whole
    `unit`s since the epoch) in [low, high], then to a code in [0, n_codes) through `transform`,
    written as `code_len` digits in `base`. Categorical kinds map a value to one token.

    A datetime column whose values carried a zone records it in `timezone` (an IANA name such as
    "America/New_York", a fixed offset such as "UTC-05:00", or "UTC" for text with several offsets):
    its grid counts UTC instants and decoding converts back to that zone, so no value shifts.
    """

    name: str
    kind: str
    nullable: bool = False
    out_of_range: str = "error"
    # numeric
    decimals: int = 0
    unit: str | None = None
    timezone: str | None = None
    low: int = 0
    high: int = 0
    base: int = 100
    code_len: int = 1
    n_codes: int = 1
    transform: dict | None = None
    step: float | None = None
    digit_values: list[list[int]] | None = None
    # categorical
    categories: list = field(default_factory=list)
    rare: bool = False

    @property
    def is_numeric(self) -> bool:
        return self.kind in NUMERIC_KINDS

    def to_json(self) -> dict:
        """Only the fields that matter for this kind, so the JSON stays readable."""
        data = asdict(self)
        drop = (
            ("categories", "rare")
            if self.is_numeric
            else (
                "decimals",
                "unit",
                "low",
                "high",
                "base",
                "code_len",
                "n_codes",
                "transform",
                "step",
                "digit_values",
                "out_of_range",
            )
        )
        if self.timezone is None:  # naive datetimes (and other kinds) write the same file as before zones
            drop += ("timezone",)
        return {k: v for k, v in data.items() if k not in drop}

    @classmethod
    def from_json(cls, data: dict) -> ColumnSpec:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
