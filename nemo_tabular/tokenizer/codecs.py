"""Vectorized column codecs: a pandas Series <-> local token ids (n_rows, width), no per-value loop.

Local ids count from 0 inside each slot's own range; the tokenizer adds each slot's offset.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from .errors import TokenizerError, first_bad_row, first_bad_value, plain
from .spec import DATETIME_UNITS_NS, ColumnSpec
from .transforms import Transform

RARE_LABEL = "<rare>"
MAX_GRID = 2.0**62  # the largest |grid index| encoded (int64 with headroom for the code arithmetic)


def to_grid(series: pd.Series, spec: ColumnSpec) -> tuple[np.ndarray, np.ndarray]:
    """Grid indices (int64) and a NaN mask of a numeric column; bad values raise naming the row."""
    scaled, missing = scaled_values(series, spec)
    too_large = np.abs(scaled) > MAX_GRID
    if too_large.any():
        raise TokenizerError(
            f"column {spec.name!r}: {first_bad_row(series.index, too_large)} "
            f"is too large to encode with {spec.decimals} decimals"
        )
    return scaled.astype(np.int64), missing


def scaled_values(series: pd.Series, spec: ColumnSpec) -> tuple[np.ndarray, np.ndarray]:
    """Grid positions as whole float64 numbers (0 where missing) and the NaN mask, before any int64 cast.

    Datetimes are exact int64 `unit`s since the epoch (float64 holds them exactly up to 2**53 units);
    numbers are value * 10**decimals rounded, which may exceed int64 for values far outside the range.
    """
    if spec.kind == "datetime":
        parsed = parse_datetimes(series, spec.name, spec.timezone)[0]
        missing = parsed.isna().to_numpy()
        ns = parsed.to_numpy(dtype="datetime64[ns]").astype(np.int64)
        unit = DATETIME_UNITS_NS[spec.unit]
        return np.where(missing, 0, (ns + unit // 2) // unit).astype(np.float64), missing
    values = parse_numbers(series, spec.name)
    missing = np.isnan(values)
    return np.rint(np.where(missing, 0.0, values) * 10.0**spec.decimals), missing


def parse_numbers(series: pd.Series, name: str) -> np.ndarray:
    """Column values as float64 (NaN where missing); a non-number or an infinity raises naming its row."""
    if pd.api.types.is_bool_dtype(series.dtype):
        return series.to_numpy(dtype=np.float64)
    if pd.api.types.is_numeric_dtype(series.dtype):
        numbers = series.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        parsed = pd.to_numeric(series, errors="coerce")
        bad = parsed.isna().to_numpy() & series.notna().to_numpy()
        if bad.any():
            value = first_bad_value(series, bad)
            raise TokenizerError(f"column {name!r}: {first_bad_row(series.index, bad)} holds {value!r}, not a number")
        numbers = parsed.to_numpy(dtype=np.float64, na_value=np.nan)
    infinite = np.isinf(numbers)
    if infinite.any():
        raise TokenizerError(
            f"column {name!r}: {first_bad_row(series.index, infinite)} holds {plain(numbers[infinite][0])!r}; "
            f"an infinity has no token: replace it (e.g. with a missing value) or drop the row"
        )
    return numbers


TRUE_WORDS = ("true", "t", "yes", "y", "on", "1", "1.0")
FALSE_WORDS = ("false", "f", "no", "n", "off", "0", "0.0")
BOOL_WORDS = {**{word: True for word in TRUE_WORDS}, **{word: False for word in FALSE_WORDS}}


def parse_bools(series: pd.Series, name: str | None = None, errors: str = "raise") -> pd.Series:
    """A `kind: bool` column as True/False (missing stays missing, as None): booleans, 0/1, and the words
    true/false, yes/no, y/n, t/f, on/off in any case and with surrounding spaces (a CSV's yes/no column).

    Any other value raises naming the column and row; errors="coerce" makes it missing instead (for
    callers that name the row themselves, like prep's chunk coercion).
    """
    missing = series.isna().to_numpy()
    parsed = pd.Series(None, index=series.index, name=series.name, dtype=object)
    present = series[~missing]
    if pd.api.types.is_bool_dtype(present.dtype):
        words = present.astype(bool)
    else:  # numbers and text alike, through their text: 1 -> "1", 1.0 -> "1.0", True -> "true", " Yes" -> "yes"
        words = present.astype(str).str.strip().str.lower().map(BOOL_WORDS)
    bad = np.zeros(len(series), dtype=bool)
    bad[~missing] = words.isna().to_numpy()
    if bad.any() and errors != "coerce":
        raise TokenizerError(
            f"column {name or series.name!r}: {first_bad_row(series.index, bad)} holds "
            f"{first_bad_value(series, bad)!r}, not a boolean (kind: bool reads true/false, yes/no, y/n, t/f, "
            f"on/off and 1/0)"
        )
    parsed[~missing & ~bad] = words[~words.isna()].astype(bool).to_numpy(dtype=object)
    return parsed


def parse_datetimes(series: pd.Series, name: str, zone: str | None = None) -> tuple[pd.Series, str | None]:
    """Naive UTC datetimes of a column, and the zone its values carried (None for naive values).

    Aware values keep their meaning: they are converted to UTC, and the zone is returned so that a
    fitted column can record it and decode in it. Text with several UTC offsets (a zone across DST)
    is read as UTC and reported as "UTC". Naive values given to a column fitted with `zone` are wall
    times in that zone. A column that mixes naive and aware text is an error: its meaning is unclear.
    """
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        return series.dt.tz_convert("UTC").dt.tz_localize(None), str(series.dt.tz)
    if pd.api.types.is_datetime64_dtype(series.dtype):
        return _localize(series, name, zone), None
    parsed = _parse_text_datetimes(series)
    bad = parsed.isna().to_numpy() & series.notna().to_numpy()
    if bad.any():
        value = first_bad_value(series, bad)
        raise TokenizerError(f"column {name!r}: {first_bad_row(series.index, bad)} holds {value!r}, not a date")
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):
        return parsed.dt.tz_convert("UTC").dt.tz_localize(None), str(parsed.dt.tz)
    if parsed.dtype == object:  # several UTC offsets, or offsets beside naive values
        present = parsed.dropna()
        naive = np.array([value.tzinfo is None for value in present])
        if naive.any():
            raise TokenizerError(
                f"column {name!r}: {first_bad_row(present.index, naive)} holds {plain(series[present.index[naive][0]])!r} "
                f"without a UTC offset, while {first_bad_row(present.index, ~naive)} has one; give every value an "
                f"offset, or none"
            )
        utc = pd.to_datetime(series, errors="coerce", format="mixed", utc=True)
        return utc.dt.tz_localize(None), "UTC"
    return _localize(parsed, name, zone), None


def _parse_text_datetimes(series: pd.Series) -> pd.Series:
    """pandas' mixed-format parse (NaT where unparsable), without its warning about mixed offsets."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*mixed time zones", category=FutureWarning)
        return pd.to_datetime(series, errors="coerce", format="mixed")


def _localize(naive: pd.Series, name: str, zone: str | None) -> pd.Series:
    """Naive wall times in `zone` as naive UTC (unchanged without a zone); DST gaps and overlaps raise."""
    if zone is None:
        return naive
    try:
        aware = naive.dt.tz_localize(zone, ambiguous="raise", nonexistent="raise")
    except (ValueError, TypeError) as err:  # pytz/zoneinfo errors for ambiguous or missing wall times
        raise TokenizerError(
            f"column {name!r}: a naive time is ambiguous or missing in zone {zone} "
            f"({err}); give the values a UTC offset"
        ) from None
    return aware.dt.tz_convert("UTC").dt.tz_localize(None)


class NumericCodec:
    """float / int / datetime: grid index -> code -> `code_len` base-`base` digits (+ a NaN id)."""

    def __init__(self, spec: ColumnSpec):
        self.spec = spec
        self.transform = Transform.from_json(spec.transform) if spec.transform else None
        self.scale = 10.0**spec.decimals if spec.kind != "datetime" else 1.0
        self.powers = spec.base ** np.arange(spec.code_len - 1, -1, -1, dtype=np.int64)
        top = (spec.n_codes - 1) // int(self.powers[0]) + 1
        full = [min(top, spec.base)] + [spec.base] * (spec.code_len - 1)
        if spec.digit_values is None:
            self.digit_values = [np.arange(n, dtype=np.int64) for n in full]
        else:
            self.digit_values = [np.asarray(v, dtype=np.int64) for v in spec.digit_values]
        # digit value -> local id of the nearest digit value seen at fit (identity with fill_all)
        self.digit_to_local = [nearest_index(values, spec.base) for values in self.digit_values]
        self.nan_id = len(self.digit_values[0]) if spec.nullable else None

    @property
    def width(self) -> int:
        return self.spec.code_len

    def slot_sizes(self) -> list[int]:
        sizes = [len(v) for v in self.digit_values]
        sizes[0] += int(self.spec.nullable)
        return sizes

    def codes_of(self, grid: np.ndarray) -> np.ndarray:
        """Grid indices in [low, high] -> codes in [0, n_codes)."""
        if self.transform is None:
            return grid - self.spec.low
        t = self.transform.forward(grid / self.scale)
        t0 = self.transform.forward(np.array([self.spec.low / self.scale]))[0]
        codes = np.floor((t - t0) / self.spec.step).astype(np.int64)
        return np.clip(codes, 0, self.spec.n_codes - 1)

    def grid_of(self, codes: np.ndarray) -> np.ndarray:
        """Codes -> the grid index whose code it is (or, for a code no grid value has, the nearest)."""
        spec = self.spec
        if self.transform is None:
            return codes + spec.low
        t0 = self.transform.forward(np.array([spec.low / self.scale]))[0]
        centre = t0 + (codes + 0.5) * spec.step
        guess = np.rint(self.transform.inverse(centre) * self.scale).astype(np.int64)
        candidates = np.clip(guess[:, None] + np.array([-1, 0, 1]), spec.low, spec.high)
        flat = candidates.reshape(-1)
        exact = self.codes_of(flat).reshape(candidates.shape) == codes[:, None]
        distance = np.abs(self.transform.forward(flat / self.scale).reshape(candidates.shape) - centre[:, None])
        distance[exact] = -1.0
        return candidates[np.arange(len(codes)), distance.argmin(axis=1)]

    def encode(self, series: pd.Series, out_of_range: str | None = None) -> np.ndarray:
        """Local ids of every value; `out_of_range` ("error" or "clip") overrides the column's own setting."""
        spec = self.spec
        scaled, missing = scaled_values(series, spec)
        if missing.any() and not spec.nullable:
            raise TokenizerError(
                f"column {spec.name!r}: {first_bad_row(series.index, missing)} is missing, but the "
                f"column had no missing values when the tokenizer was fitted"
            )
        outside = ~missing & ((scaled < spec.low) | (scaled > spec.high))
        if outside.any() and (out_of_range or spec.out_of_range) != "clip":
            value = first_bad_value(series, outside)
            raise TokenizerError(
                f"column {spec.name!r}: {first_bad_row(series.index, outside)} holds {value!r}, "
                f"outside the fitted range [{self.format_grid(spec.low)}, "
                f"{self.format_grid(spec.high)}] (set out_of_range: clip to clip instead)"
            )
        # clipped as floats, so a value far outside the range cannot overflow the int64 grid
        grid = np.clip(np.where(missing, spec.low, scaled), spec.low, spec.high).astype(np.int64)
        codes = self.codes_of(grid)
        digits = (codes[:, None] // self.powers[None, :]) % spec.base
        local = np.stack([self.digit_to_local[i][digits[:, i]] for i in range(spec.code_len)], 1)
        if spec.nullable:
            local[missing, 0] = self.nan_id
            local[missing, 1:] = 0
        return local

    def decode(self, local: np.ndarray) -> pd.Series:
        spec = self.spec
        missing = local[:, 0] == self.nan_id if spec.nullable else np.zeros(len(local), bool)
        first = np.where(missing, 0, local[:, 0])
        digits = [self.digit_values[0][first]] + [self.digit_values[i][local[:, i]] for i in range(1, spec.code_len)]
        codes = np.stack(digits, 1) @ self.powers if len(local) else np.zeros(0, np.int64)
        grid = self.grid_of(np.minimum(codes, spec.n_codes - 1))
        return self.from_grid(grid, missing)

    def from_grid(self, grid: np.ndarray, missing: np.ndarray) -> pd.Series:
        """Grid indices -> column values of the column's kind (NaN/NaT where missing)."""
        spec = self.spec
        if spec.kind == "datetime":
            ns = grid * DATETIME_UNITS_NS[spec.unit]
            values = ns.astype("datetime64[ns]")
            values[missing] = np.datetime64("NaT")
            decoded = pd.Series(values, name=spec.name)
            if spec.timezone is not None:  # the instants were encoded in UTC; show them in the column's zone
                decoded = decoded.dt.tz_localize("UTC").dt.tz_convert(spec.timezone)
            return decoded
        if spec.kind == "int" and not missing.any():
            return pd.Series(grid, name=spec.name)
        values = grid / self.scale
        values[missing] = np.nan
        return pd.Series(values, name=spec.name)

    def format_grid(self, k: int) -> str:
        return str(self.from_grid(np.array([k]), np.array([False])).iloc[0])

    def valid(self, series: pd.Series) -> np.ndarray:
        """True where a value lies inside the fitted range (a missing value: where the column is nullable)."""
        scaled, missing = scaled_values(series, self.spec)
        inside = (scaled >= self.spec.low) & (scaled <= self.spec.high)
        return np.where(missing, self.spec.nullable, inside)


def nearest_index(values: np.ndarray, base: int) -> np.ndarray:
    """For each digit 0..base-1, the index of the nearest of the increasing `values` (the lower on a tie).

    O(base) memory, not base x len(values): a base of 65536 must not cost a 34 GB distance matrix.
    """
    digits = np.arange(base, dtype=np.int64)
    above = np.clip(np.searchsorted(values, digits), 0, len(values) - 1)
    below = np.maximum(above - 1, 0)
    return np.where(np.abs(digits - values[below]) <= np.abs(values[above] - digits), below, above)


class CategoryCodec:
    """category / bool: one token per value, then NaN, then the shared rare-category token.

    The rare token stands for every category outside the fitted list: those `min_count` merged, and
    those the fitting rows never held (held-out rows, new data). Without it such a value is an error.
    """

    def __init__(self, spec: ColumnSpec):
        self.spec = spec
        self.index = pd.Index(spec.categories, dtype=object)
        n = len(spec.categories)
        self.nan_id = n if spec.nullable else None
        self.rare_id = n + int(spec.nullable) if spec.rare else None

    @property
    def width(self) -> int:
        return 1

    def slot_sizes(self) -> list[int]:
        return [len(self.spec.categories) + int(self.spec.nullable) + int(self.spec.rare)]

    def encode(self, series: pd.Series, out_of_range: str | None = None) -> np.ndarray:
        """Local ids: a category outside the fitted list takes the rare token where the column has one.

        `out_of_range` is accepted for the codec interface and ignored: a category has no range to clip to.
        """
        spec = self.spec
        if spec.kind == "bool":
            series = parse_bools(series, spec.name)  # yes/no and true/false text are the booleans they say
        missing = series.isna().to_numpy()
        ids = self.index.get_indexer(series.astype(object))
        if missing.any():
            if not spec.nullable:
                raise TokenizerError(
                    f"column {spec.name!r}: {first_bad_row(series.index, missing)} is missing, but "
                    f"the column had no missing values when the tokenizer was fitted"
                )
            ids[missing] = self.nan_id
        unseen = ids < 0
        if unseen.any():
            if self.rare_id is None:
                value = first_bad_value(series, unseen)
                raise TokenizerError(
                    f"column {spec.name!r}: {first_bad_row(series.index, unseen)} holds {value!r}, "
                    f"a category never seen when the tokenizer was fitted"
                )
            ids[unseen] = self.rare_id
        return ids.astype(np.int64)[:, None]

    def decode(self, local: np.ndarray) -> pd.Series:
        labels = np.asarray(
            list(self.spec.categories) + [np.nan] * int(self.spec.nullable) + [RARE_LABEL] * int(self.spec.rare),
            dtype=object,
        )
        values = pd.Series(labels[local[:, 0]], name=self.spec.name)
        if self.spec.kind == "bool" and not self.spec.nullable:
            return values.astype(bool)
        return values.infer_objects()

    def valid(self, series: pd.Series) -> np.ndarray:
        missing = series.isna().to_numpy()
        if self.spec.kind == "bool":  # yes/no text is valid; a word that is no boolean is invalid, not missing
            series = parse_bools(series, self.spec.name, errors="coerce")
        known = self.index.get_indexer(series.astype(object)) >= 0
        if self.spec.rare:
            known |= series.astype(object).to_numpy() == RARE_LABEL
        return np.where(missing, self.spec.nullable, known)


def codec_for(spec: ColumnSpec) -> NumericCodec | CategoryCodec:
    return NumericCodec(spec) if spec.is_numeric else CategoryCodec(spec)
