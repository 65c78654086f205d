"""Validate a tokenizer.json before anything is built from it.

A tokenizer file travels with checkpoints and bundles, so it is input like any other: a crafted
`code_len` or `base` would make the codecs allocate arrays of that size (12 GB in 75 s for
`code_len=1e9`). `check_tokenizer_json` checks every field that sizes an allocation, and every
field a codec branches on, against bounds that any tokenizer this project fits stays inside, and
raises TokenizerError naming the file, the column and the field. It only reads numbers, so a bad
file fails in milliseconds.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping

import pandas as pd

from .errors import TokenizerError
from .spec import DATETIME_UNITS_NS, KINDS, NUMERIC_KINDS
from .transforms import TRANSFORMS

MAX_FILE_BYTES = 256 * 2**20  # far above any fitted tokenizer (1000 categories x 100 columns is a few MB)
MAX_GRID = 2**62  # the largest |grid index| the codec encodes (codecs.to_grid refuses more)
MAX_CODE_LEN = 63  # digits of a 2**62-code grid in base 2; a fit also keeps under tokenizer.max_code_len
MAX_BASE = 2**16
MAX_DECIMALS = 308  # 10**decimals must stay a finite, non-zero float
MAX_VOCAB = 2**22  # tokens over all columns; an embedding this wide is already 0.5 GB at width 128
OUT_OF_RANGE = ("error", "clip")
MAX_ZONE_CHARS = 64  # IANA names are at most ~32 characters


def check_file_size(path: str | os.PathLike) -> None:
    """Refuse a tokenizer file too large to be one, before reading it into memory."""
    size = os.path.getsize(path)
    if size > MAX_FILE_BYTES:
        raise TokenizerError(f"{path}: {size} bytes, more than any tokenizer file ({MAX_FILE_BYTES} bytes at most)")


def check_tokenizer_json(data: Mapping, path: str | os.PathLike) -> None:
    """Raise TokenizerError naming `path`, the column and the field unless `data["columns"]` is sound."""
    columns = data.get("columns")
    if not isinstance(columns, list) or not columns:
        raise TokenizerError(f"{path}: columns must be a non-empty list, got {short(columns)}")
    names: set[str] = set()
    vocab = 0
    for i, column in enumerate(columns):
        if not isinstance(column, Mapping):
            raise TokenizerError(f"{path}: columns[{i}] must be an object, got {short(column)}")
        name = column.get("name")
        if not isinstance(name, str) or not name:
            raise TokenizerError(f"{path}: columns[{i}]: name must be a non-empty string, got {short(name)}")
        if name in names:
            raise TokenizerError(f"{path}: column {name!r} appears twice")
        names.add(name)
        where = f"{path}: column {name!r}"
        vocab += check_column(column, where)
        if vocab > MAX_VOCAB:
            raise TokenizerError(f"{where}: the vocabulary reaches {vocab} tokens, more than {MAX_VOCAB}")


def check_column(column: Mapping, where: str) -> int:
    """Check one column's JSON; return how many token ids it takes."""
    kind = column.get("kind")
    if kind not in KINDS:
        raise TokenizerError(f"{where}: kind must be one of {', '.join(KINDS)}, got {short(kind)}")
    for key in ("nullable", "rare"):
        if not isinstance(column.get(key, False), bool):
            raise TokenizerError(f"{where}: {key} must be true or false, got {short(column[key])}")
    nullable = column.get("nullable", False)
    if kind in NUMERIC_KINDS:
        return check_numeric(column, kind, where) + int(nullable)
    categories = column.get("categories", [])
    if not isinstance(categories, list):
        raise TokenizerError(f"{where}: categories must be a list, got {short(categories)}")
    allowed, what = ((bool,), "true/false") if kind == "bool" else ((str, int, float, bool), "strings or numbers")
    for value in categories:
        if not isinstance(value, allowed) or (isinstance(value, float) and not math.isfinite(value)):
            raise TokenizerError(f"{where}: categories must hold {what}, got {short(value)}")
    if len(set(categories)) != len(categories):  # 1, 1.0 and True are one value to the codec's index
        raise TokenizerError(f"{where}: categories must be distinct")
    size = len(categories) + int(nullable) + int(column.get("rare", False))
    if size == 0:
        raise TokenizerError(f"{where}: no categories, no missing and no rare token: the column has no token")
    return size


