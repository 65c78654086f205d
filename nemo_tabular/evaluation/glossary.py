"""Plain names and one-line explanations of the metrics, and why a value can be missing, for report.html.

Keys are metrics.json paths with a column's name left out, so the report shows "DCR share: share of
synthetic rows nearer a training row than a holdout row; 0.5 is ideal" where metrics.json says
privacy.dcr_share_closer_to_train.
"""

from __future__ import annotations

from nemo_tabular.evaluation.fidelity import (
    CONSTANT_COLUMN,
    NO_REAL_TREND,
    REAL_ASSOCIATION_THRESHOLD,
    REAL_CORRELATION_THRESHOLD,
)

METRICS: dict[str, tuple[str, str]] = {
    "fidelity.overall": (
        "Quality score",
        (
            "mean of column shapes and column pair trends (SDMetrics QualityReport), each table against the training "
            "rows; 1 = the same distributions"
        ),
    ),
    "fidelity.column_shapes": (
        "Column shapes",
        (
            "each column's distribution against the training rows' (1 - Kolmogorov-Smirnov distance for numbers and "
            "dates, 1 - total variation distance for categories), averaged"
        ),
    ),
    "fidelity.column_pair_trends": (
        "Column pair trends",
        (
            "each pair's correlation or contingency table against the training rows', averaged over the pairs that "
            "have a real trend"
        ),
    ),
    "detection.roc_auc": (
        "Detection AUC",
        (
            "out-of-fold ROC AUC of a gradient-boosting classifier telling these rows from holdout rows; 0.5 = "
            "indistinguishable, 1 = every row told apart"
        ),
    ),
    "detection.score": ("Detection score", "2 x (1 - max(AUC, 0.5)): 1 = indistinguishable, 0 = every row detected"),
    "utility.ratio": (
        "Utility ratio (TSTR / TRTR)",
        ("1 = a model learns as much from the synthetic rows as from the real ones"),
    ),
    "privacy.dcr_share_closer_to_train": (
        "DCR share",
        (
            "share of rows nearer a training row than a holdout row (equal-size sets); 0.5 is ideal, 1 = copies of "
            "training rows"
        ),
    ),
    "privacy.dcr_p5": (
        "5th-percentile DCR",
        (
            "the distance to the closest training row that 5% of rows fall below; far below the holdout's = rows "
            "closer to training rows than fresh data is"
        ),
    ),
    "privacy.dcr_p5.ratio": (
        "5th-percentile DCR ratio",
        ("synthetic's 5th-percentile DCR over the holdout's; about 1 is good, near 0 = rows on top of training rows"),
    ),
    "privacy.nndr_mean": (
        "Nearest-neighbour distance ratio",
        ("mean of nearest / second-nearest training-row distance; near 0 = each row sits on one training row"),
    ),
    "privacy.exact_copy_rate": ("Exact copies", "share of rows found verbatim in the full training table"),
    "validity.valid_share": (
        "Valid rows",
        ("share of rows whose every value lies within the training split's ranges and categories"),
    ),
    "validity.column_invalid_share": (
        "Invalid values",
        ("share of the column's values outside the training split's range or categories"),
    ),
}

UTILITY_SCORES = {"r2": "R²", "accuracy": "accuracy", "roc_auc": "ROC AUC (macro one-vs-rest)"}
SHAPE_METRICS = {"KSComplement": "1 - KS distance", "TVComplement": "1 - total variation distance"}
PAIR_METRICS = {"CorrelationSimilarity": "correlation similarity", "ContingencySimilarity": "contingency similarity"}


def name(key: str) -> str:
    """A metric's plain name."""
    return METRICS[key][0]


def explanation(key: str) -> str:
    """A metric's one-line explanation."""
    return METRICS[key][1]


def pair_reason(pair: dict) -> str:
    """Why a column pair has no trend score (metrics.json column_pair_details[].reason)."""
    trend = pair.get("real_trend")
    if pair.get("reason") == NO_REAL_TREND:
        if pair.get("metric") == "CorrelationSimilarity":
            measured = f"|Pearson r| {abs(trend):.2f}" if trend is not None else "its correlation"
            return (
                f"not scored: no real trend ({measured} <= {REAL_CORRELATION_THRESHOLD} in the training rows); "
                "pairs without a real trend are not scored"
            )
        measured = f"Cramér's V {trend:.2f}" if trend is not None else "its association"
        return (
            f"not scored: no real trend ({measured} <= {REAL_ASSOCIATION_THRESHOLD} in the training rows); "
            "pairs without a real trend are not scored"
        )
    if pair.get("reason") == CONSTANT_COLUMN:
        return "not scored: a column holds a single value, so the pair has no trend to compare"
    return "not scored: SDMetrics returned no score (too few rows holding both values)"


SINGLE_CLASS = "undefined: the target holds a single class in the rows the model was fitted or tested on, so no ROC AUC"


def utility_reason(real_score: float | None, synthetic_score: float | None, metric: str) -> str:
    """Why a TSTR / TRTR ratio is missing."""
    if real_score is None or synthetic_score is None:
        return SINGLE_CLASS
    return (
        f"undefined: the model trained on real rows scores {real_score:.4g} {UTILITY_SCORES.get(metric, metric)} "
        "(0 or less), so there is nothing to be a share of"
    )
