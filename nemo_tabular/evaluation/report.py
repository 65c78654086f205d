"""Write metrics.json (schema in README.md next to this file) and a self-contained report.html, atomically."""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from nemo_tabular.io import write_text

SCHEMA_VERSION = 3  # 2: detection; 3: validity against the training split alone (method, definition)
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
    """A cell value: floats to 4 significant digits, None as an em dash."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(str(value))


def _flatten(section: dict, prefix: str = "") -> list[tuple[str, Any]]:
    """Nested dict as (dotted key, value) rows; lists shown inline."""
    rows = []
    for key, value in section.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            rows.extend(_flatten(value, f"{name}."))
        else:
            rows.append((name, value))
    return rows


def _table(rows: list[tuple], header: tuple[str, ...]) -> str:
    """An HTML table from rows of cells."""
    head = "".join(f"<th>{html.escape(name)}</th>" for name in header)
    body = "".join("<tr>" + "".join(f"<td>{_format(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _image(encoded: str, css_class: str, label: str) -> str:
    """An inline PNG figure with a caption."""
    label = html.escape(label)
    image = f'<img class="{css_class}" alt="{label}" src="data:image/png;base64,{encoded}">'
    return f"<figure>{image}<figcaption>{label}</figcaption></figure>"


def _fidelity_section(fidelity: dict) -> str:
    """Fidelity scores, per-column shape scores and per-pair trend scores."""
    scores = [(name, fidelity[name]) for name in ("overall", "column_shapes", "column_pair_trends")]
    shapes = [
        (name, detail["metric"], detail["score"]) for name, detail in fidelity["column_shape_details"].items()
    ]
    pairs = [
        (" / ".join(pair["columns"]), pair["metric"], pair["score"])
        for pair in fidelity["column_pair_details"]
    ]
    return (
        _table(scores, ("score", "value"))
        + "<h3>Column shapes</h3>"
        + _table(shapes, ("column", "metric", "score"))
        + "<h3>Column pair trends</h3>"
        + _table(pairs, ("columns", "metric", "score"))
    )


def _detection_section(detection: dict) -> str:
    """The detection score and AUC, with how to read them."""
    note = (
        "<p>A gradient-boosting classifier, cross-validated, tells holdout rows from synthetic rows "
        "(each row on its own). Score = 2 &times; (1 &minus; max(AUC, 0.5)): 1 = indistinguishable, "
        "0 = every synthetic row detected.</p>"
    )
    scores = [("detection score", detection["score"]), ("ROC AUC (out-of-fold)", detection["roc_auc"])]
    details = [(name, value) for name, value in _flatten(detection) if name not in ("score", "roc_auc")]
    return note + _table(scores + details, ("metric", "value"))


def _validity_section(validity: dict) -> str:
    """The valid share and each column's invalid share, under the one definition they share."""
    definition = validity.get("definition", "")
    note = f"<p>Against the training split: {html.escape(definition)}.</p>" if definition else ""
    rows = [("valid_share", validity["valid_share"])] + [
        (f"column_invalid_share.{name}", share) for name, share in validity["column_invalid_share"].items()
    ]
    return note + _table(rows, ("metric", "value"))


FORECAST_METHODS = {"model": "ours", "seasonal_naive": "SeasonalNaive", "auto_ets": "AutoETS",
                    "auto_arima": "AutoARIMA"}


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
    skipped = "".join(f"<p>Skipped {FORECAST_METHODS.get(name, name)}: {html.escape(str(reason))}</p>"
                      for name, reason in forecast["baselines"]["skipped"].items())
    overall = [(FORECAST_METHODS.get(name, name), scores["mase"], scores["scaled_crps"], scores["coverage"],
                scores.get("fallbacks")) for name, scores in forecast["overall"].items()]
    columns = [(column, FORECAST_METHODS.get(name, name), result["points"], result[name]["mase"],
                result[name]["crps"], result[name]["scaled_crps"], result[name]["coverage"])
               for column, result in forecast["columns"].items() for name in methods]
    excluded = [(column, reason, count) for column, result in forecast["columns"].items()
                for reason, count in result["excluded"].items()]
    return (
        note + skipped + _table(overall, ("method", "MASE", "scaled CRPS", "coverage", "fallbacks"))
        + _table(columns, ("column", "method", "points", "MASE", "CRPS", "scaled CRPS", "coverage"))
        + (_table(excluded, ("column", "left out", "count")) if excluded else "")
    )


def render_html(metrics: dict, column_images: dict[str, str], heatmap: str | None) -> str:
    """The whole report as one HTML page with every figure embedded."""
    sections = [
        f"<h2>Fidelity (SDMetrics column shapes and pair trends)</h2>{_fidelity_section(metrics['fidelity'])}",
        f"<h2>Detection (classifier two-sample test)</h2>{_detection_section(metrics['detection'])}",
    ]
    for key, title in (
        ("utility", "Utility (train synthetic, test real)"),
        ("privacy", "Privacy (distance to closest record)"),
    ):
        if metrics[key] is not None:
            sections.append(f"<h2>{title}</h2>" + _table(_flatten(metrics[key]), ("metric", "value")))
    sections.append(f"<h2>Validity</h2>{_validity_section(metrics['validity'])}")
    for key, title in (("sequential", "Sequential structure"),):
        if metrics[key] is not None:
            rows = {name: value for name, value in metrics[key].items() if name != "forecast"}
            sections.append(f"<h2>{title}</h2>" + _table(_flatten(rows), ("metric", "value"))
                            + _forecast_section(metrics[key].get("forecast")))
    sections.append(
        "<h2>Inputs and settings</h2>"
        + _table(_flatten({"inputs": metrics["inputs"], "settings": metrics["settings"]}), ("key", "value"))
    )
    figures = "".join(
        _image(encoded, "column-plot", f"column {name}") for name, encoded in column_images.items()
    )
    if heatmap is not None:
        figures += _image(heatmap, "association-heatmap", "association difference (real - synthetic)")
    style = (
        "body{font-family:sans-serif;margin:2em;max-width:1200px}"
        "table{border-collapse:collapse;margin:.5em 0}"
        "td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}figure{display:inline-block;margin:4px}"
    )
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Synthetic data evaluation</title>"
        f"<style>{style}</style></head>"
        f"<body><h1>Synthetic data evaluation</h1>{''.join(sections)}"
        f"<h2>Figures</h2>{figures}</body></html>\n"
    )


def write_report(metrics: dict, column_images: dict[str, str], heatmap: str | None, out_dir: Path) -> None:
    """Write metrics.json and report.html into out_dir."""
    metrics = json_safe(metrics)
    write_metrics(metrics, out_dir / "metrics.json")
    write_text(out_dir / "report.html", render_html(metrics, column_images, heatmap))
