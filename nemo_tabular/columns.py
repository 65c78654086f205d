"""Column-name settings (group_by, order_by, drop, ...) in one shape, whatever the config or caller gave."""

from __future__ import annotations

from collections.abc import Iterable


def as_list(value: str | Iterable[str] | None) -> list[str]:
    """None, one column name or several names, as a list of names."""
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)
