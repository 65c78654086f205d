"""Forecast scoring: sMAPE of point forecasts and pinball loss as a CRPS approximation, beside a naive last value.

Frames (long format, one row per entity and time step; keys = group_by + order_by columns):
  history:  keys, target            observed values before the forecast window
  future:   keys, target            the held-out truth inside the window
  forecast: keys, q<level> ...      quantile columns such as q0.1, q0.5, q0.9 (`q{level:g}`); the point
                                    forecast is `median` when present, else q0.5. A `column` column (the
                                    layout scripts/sample.py mode=forecast writes) selects the target's rows.
Sample paths (keys, path id, target) become a forecast frame with `quantiles_from_paths`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from nemo_tabular.columns import as_list
from nemo_tabular.evaluation.errors import EvaluationError

Keys = str | Sequence[str]


def quantile_column(level: float) -> str:
    """Name of the forecast column holding the `level` quantile."""
    return f"q{level:g}"


def quantiles_from_paths(
    paths: pd.DataFrame,
    group_by: Keys,
    order_by: Keys,
    target: str,
    levels: Sequence[float] = (0.1, 0.5, 0.9),
) -> pd.DataFrame:
    """Empirical quantiles over sample paths, one row per entity and time step (the forecast layout)."""
    grouped = paths.groupby(as_list(group_by) + as_list(order_by), sort=True)[target]
    return pd.DataFrame({quantile_column(level): grouped.quantile(level) for level in levels}).reset_index()


def smape(actual: np.ndarray, predicted: np.ndarray) -> float:
    """Mean of 2|F - A| / (|A| + |F|), in [0, 2]; a point where both are 0 counts as 0."""
    denominator = np.abs(actual) + np.abs(predicted)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(denominator > 0, 2 * np.abs(predicted - actual) / denominator, 0.0)
    return float(terms.mean())


def pinball_loss(actual: np.ndarray, predicted: np.ndarray, level: float) -> float:
    """Mean quantile loss: level * (A - F) when under-forecasting, (1 - level) * (F - A) when over."""
    error = actual - predicted
    return float(np.mean(np.maximum(level * error, (level - 1) * error)))


def _scores(actual: np.ndarray, point: np.ndarray, quantiles: dict[float, np.ndarray]) -> dict:
    """sMAPE of the point forecast, mean pinball loss over levels, and CRPS ~ 2 x that mean."""
    mean_loss = float(np.mean([pinball_loss(actual, values, level) for level, values in quantiles.items()]))
    return {"smape": smape(actual, point), "mean_quantile_loss": mean_loss, "crps": 2 * mean_loss}


def quantile_levels(forecast: pd.DataFrame) -> list[float]:
    """Levels in (0, 1) present as q<level> columns."""
    levels = []
    for name in forecast.columns:
        try:
            level = float(name[1:]) if isinstance(name, str) and name.startswith("q") else None
        except ValueError:
            level = None
        if level is not None and 0 < level < 1:
            levels.append(level)
    return sorted(levels)


def _skill(model: float, naive: float) -> float | None:
    """1 - model / naive: positive when the model beats the naive forecast."""
    return 1 - model / naive if naive > 0 else None


def _check_columns(frame: pd.DataFrame, role: str, needed: list[str]) -> None:
    """Fail naming the frame and the columns it lacks."""
    missing = [name for name in needed if name not in frame.columns]
    if missing:
        raise EvaluationError(f"{role} frame lacks columns {missing}; has {list(frame.columns)}")


def score_forecasts(
    future: pd.DataFrame,
    forecast: pd.DataFrame,
    history: pd.DataFrame,
    *,
    group_by: Keys,
    order_by: Keys,
    target: str,
) -> dict:
    """Score quantile forecasts of `target` against the held-out future, beside history's last value."""
    group_by, order_by = as_list(group_by), as_list(order_by)
    keys = group_by + order_by
    _check_columns(future, "future", keys + [target])
    _check_columns(history, "history", keys + [target])
    _check_columns(forecast, "forecast", keys)
    if "column" in forecast.columns:
        forecast = forecast[forecast["column"] == target]
    levels = quantile_levels(forecast)
    point_column = "median" if "median" in forecast.columns else quantile_column(0.5)
    if not levels or point_column not in forecast.columns:
        raise EvaluationError(
            f"forecast needs q<level> columns and a 'median' or 'q0.5' column; has {list(forecast.columns)}"
        )
    columns = list(dict.fromkeys([point_column, *map(quantile_column, levels)]))
    if forecast.duplicated(keys).any():
        raise EvaluationError(f"forecast has more than one row per {keys} for {target!r}")
    joined = future[keys + [target]].merge(forecast[keys + columns], on=keys, how="left")
    unforecast = joined[columns].isna().any(axis=1).to_numpy()
    if unforecast.any():
        first = joined.loc[unforecast, keys].iloc[0].tolist()
        raise EvaluationError(
            f"forecast misses {int(unforecast.sum())} future points of {target!r}; first {keys} = {first}"
        )
    last_values = history.sort_values(keys, kind="stable").groupby(group_by)[target].last().rename("_naive")
    joined = joined.merge(last_values, left_on=group_by, right_index=True, how="left")
    naive = joined["_naive"].to_numpy(dtype="float64")
    if np.isnan(naive).any():
        entity = joined.loc[np.isnan(naive), group_by].iloc[0].tolist()
        raise EvaluationError(f"history has no {target!r} value for {group_by} = {entity}")
    actual = joined[target].to_numpy(dtype="float64")
    quantiles = {level: joined[quantile_column(level)].to_numpy(dtype="float64") for level in levels}
    model = _scores(actual, joined[point_column].to_numpy(dtype="float64"), quantiles)
    baseline = _scores(actual, naive, {level: naive for level in levels})
    return {
        "target": target,
        "points": int(len(joined)),
        "quantiles": levels,
        "model": model,
        "naive_last_value": baseline,
        "skill_vs_naive": {name: _skill(model[name], baseline[name]) for name in ("smape", "crps")},
    }
