"""Field checks for JSON files this project reads back (meta.json, a bundle's config.json).

These files travel with runs and models, so they are input like any other: a hostile count or size
must fail naming its field before anything is sized from it. Each check takes `where` (the file, and
the object inside it) and raises `error` with one line `where: field must be ..., got ...`.
Only the standard library here: meta.json is read while a config is composed, before heavy imports.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from nemo_tabular.errors import UserError

MISSING = object()


def short(value: Any) -> str:
    """repr of a value, cut to 60 characters, so a huge field still gives a one-line message."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def integer(
    data: Mapping, key: str, low: int, high: int, where: str, error: type[UserError] = UserError, default: Any = MISSING
) -> Any:
    """data[key] as an int in [low, high] (a bool or float is refused); `default` where it is absent."""
    value = data.get(key, default)
    if value is MISSING:
        raise error(f"{where}: {key} is missing")
    if value is default and default is not MISSING:
        return value
    if type(value) is not int or not low <= value <= high:
        raise error(f"{where}: {key} must be an integer in [{low}, {high}], got {short(value)}")
    return value


def number(
    data: Mapping,
    key: str,
    low: float,
    high: float,
    where: str,
    error: type[UserError] = UserError,
    default: Any = MISSING,
) -> Any:
    """data[key] as a finite number in [low, high]; `default` where it is absent."""
    value = data.get(key, default)
    if value is MISSING:
        raise error(f"{where}: {key} is missing")
    if value is default and default is not MISSING:
        return value
    if not (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and low <= value <= high
    ):
        raise error(f"{where}: {key} must be a number in [{low:g}, {high:g}], got {short(value)}")
    return value


def text(
    data: Mapping,
    key: str,
    where: str,
    error: type[UserError] = UserError,
    nullable: bool = False,
    max_chars: int = 4096,
) -> Any:
    """data[key] as a non-empty string of at most max_chars (or null where `nullable`); absent counts as null."""
    value = data.get(key)
    if value is None and nullable:
        return None
    if not isinstance(value, str) or not 0 < len(value) <= max_chars:
        extra = " or null" if nullable else ""
        raise error(
            f"{where}: {key} must be a non-empty string of at most {max_chars} characters{extra}, got {short(value)}"
        )
    return value


def names(data: Mapping, key: str, where: str, error: type[UserError] = UserError, max_items: int = 4096) -> list:
    """data[key] as a list of column names (a single name and null are accepted, as the configs allow)."""
    value = data.get(key)
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not (
        isinstance(value, list)
        and len(value) <= max_items
        and all(isinstance(item, str) and 0 < len(item) <= 4096 for item in value)
    ):
        raise error(f"{where}: {key} must be a list of column names, got {short(data.get(key))}")
    return value


def mapping(data: Mapping, key: str, where: str, error: type[UserError] = UserError) -> Mapping:
    """data[key] as an object; absent is an empty one."""
    value = data.get(key, {})
    if not isinstance(value, Mapping):
        raise error(f"{where}: {key} must be an object, got {short(value)}")
    return value
