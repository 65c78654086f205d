"""Synthetic-table evaluation: fidelity, detection, utility, privacy, validity, sequential metrics; a report."""

from nemo_tabular.evaluation.api import EvaluationSettings, evaluate
from nemo_tabular.evaluation.errors import EvaluationError
from nemo_tabular.evaluation.forecast import forecast_metrics, quantiles_from_paths, score_forecasts
from nemo_tabular.evaluation.provenance import Provenance

__all__ = [
    "EvaluationError",
    "EvaluationSettings",
    "Provenance",
    "evaluate",
    "forecast_metrics",
    "quantiles_from_paths",
    "score_forecasts",
]
