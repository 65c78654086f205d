"""Statistical fidelity with the SDMetrics QualityReport: overall, Column Shapes and Column Pair Trends."""

from __future__ import annotations

import math

import pandas as pd
from sdmetrics.reports import QualityReport

from nemo_tabular.evaluation.metadata import conform, sdmetrics_metadata

TABLE = "table"


def _score(value: float) -> float | None:
    """A JSON-safe score: NaN (metric not applicable) becomes None."""
    return None if value is None or math.isnan(value) else float(value)


def quality_report(real: pd.DataFrame, synth: pd.DataFrame, kinds: dict[str, str]) -> dict:
    """Run the QualityReport on already-subsampled frames and return its scores as plain data."""
    report = QualityReport()
    report.generate(
        {TABLE: conform(real, kinds)},
        {TABLE: conform(synth, kinds)},
        sdmetrics_metadata(kinds, TABLE),
        verbose=False,
    )
    properties = report.get_properties().set_index("Property")["Score"]
    shapes = report.get_details("Column Shapes", TABLE)
    pairs = report.get_details("Column Pair Trends", TABLE)
    return {
        "overall": _score(report.get_score()),
        "column_shapes": _score(properties.get("Column Shapes")),
        "column_pair_trends": _score(properties.get("Column Pair Trends")),
        "column_shape_details": {
            row["Column"]: {"metric": row["Metric"], "score": _score(row["Score"])}
            for _, row in shapes.iterrows()
        },
        "column_pair_details": [
            {
                "columns": [row["Column 1"], row["Column 2"]],
                "metric": row["Metric"],
                "score": _score(row["Score"]),
            }
            for _, row in pairs.iterrows()
        ],
    }