def check_numeric(column: Mapping, kind: str, where: str) -> int:
    """Check a numeric column's encoding fields, cheapest first; return its digits' token count."""
    code_len = integer(column, "code_len", 1, MAX_CODE_LEN, where, default=1)
    base = integer(column, "base", 2, MAX_BASE, where, default=100)
    n_codes = integer(column, "n_codes", 1, MAX_GRID, where, default=1)
    fewest = 1
    while base**fewest < n_codes:
        fewest += 1
    if code_len != fewest:
        raise TokenizerError(
            f"{where}: code_len must be {fewest}, the digits in base {base} that {n_codes} "
            f"codes need (as fitting writes it), got {code_len}"
        )
    decimals = integer(column, "decimals", -MAX_DECIMALS, MAX_DECIMALS, where, default=0)
    low = integer(column, "low", -MAX_GRID, MAX_GRID, where, default=0)
    high = integer(column, "high", low, MAX_GRID, where, default=0)
    if column.get("out_of_range", "error") not in OUT_OF_RANGE:
        raise TokenizerError(
            f"{where}: out_of_range must be one of {', '.join(OUT_OF_RANGE)}, got {short(column['out_of_range'])}"
        )
    unit = column.get("unit")
    if kind == "datetime":
        if unit not in DATETIME_UNITS_NS:
            raise TokenizerError(f"{where}: unit must be one of {', '.join(DATETIME_UNITS_NS)}, got {short(unit)}")
        if decimals != 0:
            raise TokenizerError(f"{where}: decimals must be 0 for a datetime, got {decimals}")
        check_timezone(column.get("timezone"), where)
    elif column.get("timezone") is not None:
        raise TokenizerError(f"{where}: only a datetime column has a timezone, got {short(column['timezone'])}")
    transform = column.get("transform")
    if transform is None:
        if n_codes != high - low + 1:
            raise TokenizerError(
                f"{where}: n_codes must be high - low + 1 = {high - low + 1} without a transform, got {n_codes}"
            )
    else:
        check_transform(transform, column.get("step"), where)
    digit_values = column.get("digit_values")
    top = min((n_codes - 1) // base ** (code_len - 1) + 1, base)
    if digit_values is None:
        return top + base * (code_len - 1)
    return check_digit_values(digit_values, code_len, base, where)


def check_timezone(zone, where: str) -> None:
    """A datetime column's zone: absent/null (naive), or a short string that names a zone pandas knows."""
    if zone is None:
        return
    if not isinstance(zone, str) or not 0 < len(zone) <= MAX_ZONE_CHARS:
        raise TokenizerError(
            f"{where}: timezone must be a zone name of at most {MAX_ZONE_CHARS} characters, got {short(zone)}"
        )
    try:
        pd.Timestamp(0, tz=zone)
    except Exception:  # pytz, zoneinfo and dateutil raise different types for an unknown name
        raise TokenizerError(f"{where}: timezone {short(zone)} is not a zone name (e.g. UTC, Europe/Paris)") from None


def check_transform(transform, step, where: str) -> None:
    """A fitted transform: a known name, a finite range, a positive step and well-formed params."""
    if not isinstance(transform, Mapping) or transform.get("name") not in TRANSFORMS[1:]:
        name = transform.get("name") if isinstance(transform, Mapping) else transform
        raise TokenizerError(f"{where}: transform.name must be one of {', '.join(TRANSFORMS[1:])}, got {short(name)}")
    for key in ("low", "high"):
        if not is_finite(transform.get(key)):
            raise TokenizerError(f"{where}: transform.{key} must be a finite number, got {short(transform.get(key))}")
    if not (is_finite(step) and step > 0):
        raise TokenizerError(f"{where}: step must be a positive number with a transform, got {short(step)}")
    params = transform.get("params", {})
    if not isinstance(params, Mapping):
        raise TokenizerError(f"{where}: transform.params must be an object, got {short(params)}")
    if transform["name"] == "yeo-johnson" and not is_finite(params.get("lambda")):
        raise TokenizerError(
            f"{where}: transform.params.lambda must be a finite number, got {short(params.get('lambda'))}"
        )
    if transform["name"] == "quantile":
        knots, levels = params.get("knots"), params.get("levels")
        for key, values in (("knots", knots), ("levels", levels)):
            if not (isinstance(values, list) and len(values) >= 2 and all(is_finite(v) for v in values)):
                raise TokenizerError(f"{where}: transform.params.{key} must be a list of at least 2 finite numbers")
        if len(knots) != len(levels):
            raise TokenizerError(
                f"{where}: transform.params knots and levels differ in length ({len(knots)} vs {len(levels)})"
            )


def check_digit_values(digit_values, code_len: int, base: int, where: str) -> int:
    """Seen digit values (fill_all: false): code_len increasing lists of digits in [0, base)."""
    if not isinstance(digit_values, list) or len(digit_values) != code_len:
        raise TokenizerError(f"{where}: digit_values must be a list of code_len = {code_len} lists")
    for i, values in enumerate(digit_values):
        if not (
            isinstance(values, list)
            and values
            and all(type(v) is int and 0 <= v < base for v in values)
            and all(a < b for a, b in zip(values, values[1:]))
        ):
            raise TokenizerError(
                f"{where}: digit_values[{i}] must be a non-empty increasing list of digits in [0, {base})"
            )
    return sum(len(values) for values in digit_values)


def integer(column: Mapping, key: str, low: int, high: int, where: str, default: int) -> int:
    """column[key] as an int inside [low, high]; a float, string or bool there is an error naming the key."""
    value = column.get(key, default)
    if type(value) is not int or not low <= value <= high:
        raise TokenizerError(f"{where}: {key} must be an integer in [{low}, {high}], got {short(value)}")
    return value


def is_finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def short(value) -> str:
    """repr of a value, cut to 60 characters, so a huge field still gives a one-line message."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
