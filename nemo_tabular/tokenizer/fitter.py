"""Fit a tokenizer over one DataFrame or a stream of chunks: infer each column's kind and range.

The stream only keeps per-column summaries (range, decimals needed, category counts and a
bounded random sample for transforms), so a table larger than memory can be fitted.

Only the rows given to `update` (in prep: the training split) shape the tokenizer. Held-out rows
given to `observe_held_out` never add a value, category, range, decimal or transform; they only
decide whether a column reserves its missing token and its rare token, so that they can be encoded
(a held-out category the fitting rows lack takes the rare token, a held-out number outside the
range is clipped to it; see TabularTokenizer.encode).

The one range that reaches past the fitting rows is the time axis: the outermost order_by column
(`year` of [year, month], or a single date) grows past its fitted maximum by `order_headroom` times
its fitted span, so forecasts and the later splits of a series cut in time (whose years lie after
the training split's) encode and force their own order values instead of clipping to the last
training year. The headroom is computed from the fitting rows alone, never from held-out values.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .codecs import MAX_GRID, NumericCodec, parse_bools, parse_datetimes, parse_numbers, to_grid
from .errors import TokenizerError, plain
from .schema import MAX_BASE
from .spec import DATETIME_UNITS_NS, KINDS, ColumnSpec
from .transforms import TRANSFORMS, fit_transform

AUTO_MAX_BASE = 1000  # base: auto never gives a digit more ids than this (the logits one draw computes)

SAMPLE_SIZE = 100_000
COLUMN_KEYS = (
    "kind",
    "decimals",
    "transform",
    "base",
    "fill_all",
    "min_count",
    "datetime_unit",
    "out_of_range",
    "nullable",
    "order_headroom",
)
# settings older configs (and hand-written settings dicts) may lack, with the value they then take
SETTING_DEFAULTS = {"order_headroom": 0.25}


@dataclass
class _ColumnStats:
    """Running summary of one column over the chunks seen so far."""

    kinds: set = field(default_factory=set)
    rows: int = 0
    missing: int = 0
    low: float = np.inf
    high: float = -np.inf
    decimals: int = 0
    counts: Counter = field(default_factory=Counter)
    sample: np.ndarray = field(default_factory=lambda: np.zeros(0))
    sample_keys: np.ndarray = field(default_factory=lambda: np.zeros(0))
    zones: set = field(default_factory=set)  # datetimes: the zone each chunk's values carried (None: naive)


@dataclass
class _HeldOut:
    """What held-out rows showed of one column: only whether they need its missing or rare token."""

    missing: bool = False
    values: set = field(default_factory=set)  # distinct non-numeric values, at most max_categories + 1
    overflow: bool = False  # more distinct values than any fitted category list holds: one is unseen


class TokenizerFitter:
    """Accumulates column statistics chunk by chunk; `finish()` returns the TabularTokenizer."""

    def __init__(self, settings: Mapping, columns: Mapping | None = None, seed: int = 0, order_by: Sequence[str] = ()):
        """`order_by`: the table's time order; its outermost column gets `order_headroom` (see the module)."""
        self.settings = {**SETTING_DEFAULTS, **dict(settings)}
        self.time_axis = str(order_by[0]) if order_by else None
        self.overrides = {str(k): dict(v or {}) for k, v in (columns or {}).items()}
        for name, override in self.overrides.items():
            unknown = set(override) - set(COLUMN_KEYS)
            if unknown:
                raise TokenizerError(
                    f"column {name!r}: unknown setting(s) {sorted(unknown)}; known: {', '.join(COLUMN_KEYS)}"
                )
            if override.get("kind") not in (None, *KINDS):
                raise TokenizerError(f"column {name!r}: kind {override['kind']!r} is not one of {', '.join(KINDS)}")
        self.rng = np.random.default_rng(seed)
        self.stats: dict[str, _ColumnStats] = {}
        self.held_out: dict[str, _HeldOut] = {}

    def setting(self, column: str, key: str):
        """A column's setting: its override if given, else the tokenizer default."""
        return self.overrides.get(column, {}).get(key, self.settings[key])

    def update(self, chunk: pd.DataFrame) -> None:
        """Fold one chunk of rows into the statistics."""
        if not self.stats:
            missing = set(self.overrides) - set(map(str, chunk.columns))
            if missing:
                raise TokenizerError(
                    f"column settings name column(s) {sorted(missing)} that the table does not "
                    f"have; its columns are {list(map(str, chunk.columns))}"
                )
            self.stats = {str(c): _ColumnStats() for c in chunk.columns}
        elif list(self.stats) != list(map(str, chunk.columns)):
            raise TokenizerError(
                f"chunk columns {list(chunk.columns)} differ from the first chunk's {list(self.stats)}"
            )
        for column, stats in self.stats.items():
            self._update_column(column, stats, chunk[column])

    def observe_held_out(self, chunk: pd.DataFrame) -> None:
        """Note which tokens held-out rows (valid/test) will need; their values shape nothing else."""
        limit = self.settings["max_categories"] + 1
        for column in chunk.columns:
            series = chunk[column]
            seen = self.held_out.setdefault(str(column), _HeldOut())
            present = series.dropna()
            seen.missing |= len(present) < len(series)
            kind = self.overrides.get(str(column), {}).get("kind") or _chunk_kind(series)
            if seen.overflow or present.empty or kind != "category":
                continue
            seen.values.update(present.astype(object).unique().tolist())
            if len(seen.values) > limit:
                seen.overflow, seen.values = True, set()

    def _update_column(self, name: str, stats: _ColumnStats, series: pd.Series) -> None:
        stats.rows += len(series)
        present = series.dropna()
        stats.missing += len(series) - len(present)
        kind = self.overrides.get(name, {}).get("kind") or _chunk_kind(series)
        if present.empty:
            return  # an all-missing chunk says nothing about the column's kind
        stats.kinds.add(kind)
        if kind in ("category", "bool"):
            if kind == "bool":  # yes/no, true/false text counts as the booleans it says; other words are refused
                present = parse_bools(present, name)
            stats.counts.update(present.astype(object).value_counts().to_dict())
            limit = self.settings["max_categories"]
            if len(stats.counts) > limit:
                raise TokenizerError(
                    f"column {name!r} has more than {limit} distinct values; declare its kind "
                    f"(float/int/datetime), drop it, or raise tokenizer.max_categories"
                )
            return
        if kind == "datetime":
            stats.zones.add(parse_datetimes(present, name)[1])
            probe = ColumnSpec(name, "datetime", unit=self.setting(name, "datetime_unit"))
            values = to_grid(present, probe)[0].astype(np.float64)
        else:
            values = parse_numbers(present, name)
            stats.decimals = max(stats.decimals, _decimals_needed(values, self.settings["max_decimals"]))
        if len(values):
            stats.low = min(stats.low, float(values.min()))
            stats.high = max(stats.high, float(values.max()))
            self._sample(stats, values)

    def _sample(self, stats: _ColumnStats, values: np.ndarray) -> None:
        """Keep a uniform random sample of bounded size (bottom-k of random keys)."""
        keys = self.rng.random(len(values))
        sample = np.concatenate([stats.sample, values])
        all_keys = np.concatenate([stats.sample_keys, keys])
        if len(sample) > SAMPLE_SIZE:
            keep = np.argpartition(all_keys, SAMPLE_SIZE)[:SAMPLE_SIZE]
            sample, all_keys = sample[keep], all_keys[keep]
        stats.sample, stats.sample_keys = sample, all_keys

    def finish(self):
        """Turn the statistics into fitted column specs and the tokenizer."""
        from .tokenizer import TabularTokenizer

        if not self.stats or not any(s.rows for s in self.stats.values()):
            raise TokenizerError("cannot fit a tokenizer on an empty table")
        specs = [self._spec(name, stats) for name, stats in self.stats.items()]
        return TabularTokenizer(specs)

    def _spec(self, name: str, stats: _ColumnStats) -> ColumnSpec:
        kind = _final_kind(name, stats)
        held_out = self.held_out.get(name, _HeldOut())
        nullable = bool(self.setting(name, "nullable") or stats.missing > 0 or held_out.missing)
        if stats.rows == stats.missing:
            where = "" if not self.held_out else " in the fitting (training) rows"
            raise TokenizerError(f"column {name!r} has no values{where}, only missing ones; drop it")
        if kind in ("category", "bool"):
            return self._category_spec(name, kind, stats, nullable, held_out)
        return self._numeric_spec(name, kind, stats, nullable)

    def _category_spec(self, name, kind, stats, nullable, held_out: _HeldOut) -> ColumnSpec:
        if kind == "bool":
            categories = [False, True]
            rare = False
        else:
            min_count = int(self.setting(name, "min_count"))
            kept = {v: c for v, c in stats.counts.items() if c >= min_count}
            unseen = held_out.overflow or bool(held_out.values - set(kept))
            rare = len(kept) < len(stats.counts) or unseen
            categories = sorted(kept, key=lambda v: (type(v).__name__, v))
        return ColumnSpec(name, kind, nullable=nullable, categories=[plain(v) for v in categories], rare=rare)

    def _numeric_spec(self, name, kind, stats, nullable) -> ColumnSpec:
        base = self.setting(name, "base")
        auto_base = base == "auto"
        if not auto_base:
            base = int(base)
            if not 2 <= base <= MAX_BASE:  # the bound TabularTokenizer.load holds a file to
                raise TokenizerError(f"column {name!r}: base must be between 2 and {MAX_BASE} or auto, not {base}")
        transform_name = self.setting(name, "transform")
        if transform_name not in TRANSFORMS:
            raise TokenizerError(f"column {name!r}: transform {transform_name!r} is not one of {', '.join(TRANSFORMS)}")
        zone = None
        if kind == "datetime":
            decimals, unit, transform_name = 0, self.setting(name, "datetime_unit"), "none"
            if unit not in DATETIME_UNITS_NS:
                raise TokenizerError(
                    f"column {name!r}: datetime_unit {unit!r} is not one of {', '.join(DATETIME_UNITS_NS)}"
                )
            zone = _final_zone(name, stats.zones)
        else:
            unit = None
            declared = self.setting(name, "decimals")
            decimals = 0 if kind == "int" else int(stats.decimals if declared is None else declared)
            if declared is None and kind == "float":  # a declared precision is the user's: round(x, decimals)
                _check_inferred_precision(name, stats, decimals)
        scale = 10.0**decimals
        low, high = _grid_range(name, stats, 1.0 if kind == "datetime" else scale, decimals)
        fitted_high = high
        if name == self.time_axis and transform_name == "none":
            headroom = float(self.setting(name, "order_headroom"))
            room_base = fewest_digits_base(high - low + 1, headroom) if auto_base else base
            high = _with_headroom(name, low, high, headroom, room_base, int(self.settings["max_code_len"]))
        transform = fit_transform(transform_name, stats.sample, low / scale, high / scale)
        if transform.name == "none":
            n_codes, step, transform_json = high - low + 1, None, None
        else:
            step = 0.999 * transform.min_gap(1.0 / scale)
            span = transform.forward(np.array([high / scale]))[0] - transform.forward(np.array([low / scale]))[0]
            if not (step > 0 and span / step < 2.0**62):
                raise TokenizerError(
                    f"column {name!r}: transform {transform.name} packs {decimals}-decimal steps too "
                    f"closely over [{stats.low}, {stats.high}] and needs too many digits; choose "
                    f"another transform or fewer decimals"
                )
            n_codes, transform_json = int(np.floor(span / step)) + 1, transform.to_json()
        if auto_base:
            base = fewest_digits_base(n_codes)
        code_len = 1
        while base**code_len < n_codes:
            code_len += 1
        if code_len > self.settings["max_code_len"]:
            raise TokenizerError(
                f"column {name!r} needs {code_len} digits in base {base} for {n_codes} codes "
                f"(range [{stats.low}, {stats.high}], {decimals} decimals, transform "
                f"{transform.name}); lower its decimals, raise its base or max_code_len"
            )
        spec = ColumnSpec(
            name,
            kind,
            nullable=nullable,
            out_of_range=self.setting(name, "out_of_range"),
            decimals=decimals,
            unit=unit,
            timezone=zone,
            low=low,
            high=high,
            base=base,
            code_len=code_len,
            n_codes=n_codes,
            transform=transform_json,
            step=step,
        )
        if not self.setting(name, "fill_all") and high == fitted_high:  # headroom keeps every digit: its values
            spec.digit_values = self._seen_digits(spec, stats)
        return spec

    def _seen_digits(self, spec: ColumnSpec, stats: _ColumnStats) -> list[list[int]]:
        """Digit values that the fitting sample (and the range ends) actually use, per digit."""
        codec = NumericCodec(spec)
        grid = np.concatenate(
            [
                [spec.low, spec.high],
                np.rint(stats.sample * (1.0 if spec.kind == "datetime" else codec.scale)).astype(np.int64),
            ]
        )
        codes = codec.codes_of(np.clip(grid, spec.low, spec.high))
        digits = (codes[:, None] // codec.powers[None, :]) % spec.base
        return [np.unique(digits[:, i]).tolist() for i in range(spec.code_len)]


def _chunk_kind(series: pd.Series) -> str:
    """The kind one chunk of a column suggests, from its dtype."""
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    if pd.api.types.is_numeric_dtype(dtype):
        values = series.dropna().to_numpy(dtype=np.float64)
        return "int" if np.all(values == np.round(values)) else "float"
    return "category"


def _final_kind(name: str, stats: _ColumnStats) -> str:
    """Merge the kinds the chunks suggested: int and float make float; others must agree."""
    kinds = stats.kinds
    if kinds <= {"int", "float"}:
        return "float" if "float" in kinds else "int"
    if len(kinds) == 1:
        return next(iter(kinds))
    raise TokenizerError(
        f"column {name!r} looks like {' and '.join(sorted(kinds))} in different parts of the "
        f"table; declare its kind in the column settings"
    )


def _decimals_needed(values: np.ndarray, max_decimals: int) -> int:
    """Fewest decimals that represent every value exactly (up to float noise, relative to the value), capped.

    The tolerance is relative so that tiny values (1e-300) are not taken for zeros needing no decimals.
    """
    with np.errstate(over="ignore", invalid="ignore"):  # huge values overflow in np.round; _grid_range names them
        for decimals in range(max_decimals + 1):
            rounded = np.round(values, decimals)
            if np.all(np.abs(rounded - values) <= 1e-9 * np.abs(values)):
                return decimals
    return max_decimals


def _grid_range(name: str, stats: _ColumnStats, scale: float, decimals: int) -> tuple[int, int]:
    """The column's grid [low, high] at `scale`; a range the int64 grid cannot hold is refused, naming it.

    Values like 1.8e304 (or 1e18 at 4 decimals) would otherwise overflow to inf or past int64 deep
    inside the codec; the limit is MAX_GRID (2**62) for each end and for the span between them.
    """
    low, high = np.rint(stats.low * scale), np.rint(stats.high * scale)
    if max(abs(low), abs(high), high - low) > MAX_GRID:
        raise TokenizerError(
            f"column {name!r}: its range [{stats.low:.6g}, {stats.high:.6g}] at {decimals} decimals reaches past "
            f"the 2**62 grid positions the tokenizer encodes; declare fewer decimals or rescale the column"
        )
    return int(low), int(high)


def fewest_digits_base(n_codes: int, headroom: float = 0.0) -> int:
    """`base: auto`: the smallest base that writes `n_codes` (and `headroom` more of them) in the fewest digits
    of at most AUTO_MAX_BASE ids each.

    Every digit is a transformer step, in training and in sampling, so fewer digits make a row cheaper; a
    digit's ids are the logits a draw computes, so the base is no larger than that many digits need.
    """
    needed = max(2, int(np.ceil(n_codes * (1.0 + max(headroom, 0.0)))))
    code_len = 1
    while AUTO_MAX_BASE**code_len < needed:
        code_len += 1
    base = max(2, int(np.ceil(needed ** (1.0 / code_len))) - 1)
    while base**code_len < needed:  # the root in floating point may fall one short
        base += 1
    return base


def _with_headroom(name: str, low: int, high: int, fraction: float, base: int, max_code_len: int) -> int:
    """The time axis's grid maximum extended by `fraction` of its fitted span (rounded up), from the fit alone.

    The extension never costs a digit: it stops where the fitted range's own digits end (base**code_len
    codes), so the row width, and every model sized on it, stays what the training split needs. A
    negative fraction is refused; 0 turns headroom off.
    """
    if fraction < 0:
        raise TokenizerError(f"column {name!r}: order_headroom must be >= 0, not {fraction}")
    if fraction == 0 or high <= low:
        return high
    codes = high - low + 1
    code_len = 1
    while base**code_len < codes and code_len < max_code_len:
        code_len += 1
    room = max(base**code_len - codes, 0)
    extra = min(int(np.ceil(fraction * (high - low))), room, int(MAX_GRID) - high)
    return high + max(extra, 0)


def _check_inferred_precision(name: str, stats: _ColumnStats, decimals: int) -> None:
    """Refuse an inferred precision at which every non-zero value of the column would round to 0.

    A column of values around 1e-300 needs more than max_decimals decimals, and at the cap it would
    decode as all zeros, silently. The message names the column and the decimals that keep three
    significant digits of its largest value.
    """
    largest = max(abs(stats.low), abs(stats.high)) if np.isfinite(stats.low) else 0.0
    if largest == 0.0 or np.rint(largest * 10.0**decimals) != 0:
        return
    needed = int(-np.floor(np.log10(largest))) + 2
    raise TokenizerError(
        f"column {name!r}: every value rounds to 0 at {decimals} decimals (tokenizer.max_decimals), the "
        f"largest being {largest:.3g}; declare decimals: {needed} for this column, or rescale it"
    )


def _final_zone(name: str, zones: set) -> str | None:
    """One zone for a datetime column: the one its chunks carried, "UTC" when they carried several."""
    aware = zones - {None}
    if aware and None in zones:
        raise TokenizerError(
            f"column {name!r} holds datetimes with a time zone in some parts of the table and without one in "
            f"others; give every value a zone (or UTC offset), or none"
        )
    if not aware:
        return None
    return next(iter(aware)) if len(aware) == 1 else "UTC"
