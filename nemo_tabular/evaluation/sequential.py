"""Sequential tables: per-entity length and lag-1 autocorrelation, real vs synthetic."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp

from nemo_tabular.evaluation.metadata import as_numbers, numeric_columns


def entity_lengths(frame: pd.DataFrame, group_by: list[str]) -> np.ndarray:
    """Number of rows of each entity."""
    return frame.groupby(group_by, sort=False, dropna=False).size().to_numpy()


def _summary(lengths: np.ndarray) -> dict:
    """Count, mean, spread and range of entity lengths."""
    return {
        "entities": int(lengths.size),
        "mean": float(lengths.mean()),
        "std": float(lengths.std()),
        "min": int(lengths.min()),
        "median": float(np.median(lengths)),
        "max": int(lengths.max()),
    }


def length_distribution(real: pd.DataFrame, synth: pd.DataFrame, group_by: list[str]) -> dict:
    """Entity-length summaries of both tables and 1 - KS statistic between them (1 = same distribution)."""
    real_lengths, synth_lengths = entity_lengths(real, group_by), entity_lengths(synth, group_by)
    return {
        "real": _summary(real_lengths),
        "synthetic": _summary(synth_lengths),
        "ks_complement": float(1 - ks_2samp(real_lengths, synth_lengths).statistic),
    }


def lag1_autocorrelation(frame: pd.DataFrame, column: str, group_by: list[str], order_by: list[str]) -> float | None:
    """Mean over entities of the lag-1 autocorrelation of `column` (entities with >= 3 values, some spread).

    Per entity: sum_t (x_t - mean)(x_{t-1} - mean) / sum_t (x_t - mean)^2 over its non-missing values.
    """
    ordered = frame.sort_values(group_by + order_by, kind="stable")
    entity = ordered.groupby(group_by, sort=False, dropna=False).ngroup().to_numpy()
    values = pd.DataFrame({"entity": entity, "x": as_numbers(ordered[column])}).dropna()
    deviation = values["x"] - values.groupby("entity", sort=False)["x"].transform("mean")
    previous = deviation.groupby(values["entity"], sort=False).shift(1)
    parts = pd.DataFrame({"entity": values["entity"], "lagged": deviation * previous, "squared": deviation**2})
    sums = parts.groupby("entity", sort=False).agg(
        lagged=("lagged", "sum"), squared=("squared", "sum"), n=("squared", "size")
    )
    usable = sums[(sums["n"] >= 3) & (sums["squared"] > 0)]
    return float((usable["lagged"] / usable["squared"]).mean()) if len(usable) else None


def autocorrelation_comparison(
    real: pd.DataFrame, synth: pd.DataFrame, kinds: dict[str, str], group_by: list[str], order_by: list[str]
) -> dict:
    """Lag-1 autocorrelation per numeric non-key column, real vs synthetic, and their absolute difference."""
    result = {}
    for column in numeric_columns(kinds):
        if column in group_by or column in order_by:
            continue
        real_value = lag1_autocorrelation(real, column, group_by, order_by)
        synth_value = lag1_autocorrelation(synth, column, group_by, order_by)
        difference = abs(real_value - synth_value) if real_value is not None and synth_value is not None else None
        result[column] = {"real": real_value, "synthetic": synth_value, "abs_diff": difference}
    return result


def sequential_metrics(
    real: pd.DataFrame, synth: pd.DataFrame, kinds: dict[str, str], group_by: list[str], order_by: list[str]
) -> dict:
    """All sequential-table metrics for metrics.json; rows keep their file order when order_by is empty."""
    return {
        "group_by": group_by,
        "order_by": order_by,
        "length": length_distribution(real, synth, group_by),
        "lag1_autocorrelation": autocorrelation_comparison(real, synth, kinds, group_by, order_by),
    }


def with_forecast(sequential: dict | None, forecast: dict, group_by: list[str], order_by: list[str]) -> dict:
    """The sequential section with forecast scores (evaluation.forecast.forecast_metrics) under `forecast`.

    A single series (order_by without group_by) has no entity-length or autocorrelation comparison, so its
    section holds only the keys and the forecast.
    """
    section = dict(sequential) if sequential is not None else {"group_by": group_by, "order_by": order_by}
    section["forecast"] = forecast
    return section
