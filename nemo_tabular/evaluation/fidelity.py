"""Statistical fidelity with SDMetrics: Column Shapes from its QualityReport, Column Pair Trends pair by pair.

SDMetrics 0.32's QualityReport bins each numeric column of the real and the synthetic table on its own
range before comparing contingency tables, so one outlier missing from an otherwise identical copy drops
a numeric/categorical pair's score to about 0.01. Column Pair Trends is therefore recomputed with the
report's own metrics (CorrelationSimilarity, ContingencySimilarity with bins fitted on the real column)
and its default thresholds: only pairs with a real trend are scored, the others are null. Each pair
records the real trend it was judged by and, when it is not scored, why (`UNSCORED_REASONS`).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
from sdmetrics.column_pairs import ContingencySimilarity, CorrelationSimilarity
from sdmetrics.errors import ConstantInputError
from sdmetrics.reports import QualityReport

from nemo_tabular.evaluation.metadata import NUMERIC_KINDS, as_numbers, conform, sdmetrics_metadata

TABLE = "table"
REAL_CORRELATION_THRESHOLD = 0.5  # the QualityReport's defaults (sdmetrics.reports.utils)
REAL_ASSOCIATION_THRESHOLD = 0.3
# Why a pair has no score: the report states each one beside the pair.
NO_REAL_TREND = "no_real_trend"  # |Pearson r| <= 0.5 or Cramer's V <= 0.3 in the real rows: nothing to keep
CONSTANT_COLUMN = "constant_column"  # a column holds one value on a side, so it has no trend at all
UNDEFINED = "undefined"  # SDMetrics returned NaN otherwise (e.g. too few rows holding both values)
UNSCORED_REASONS = (NO_REAL_TREND, CONSTANT_COLUMN, UNDEFINED)


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
            row["Column"]: {"metric": row["Metric"], "score": _score(row["Score"])} for _, row in details.iterrows()
        },
    }


def _unscored_reason(score: float | None, real_trend: float | None, threshold: float) -> str | None:
    """Why a pair has no score (None when it has one), from the real trend SDMetrics measured."""
    if score is not None:
        return None
    if real_trend is None:
        return CONSTANT_COLUMN  # SDMetrics measures no trend in a pair with a single value
    return NO_REAL_TREND if abs(real_trend) <= threshold else UNDEFINED


def pair_trend(real: pd.DataFrame, synth: pd.DataFrame, first: str, second: str, kinds: dict[str, str]) -> dict:
    """One pair's similarity: correlation for two numeric columns, contingency (real-fitted bins) otherwise.

    Also the real trend it is judged by (Pearson r, or Cramer's V) and, for a pair left unscored, the
    reason: one of UNSCORED_REASONS.
    """
    continuous = [name for name in (first, second) if kinds[name] in NUMERIC_KINDS]
    real_pair, synth_pair = real[[first, second]], synth[[first, second]]
    if len(continuous) == 2:
        metric, trend_key, threshold = CorrelationSimilarity, "real", REAL_CORRELATION_THRESHOLD
        options = {"real_correlation_threshold": threshold}
    else:
        metric, trend_key, threshold = ContingencySimilarity, "real_association", REAL_ASSOCIATION_THRESHOLD
        options = {"continuous_column_names": continuous or None, "real_association_threshold": threshold}
    try:
        result = metric.compute_breakdown(real_pair, synth_pair, **options)
    except (ConstantInputError, ValueError):  # a correlation of a constant column (either side), too few rows
        constant = any(frame[name].nunique() <= 1 for frame in (real_pair, synth_pair) for name in (first, second))
        return {
            "columns": [first, second],
            "metric": metric.__name__,
            "score": None,
            "real_trend": None,
            "reason": CONSTANT_COLUMN if constant else UNDEFINED,
        }
    score, real_trend = _score(result["score"]), _score(result.get(trend_key))
    return {
        "columns": [first, second],
        "metric": metric.__name__,
        "score": score,
        "real_trend": real_trend,
        "reason": _unscored_reason(score, real_trend, threshold),
    }


def _times_as_numbers(frame: pd.DataFrame, kinds: dict[str, str]) -> pd.DataFrame:
    """Datetime columns as seconds, which the pair metrics can bin and correlate."""
    times = {name: as_numbers(frame[name]) for name, kind in kinds.items() if kind == "datetime"}
    return frame.assign(**times) if times else frame


def quality_report(real: pd.DataFrame, synth: pd.DataFrame, kinds: dict[str, str]) -> dict:
    """Column Shapes, Column Pair Trends and their mean (SDMetrics' overall score) on already-subsampled frames."""
    real, synth = conform(real, kinds), conform(synth, kinds)
    shapes = column_shapes(real, synth, kinds)
    real, synth = _times_as_numbers(real, kinds), _times_as_numbers(synth, kinds)
    pairs = [pair_trend(real, synth, first, second, kinds) for first, second in itertools.combinations(kinds, 2)]
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
