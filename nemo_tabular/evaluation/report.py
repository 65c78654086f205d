"""Write metrics.json (schema in README.md next to this file) and a self-contained report.html, atomically.

The page opens with the summary cards (summary.py), then each metric family's section (sections.py), the
run's provenance, the settings, the stage timings and the figures (plots.py).
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from nemo_tabular.evaluation import sections
from nemo_tabular.evaluation.plots import ReportFigures
from nemo_tabular.evaluation.summary import summary_cards
from nemo_tabular.io import write_text

# 2: detection; 3: validity against the training split alone (method, definition); 4: holdout references
# (fidelity, detection, privacy, validity), pair-trend reasons, provenance, embedding_audit, timings
SCHEMA_VERSION = 4
METRICS_KEYS = (
    "schema_version",
    "inputs",
    "columns",
    "settings",
    "fidelity",
    "detection",
    "utility",
    "privacy",
    "validity",
    "sequential",
    "provenance",
    "embedding_audit",
    "timings",
)
STYLE = (
    "body{font-family:sans-serif;margin:2em;max-width:1400px}"
    "table{border-collapse:collapse;margin:.5em 0}"
    "td,th{border:1px solid #ccc;padding:2px 8px;text-align:left;vertical-align:top}"
    "td.num{text-align:right;font-variant-numeric:tabular-nums}td.unscored{color:#666}"
    ".reason{font-size:.85em;color:#666}.note{font-size:.85em;color:#555}"
    "figure{display:inline-block;margin:4px;max-width:100%}figcaption{max-width:460px}"
    ".cards{display:flex;flex-wrap:wrap;gap:12px}"
    ".card{border:1px solid #bbb;border-radius:6px;padding:8px 12px;width:250px}"
    ".card h3{margin:0 0 6px}.pair{display:flex;gap:16px}.side{display:flex;flex-direction:column}"
    ".label{font-size:.8em;color:#555}.pair .value{font-size:1.6em;font-weight:bold}"
    ".pair .reference{color:#555}.explain,.detail{font-size:.85em;margin:6px 0 0}"
)


def json_safe(value: Any) -> Any:
    """Plain JSON types throughout: numpy scalars unwrapped, NaN and infinities as null."""
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_metrics(metrics: dict, path: Path) -> None:
    """Write metrics.json in the stable key order it was built in, with no NaN."""
    write_text(path, json.dumps(json_safe(metrics), indent=2, allow_nan=False) + "\n")


def _format(value: Any) -> str:
    """A cell value of the forecast tables: floats to 4 significant digits, None as an em dash."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(str(value))


def _table(rows: list[tuple], header: tuple[str, ...]) -> str:
    """An HTML table from rows of cells (the forecast tables; the other sections use markup.table)."""
    head = "".join(f"<th>{html.escape(name)}</th>" for name in header)
    body = "".join("<tr>" + "".join(f"<td>{_format(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


FORECAST_METHODS = {
    "model": "ours",
    "seasonal_naive": "SeasonalNaive",
    "auto_ets": "AutoETS",
    "auto_arima": "AutoARIMA",
}


def _forecast_section(forecast: dict | None) -> str:
    """Our forecasts beside the statsforecast baselines (evaluation.forecast.forecast_metrics), if scored."""
    if not forecast:
        return ""
    methods = ["model", *forecast["baselines"]["scored"]]
    note = (
        f"<h3>Forecasts against baselines</h3><p>{forecast['entities']} entities, horizon {forecast['horizon']}, "
        f"season length {forecast['season_length']} ({html.escape(forecast['season_length_from'])}). "
        "MASE: mean absolute error over each entity's in-sample seasonal-naive error (below 1 beats that naive "
        "forecast on the history). Scaled CRPS: CRPS over the same scale (for a point forecast it equals MASE). "
        f"Coverage: share of truths inside the central {forecast['interval']:.0%} interval (ideal "
        f"{forecast['interval']:.0%}). CRPS: {html.escape(forecast['crps'])}. Lower MASE and CRPS are better; "
        "overall = mean over columns.</p>"
    )
    skipped = "".join(
        f"<p>Skipped {FORECAST_METHODS.get(name, name)}: {html.escape(str(reason))}</p>"
        for name, reason in forecast["baselines"]["skipped"].items()
    )
    overall = [
        (
            FORECAST_METHODS.get(name, name),
            scores["mase"],
            scores["scaled_crps"],
            scores["coverage"],
            scores.get("fallbacks"),
        )
        for name, scores in forecast["overall"].items()
    ]
    columns = [
        (
            column,
            FORECAST_METHODS.get(name, name),
            result["points"],
            result[name]["mase"],
            result[name]["crps"],
            result[name]["scaled_crps"],
            result[name]["coverage"],
        )
        for column, result in forecast["columns"].items()
        for name in methods
    ]
    excluded = [
        (column, reason, count)
        for column, result in forecast["columns"].items()
        for reason, count in result["excluded"].items()
    ]
    return (
        note
        + skipped
        + _table(overall, ("method", "MASE", "scaled CRPS", "coverage", "fallbacks"))
        + _table(columns, ("column", "method", "points", "MASE", "CRPS", "scaled CRPS", "coverage"))
        + (_table(excluded, ("column", "left out", "count")) if excluded else "")
    )


def render_html(metrics: dict, figures: ReportFigures) -> str:
    """The whole report as one HTML page with every figure embedded."""
    parts = [
        summary_cards(metrics),
        sections.fidelity_section(metrics),
        sections.detection_section(metrics),
        sections.utility_section(metrics),
        sections.privacy_section(metrics, figures),
        sections.validity_section(metrics),
    ]
    if metrics["sequential"] is not None:
        parts.append(sections.sequential_section(metrics) + _forecast_section(metrics["sequential"].get("forecast")))
    parts += [
        sections.provenance_section(metrics),
        sections.audit_section(metrics),
        sections.inputs_section(metrics),
        sections.timings_section(metrics),
        sections.figures_section(figures),
    ]
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Synthetic data evaluation</title>"
        f"<style>{STYLE}</style></head>"
        f"<body><h1>Synthetic data evaluation</h1>{''.join(parts)}</body></html>\n"
    )


def write_report(metrics: dict, figures: ReportFigures, out_dir: Path) -> None:
    """Write metrics.json and report.html into out_dir."""
    metrics = json_safe(metrics)
    write_metrics(metrics, out_dir / "metrics.json")
    write_text(out_dir / "report.html", render_html(metrics, figures))
