"""Statistical fidelity with SDMetrics: Column Shapes from its QualityReport, Column Pair Trends pair by pair.

SDMetrics 0.32's QualityReport bins each numeric column of the real and the synthetic table on its own
range before comparing contingency tables, so one outlier missing from an otherwise identical copy drops
a numeric/categorical pair's score to about 0.01. Column Pair Trends is therefore recomputed with the
report's own metrics (CorrelationSimilarity, ContingencySimilarity with bins fitted on the real column)
and its default thresholds: only pairs with a real trend are scored, the others are null.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
from sdmetrics.column_pairs import ContingencySimilarity, CorrelationSimilarity
from sdmetrics.reports import QualityReport

from nemo_tabular.evaluation.metadata import NUMERIC_KINDS, as_numbers, conform, sdmetrics_metadata

TABLE = "table"
REAL_CORRELATION_THRESHOLD = 0.5  # the QualityReport's defaults (sdmetrics.reports.utils)
REAL_ASSOCIATION_THRESHOLD = 0.3


def _score(value: float | None) -> float | None:
    """A JSON-safe score: NaN (metric not applicable) becomes None."""
    return None if value is None or math.isnan(value) else float(value)


def column_shapes(real: pd.DataFrame, synth: pd.DataFrame, kinds: dict[str, str]) -> dict:
    """The QualityReport's Column Shapes score and its per-column metric and score."""
    report = QualityReport()
    report.generate({TABLE: real}, {TABLE: synth}, sdmetrics_metadata(kinds, TABLE), verbose=False)
    properties = report.get_properties().set_index("Property")["Score"]
    details = report.get_details("Column Shapes", TABLE)
    return {
        "score": _score(properties.get("Column Shapes")),
        "details": {
            row["Column"]: {"metric": row["Metric"], "score": _score(row["Score"])}
            for _, row in details.iterrows()
        },
    }


def pair_trend(
    real: pd.DataFrame, synth: pd.DataFrame, first: str, second: str, kinds: dict[str, str]
) -> dict:
    """One pair's similarity: correlation for two numeric columns, contingency (real-fitted bins) otherwise."""
    continuous = [name for name in (first, second) if kinds[name] in NUMERIC_KINDS]
    real_pair, synth_pair = real[[first, second]], synth[[first, second]]
    try:
        if len(continuous) == 2:
            metric = CorrelationSimilarity
            result = metric.compute_breakdown(
                real_pair, synth_pair, real_correlation_threshold=REAL_CORRELATION_THRESHOLD
            )
        else:
            metric = ContingencySimilarity
            result = metric.compute_breakdown(
                real_pair,
                synth_pair,
                continuous_column_names=continuous or None,
                real_association_threshold=REAL_ASSOCIATION_THRESHOLD,
            )
    except ValueError:  # a constant column has no correlation
        result = {"score": np.nan}
    return {"columns": [first, second], "metric": metric.__name__, "score": _score(result["score"])}


def _times_as_numbers(frame: pd.DataFrame, kinds: dict[str, str]) -> pd.DataFrame:
    """Datetime columns as seconds, which the pair metrics can bin and correlate."""
    times = {name: as_numbers(frame[name]) for name, kind in kinds.items() if kind == "datetime"}
    return frame.assign(**times) if times else frame


def quality_report(real: pd.DataFrame, synth: pd.DataFrame, kinds: dict[str, str]) -> dict:
    """Column Shapes, Column Pair Trends and their mean (SDMetrics' overall score) on already-subsampled frames."""
    real, synth = conform(real, kinds), conform(synth, kinds)
    shapes = column_shapes(real, synth, kinds)
    real, synth = _times_as_numbers(real, kinds), _times_as_numbers(synth, kinds)
    pairs = [
        pair_trend(real, synth, first, second, kinds) for first, second in itertools.combinations(kinds, 2)
    ]
    scored = [pair["score"] for pair in pairs if pair["score"] is not None]
    pair_score = float(np.mean(scored)) if scored else None
    properties = [score for score in (shapes["score"], pair_score) if score is not None]
    return {
        "overall": float(np.mean(properties)) if properties else None,
        "column_shapes": shapes["score"],
        "column_pair_trends": pair_score,
        "column_shape_details": shapes["details"],
        "column_pair_details": pairs,
    }
