"""HTML pieces of report.html: escaped text, number cells that name their metrics.json key, tables, figures.

A number cell carries `data-key` (its path in metrics.json, a JSON list of keys and list indices, since a
column's name may hold a dot) and `data-value` (the exact JSON value),
so a test or a reader can check every shown number against metrics.json; an empty value is never a bare
dash: the cell states why it has no value. Every string that comes from the data (column names,
categories, file names, a run's records) is escaped here.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

DASH = "—"


def text(value: Any) -> str:
    """Any value as escaped HTML text."""
    return html.escape(str(value))


def format_number(value: Any) -> str:
    """A number as shown: floats to 4 significant digits, integers with thousands separators."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return text(value)
    return f"{value:,}" if isinstance(value, int) else f"{value:.4g}"


Path = tuple[str | int, ...]


def attribute(value: Any) -> str:
    """A value as JSON, escaped for an HTML attribute."""
    return html.escape(json.dumps(value), quote=True)


@dataclass(frozen=True)
class Value:
    """One shown number: its value, the metrics.json path it comes from, and why it is missing when it is."""

    value: Any
    key: Path | None = None
    reason: str | None = None

    def attributes(self) -> str:
        """data-key and data-value attributes (the value as metrics.json writes it)."""
        key = f' data-key="{attribute(list(self.key))}"' if self.key is not None else ""
        return f'{key} data-value="{attribute(self.value)}"'

    def inner(self) -> str:
        """The formatted value, or a dash and the reason there is none."""
        if self.value is None:
            return f'{DASH} <span class="reason">{text(self.reason or "not recorded")}</span>'
        return format_number(self.value)

    def span(self, css_class: str = "value") -> str:
        """The value as a <span>."""
        return f'<span class="{css_class}"{self.attributes()}>{self.inner()}</span>'

    def cell(self) -> str:
        """The value as a table cell."""
        css = "num" if self.value is not None else "unscored"
        return f'<td class="{css}"{self.attributes()}>{self.inner()}</td>'


def value_at(metrics: dict, key: Path, reason: str | None = None) -> Value:
    """The Value at `key` in metrics (dict keys and list indices), with the reason it may be missing."""
    node: Any = metrics
    for part in key:
        node = node[part]
    return Value(node, key, reason)


Cell = Value | str | int | float | None


def cell(content: Cell) -> str:
    """A table cell: a Value as a number cell, a number formatted, anything else escaped text."""
    if isinstance(content, Value):
        return content.cell()
    if content is None:
        return "<td></td>"
    return f"<td>{format_number(content)}</td>"


def table(header: Sequence[str], rows: Sequence[Sequence[Cell]], css_class: str = "") -> str:
    """An HTML table with a header row."""
    head = "".join(f"<th>{text(name)}</th>" for name in header)
    body = "".join("<tr>" + "".join(cell(content) for content in row) + "</tr>" for row in rows)
    attribute = f' class="{css_class}"' if css_class else ""
    return f"<table{attribute}><tr>{head}</tr>{body}</table>"


def figure(encoded_png: str, css_class: str, label: str, note: str = "") -> str:
    """An inline PNG figure with its caption (and a note under it)."""
    label = text(label)
    image = f'<img class="{css_class}" alt="{label}" src="data:image/png;base64,{encoded_png}">'
    caption = label + (f'<br><span class="note">{text(note)}</span>' if note else "")
    return f"<figure>{image}<figcaption>{caption}</figcaption></figure>"
