"""Forecast scoring.

Two entry points:

- `score_forecasts`: sMAPE of point forecasts and pinball loss as a CRPS approximation, beside a naive last
  value, for one target column (the original, unchanged scorer).
- `forecast_metrics`: the forecasting field's comparison. Our forecasts and the statsforecast baselines
  (SeasonalNaive, AutoETS, AutoARIMA, each fitted on every entity's own history) are scored with MASE,
  CRPS, scaled CRPS and interval coverage per column and overall; `evaluate(..., forecast=...)` puts the
  result in metrics.json under `sequential.forecast` and the report shows it in its sequential section.

Frames (long format, one row per entity and time step; keys = group_by + order_by columns):
  history:  keys, target            observed values before the forecast window
  future:   keys, target            the held-out truth inside the window
  forecast: keys, q<level> ...      quantile columns such as q0.1, q0.5, q0.9 (`q{level:g}`); the point
                                    forecast is `median` when present, else q0.5. A `column` column (the
                                    layout scripts/sample.py mode=forecast writes) selects the target's rows.
Sample paths (keys, path id, target) become a forecast frame with `quantiles_from_paths`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

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


# ---------------------------------------------------------------------------------------------------------
# forecast_metrics: our forecasts against SeasonalNaive, AutoETS and AutoARIMA, by MASE and CRPS
# ---------------------------------------------------------------------------------------------------------

PATH_COLUMN = "path"  # the columns sampling/forecast.py writes (not imported: that module needs torch)
STEP_COLUMN = "step"
MODEL = "model"  # our forecast's name in the result
BASELINES = ("seasonal_naive", "auto_ets", "auto_arima")
STATSFORECAST_NAMES = {"seasonal_naive": "SeasonalNaive", "auto_ets": "AutoETS", "auto_arima": "AutoARIMA"}
MIN_HISTORY = 3  # values an entity's history needs for a MASE scale and a baseline fit
# pandas frequency prefixes -> the usual season length of data at that frequency
SEASONS_OF_FREQUENCY = (
    ("Q", 4),
    ("BQ", 4),
    ("M", 12),
    ("BM", 12),
    ("W", 52),
    ("B", 5),
    ("D", 7),
    ("h", 24),
    ("H", 24),
    ("Y", 1),
    ("A", 1),
    ("BY", 1),
    ("BA", 1),
)


def infer_season_length(history: pd.DataFrame, group_by: Keys, order_by: Keys) -> tuple[int, str]:
    """The season length m of the series, and the reason, from the order_by columns alone.

    - several order_by columns (e.g. [year, month], [year, quarter]): the innermost column cycles inside
      the outer one, so m = its number of distinct values in the history (12 months, 4 quarters);
    - one datetime column: m from its frequency (monthly 12, quarterly 4, weekly 52, daily 7, business
      daily 5, hourly 24, yearly 1), inferred on the longest entity's history;
    - anything else (a plain counter or year, no order_by, an irregular date): 1, no season.
    Callers that know better pass `season_length=` to forecast_metrics.
    """
    group_by, order_by = as_list(group_by), as_list(order_by)
    if len(order_by) >= 2:
        inner = order_by[-1]
        distinct = pd.to_numeric(history[inner], errors="coerce").dropna().nunique()
        if distinct >= 2:
            return int(distinct), f"order_by {inner!r} cycles through {distinct} values"
        return 1, f"order_by {inner!r} holds fewer than two values"
    if len(order_by) == 1 and pd.api.types.is_datetime64_any_dtype(history[order_by[0]]):
        column = order_by[0]
        groups = history.groupby(group_by, sort=False)[column] if group_by else [(None, history[column])]
        longest = max((dates for _, dates in groups), key=len)
        dates = pd.DatetimeIndex(longest.dropna().sort_values().unique()[-60:])
        frequency = pd.infer_freq(dates) if len(dates) >= 3 else None
        if frequency is None:
            return 1, f"order_by {column!r} has no regular frequency"
        code = pd.tseries.frequencies.to_offset(frequency).name.split("-")[0]
        for prefix, season in sorted(SEASONS_OF_FREQUENCY, key=lambda item: -len(item[0])):
            if code.startswith(prefix):
                return season, f"order_by {column!r} has frequency {frequency}"
        return 1, f"order_by {column!r} has frequency {frequency}, with no usual season"
    return 1, "no cyclic order_by column"


def mase_scale(values: np.ndarray, season: int) -> float:
    """Mean absolute in-sample seasonal-naive error, mean |y_t - y_{t-m}|: the MASE denominator."""
    return float(np.mean(np.abs(values[season:] - values[:-season])))


def _trailing_run(values: np.ndarray) -> np.ndarray:
    """The most recent stretch without missing values (histories that start late, e.g. listings)."""
    missing = np.flatnonzero(~np.isfinite(values))
    return values[missing[-1] + 1 :] if len(missing) else values


def crps_from_samples(samples: np.ndarray, actual: np.ndarray) -> np.ndarray:
    """CRPS of each row's empirical distribution of samples (NaN samples ignored) against its actual value.

    CRPS(F, y) = E|X - y| - E|X - X'| / 2 with X, X' ~ F; for n sorted samples E|X - X'| =
    2 / n^2 * sum_i (2i - n - 1) x_(i), so each row costs a sort, not n^2 pairs.
    """
    ordered = np.sort(samples, axis=1)  # NaN last
    valid = np.isfinite(ordered)
    n = valid.sum(axis=1)
    values = np.where(valid, ordered, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        spread = np.where(valid, np.abs(ordered - actual[:, None]), 0.0).sum(axis=1) / n
        rank = np.arange(1, samples.shape[1] + 1)[None, :]
        weights = np.where(valid, 2 * rank - n[:, None] - 1, 0)
        return spread - (weights * values).sum(axis=1) / n.astype(np.float64) ** 2


def crps_gaussian(mean: np.ndarray, sigma: np.ndarray, actual: np.ndarray) -> np.ndarray:
    """Closed-form CRPS of N(mean, sigma^2): sigma * (z (2 Phi(z) - 1) + 2 phi(z) - 1/sqrt(pi)); |y - mean| at 0."""
    from scipy.stats import norm

    with np.errstate(invalid="ignore", divide="ignore"):
        z = (actual - mean) / sigma
        spread = sigma * (z * (2 * norm.cdf(z) - 1) + 2 * norm.pdf(z) - 1 / np.sqrt(np.pi))
    return np.where(sigma > 0, spread, np.abs(actual - mean))


def crps_from_quantiles(quantiles: dict[float, np.ndarray], actual: np.ndarray) -> np.ndarray:
    """CRPS ~ 2 x the mean pinball loss over the given levels, per point (exact as the levels fill (0, 1))."""
    losses = []
    for level, values in quantiles.items():
        error = actual - values
        losses.append(np.maximum(level * error, (level - 1) * error))
    return 2 * np.mean(losses, axis=0)


@dataclass
class _Predictive:
    """Forecast distributions at the scored points: sample paths, quantiles, or Gaussian (mean, sigma)."""

    point: np.ndarray
    low: np.ndarray | None  # the central interval's ends, None where the forecast does not give them
    high: np.ndarray | None
    samples: np.ndarray | None = None
    quantiles: dict[float, np.ndarray] | None = None
    sigma: np.ndarray | None = None

    def crps(self, actual: np.ndarray) -> np.ndarray:
        """Per-point CRPS by the form this forecast allows (see forecast_metrics for the approximations)."""
        if self.samples is not None:
            return crps_from_samples(self.samples, actual)
        if self.quantiles is not None:
            return crps_from_quantiles(self.quantiles, actual)
        return crps_gaussian(self.point, self.sigma, actual)

    def take(self, keep: np.ndarray) -> _Predictive:
        """The same forecast at the points `keep` selects."""
        pick = lambda values: None if values is None else values[keep]  # noqa: E731
        quantiles = None if self.quantiles is None else {q: v[keep] for q, v in self.quantiles.items()}
        return _Predictive(
            pick(self.point), pick(self.low), pick(self.high), pick(self.samples), quantiles, pick(self.sigma)
        )


def _interval_levels(interval: float) -> tuple[float, float]:
    """The quantile levels bounding the central `interval` (0.9 -> 0.05, 0.95)."""
    return round((1 - interval) / 2, 10), round((1 + interval) / 2, 10)


def _model_predictive(
    forecast: pd.DataFrame, points: pd.DataFrame, join: list[str], column: str, interval: float
) -> _Predictive:
    """Our forecast at every scored point: from sample paths (a `path` column) or the summary's quantiles."""
    low_level, high_level = _interval_levels(interval)
    if PATH_COLUMN in forecast.columns:
        draws = points[join + ["_point"]].merge(forecast[join + [PATH_COLUMN, column]], on=join, how="inner")
        counts = np.bincount(draws["_point"].to_numpy(), minlength=len(points))
        if (counts == 0).any():
            first = points.loc[counts == 0, join].iloc[0].tolist()
            raise EvaluationError(
                f"forecast paths miss {int((counts == 0).sum())} future points of {column!r}; first {join} = {first}"
            )
        draws = draws.sort_values(["_point", PATH_COLUMN], kind="stable")
        slot = draws.groupby("_point", sort=False).cumcount().to_numpy()
        samples = np.full((len(points), counts.max()), np.nan)
        samples[draws["_point"].to_numpy(), slot] = pd.to_numeric(draws[column], errors="coerce").to_numpy(float)
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: left out by the caller
            point = np.nanmedian(samples, axis=1)
            low, high = np.nanquantile(samples, [low_level, high_level], axis=1)
        return _Predictive(point, low, high, samples=samples)
    if "column" not in forecast.columns:
        raise EvaluationError(
            "forecast needs sample paths (a 'path' column, as forecast.paths_out writes) or the "
            f"summary layout (a 'column' column and q<level> columns); has {list(forecast.columns)}"
        )
    rows = forecast[forecast["column"] == column]
    levels = quantile_levels(rows)
    point_column = "median" if "median" in rows.columns else quantile_column(0.5)
    if not levels or point_column not in rows.columns:
        raise EvaluationError(
            f"forecast needs q<level> columns and a 'median' or 'q0.5' column; has {list(forecast.columns)}"
        )
    if rows.duplicated(join).any():
        raise EvaluationError(f"forecast has more than one row per {join} for {column!r}")
    wanted = list(dict.fromkeys([point_column, *map(quantile_column, levels)]))
    joined = points[join].merge(rows[join + wanted], on=join, how="left")
    unforecast = joined[wanted].isna().all(axis=1).to_numpy()
    if unforecast.any():
        first = joined.loc[unforecast, join].iloc[0].tolist()
        raise EvaluationError(
            f"forecast misses {int(unforecast.sum())} future points of {column!r}; first {join} = {first}"
        )
    quantiles = {level: joined[quantile_column(level)].to_numpy(float) for level in levels}
    low = next((values for level, values in quantiles.items() if np.isclose(level, low_level)), None)
    high = next((values for level, values in quantiles.items() if np.isclose(level, high_level)), None)
    if low is None or high is None:
        low = high = None
    return _Predictive(joined[point_column].to_numpy(float), low, high, quantiles=quantiles)


def _statsforecast_models() -> tuple[dict | None, str | None]:
    """The statsforecast model classes by our baseline name, or None and why they are unavailable."""
    try:
        from statsforecast import models
    except ImportError as err:
        return None, f"statsforecast is not installed ({err}); pip install statsforecast"
    return {name: getattr(models, cls) for name, cls in STATSFORECAST_NAMES.items()}, None


def _baseline(
    models: dict, name: str, values: np.ndarray, horizon: int, season: int, interval: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, bool]:
    """One baseline's mean, sigma and central interval for the next `horizon` steps, and whether it fell back.

    A fit that fails (too short, degenerate) or gives non-finite numbers falls back to SeasonalNaive, as
    statsforecast's own fallback_model does. sigma is read off the interval, which these models build
    as mean +- z * sigma: sigma = (hi - lo) / (2 z).
    """
    level = int(round(interval * 100))
    fell_back = False
    for candidate in (name, "seasonal_naive"):
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                out = models[candidate](season_length=season).forecast(y=values, h=horizon, level=[level])
            mean = np.asarray(out["mean"], dtype=float)
            low = np.asarray(out[f"lo-{level}"], dtype=float)
            high = np.asarray(out[f"hi-{level}"], dtype=float)
        except Exception:  # noqa: BLE001 - any statsforecast failure on one series means: fall back
            mean = low = high = np.full(horizon, np.nan)
        if np.isfinite(mean).all():
            break
        fell_back = True
    from scipy.stats import norm

    sigma = (high - low) / (2 * norm.ppf((1 + interval) / 2))
    sigma = np.where(np.isfinite(sigma) & (sigma > 0), sigma, 0.0)
    low, high = np.where(np.isfinite(low), low, mean), np.where(np.isfinite(high), high, mean)
    return mean, sigma, low, high, fell_back


def _method_scores(actual: np.ndarray, scale: np.ndarray, predictive: _Predictive) -> dict:
    """MASE, CRPS (column units), scaled CRPS and interval coverage of one method on the scored points."""
    crps = predictive.crps(actual)
    covered = None
    if predictive.low is not None:
        covered = float(np.mean((actual >= predictive.low) & (actual <= predictive.high)))
    return {
        "mase": float(np.mean(np.abs(actual - predictive.point) / scale)),
        "crps": float(np.mean(crps)),
        "scaled_crps": float(np.mean(crps / scale)),
        "coverage": covered,
    }


def _numeric_columns(frame: pd.DataFrame, exclude: set[str]) -> list[str]:
    """Numeric, non-boolean columns of `frame` other than `exclude`."""
    return [
        name
        for name in frame.columns
        if name not in exclude
        and pd.api.types.is_numeric_dtype(frame[name])
        and not pd.api.types.is_bool_dtype(frame[name])
    ]


def _entities(frame: pd.DataFrame, group_by: list[str]):
    """(entity key tuple, rows) for each entity; one entity, key (), without group_by."""
    if not group_by:
        return [((), frame)]
    return [(key if isinstance(key, tuple) else (key,), rows) for key, rows in frame.groupby(group_by, sort=False)]


def _forecast_columns(forecast: pd.DataFrame) -> set[str]:
    """The columns a forecast frame has values for: path columns, or the summary's `column` labels."""
    if PATH_COLUMN in forecast.columns or "column" not in forecast.columns:
        return set(map(str, forecast.columns))
    return set(map(str, forecast["column"].unique()))


def forecast_metrics(
    history: pd.DataFrame,
    future: pd.DataFrame,
    forecast: pd.DataFrame,
    *,
    group_by: Keys,
    order_by: Keys,
    columns: Sequence[str] | None = None,
    season_length: int | None = None,
    interval: float = 0.9,
    baselines: Sequence[str] = BASELINES,
    progress: bool = False,
) -> dict:
    """Our forecast and the statsforecast baselines, scored per column and overall (metrics.json's
    `sequential.forecast`).

    history:  every entity's rows before the forecast window (keys and value columns).
    future:   the truth, the next rows of each entity (step k = its k-th row after the history).
    forecast: sample paths as `nemo-tabular sample mode=forecast forecast.paths_out=...` writes them
              (group_by, path, step, columns; CRPS exact for their empirical distribution), or the
              summary it writes to forecast.out (group_by, step, column, median, q<level>; CRPS
              approximated by quantile loss). Rows are matched to the future by group_by + step when the
              forecast has a step column, else by group_by + order_by.

    Baselines, fitted by statsforecast on each entity's history of each column: SeasonalNaive, AutoETS and
    AutoARIMA with season length m (`season_length`, else from order_by: see `infer_season_length`). Their
    intervals are Gaussian (mean +- z sigma), so sigma is read off the `interval` interval and their CRPS is
    the closed form of N(mean, sigma^2) against paths, or 2 x the mean pinball loss at our quantile levels
    against a quantile summary (the same approximation ours gets). A series statsforecast cannot fit falls
    back to SeasonalNaive (counted in `fallbacks`). Without statsforecast every baseline is listed under
    `baselines.skipped` with the reason, and ours is still scored.

    Per column, every method is scored on the same points:
      MASE         mean over points of |y - point| / s, point = our median (the baselines' mean), s = the
                   entity's in-sample seasonal-naive MAE, mean |y_t - y_{t-m}| over its history
      CRPS         mean CRPS in the column's units
      scaled_crps  mean CRPS / s, comparable across columns like MASE
      coverage     share of truths inside the central `interval` interval (nominal = interval)
    `overall` averages each score over the columns. Histories are the most recent stretch without missing
    values; an entity with fewer than MIN_HISTORY such values, a constant one (s = 0) or none is left out
    of that column (`excluded`), as are points with a missing truth or no forecast value (all paths NaN).
    An entity whose history holds no more than m values uses m = 1.
    """
    group_by, order_by = as_list(group_by), as_list(order_by)
    keys = group_by + order_by
    _check_columns(history, "history", keys)
    _check_columns(future, "future", keys)
    join = group_by + [STEP_COLUMN] if STEP_COLUMN in forecast.columns else keys
    _check_columns(forecast, "forecast", join)
    unknown = [name for name in baselines if name not in BASELINES]
    if unknown:
        raise EvaluationError(f"unknown baselines {unknown}; known: {list(BASELINES)}")
    if not 0 < interval < 1:
        raise EvaluationError(f"interval must lie in (0, 1), got {interval}")
    if season_length is not None and (int(season_length) != season_length or season_length < 1):
        raise EvaluationError(f"season_length must be a whole number >= 1, got {season_length}")
    if season_length is None:
        season, season_reason = infer_season_length(history, group_by, order_by)
    else:
        season, season_reason = int(season_length), "given"
    exclude = set(keys) | {PATH_COLUMN, STEP_COLUMN, "column"}
    available = _forecast_columns(forecast)
    if columns is None:
        columns = [name for name in _numeric_columns(future, exclude) if name in history.columns and name in available]
    else:
        columns = list(columns)
        for role, have in (("future", set(future.columns)), ("history", set(history.columns)), ("forecast", available)):
            missing = [name for name in columns if name not in have]
            if missing:
                raise EvaluationError(f"{role} frame has no {missing} to score")
    if not columns:
        raise EvaluationError("no numeric column is in the history, the future and the forecast alike")
    models, unavailable = _statsforecast_models() if baselines else ({}, None)
    active = list(baselines) if models is not None else []
    skipped = {name: unavailable for name in baselines} if models is None else {}

    history = history.sort_values(keys, kind="stable")
    points = future.sort_values(keys, kind="stable").reset_index(drop=True)
    points[STEP_COLUMN] = (
        points.groupby(group_by, sort=False).cumcount() + 1 if group_by else np.arange(1, len(points) + 1)
    )
    points["_entity"] = list(map(tuple, points[group_by].itertuples(index=False))) if group_by else [()] * len(points)
    entity_history = dict(_entities(history, group_by))
    progress_bar = None
    if progress and active:
        from tqdm.auto import tqdm

        progress_bar = tqdm(total=len(columns) * len(active), desc="forecast baselines", unit="column x baseline")
    per_column = {}
    for column in columns:
        per_column[column] = _score_column(
            column,
            history=entity_history,
            points=points,
            forecast=forecast,
            join=join,
            season=season,
            interval=interval,
            models=models,
            baselines=active,
            progress_bar=progress_bar,
        )
    if progress_bar is not None:
        progress_bar.close()
    methods = [MODEL] + active
    overall = {}
    for method in methods:
        scored = [result[method] for result in per_column.values() if result["points"]]
        overall[method] = {
            name: _mean([scores[name] for scores in scored]) for name in ("mase", "scaled_crps", "coverage")
        }
        if method != MODEL:
            overall[method]["fallbacks"] = sum(scores["fallbacks"] for scores in scored)
    return {
        "season_length": season,
        "season_length_from": season_reason,
        "interval": interval,
        "entities": int(points["_entity"].nunique()),
        "horizon": int(points[STEP_COLUMN].max()) if len(points) else 0,
        "crps": "paths: empirical CRPS; baselines: Gaussian closed form"
        if PATH_COLUMN in forecast.columns
        else "2 x mean pinball loss at the forecast's quantile levels, for every method",
        "baselines": {"scored": active, "skipped": skipped},
        "columns": per_column,
        "overall": overall,
    }


def _mean(values: list) -> float | None:
    """Mean of the non-null values, None when there are none."""
    values = [value for value in values if value is not None]
    return float(np.mean(values)) if values else None


def _score_column(
    column: str,
    *,
    history: dict,
    points: pd.DataFrame,
    forecast: pd.DataFrame,
    join: list[str],
    season: int,
    interval: float,
    models: dict | None,
    baselines: list[str],
    progress_bar,
) -> dict:
    """forecast_metrics for one column: every method on the points all of them can be scored on."""
    excluded: dict[str, int] = {}

    def exclude(reason: str, count: int = 1) -> None:
        if count:
            excluded[reason] = excluded.get(reason, 0) + int(count)

    series = {}
    for entity in points["_entity"].unique():
        if entity not in history:
            exclude("series_without_history")
            continue
        values = _trailing_run(pd.to_numeric(history[entity][column], errors="coerce").to_numpy(float))
        if len(values) < MIN_HISTORY:
            exclude("series_with_short_history")
            continue
        entity_season = season if len(values) > season else 1
        scale = mase_scale(values, entity_season)
        if not scale > 0:
            exclude("series_with_constant_history")
            continue
        series[entity] = (values, entity_season, scale)
    actual = pd.to_numeric(points[column], errors="coerce").to_numpy(float)
    keep = points["_entity"].map(lambda entity: entity in series).to_numpy(bool)
    exclude("points_of_excluded_series", (~keep).sum())
    exclude("points_missing_truth", (keep & ~np.isfinite(actual)).sum())
    keep &= np.isfinite(actual)
    scored = points[keep].reset_index(drop=True)
    scored["_point"] = np.arange(len(scored))
    model = _model_predictive(forecast, scored, join, column, interval)
    has_value = np.isfinite(model.point)
    exclude("points_without_forecast_value", (~has_value).sum())
    model, scored, actual = model.take(has_value), scored[has_value].reset_index(drop=True), actual[keep][has_value]
    scale = scored["_entity"].map(lambda entity: series[entity][2]).to_numpy(float)
    result = {
        "points": int(len(scored)),
        "series": int(scored["_entity"].nunique()),
        "excluded": excluded,
        MODEL: _method_scores(actual, scale, model) if len(scored) else _no_scores(),
    }
    steps = scored[STEP_COLUMN].to_numpy(int)
    for name in baselines:
        mean, sigma, low, high = (np.full(len(scored), np.nan) for _ in range(4))
        fallbacks = 0
        for entity, rows in scored.groupby("_entity", sort=False).indices.items():
            values, entity_season, _ = series[entity]
            fitted = _baseline(models, name, values, int(steps[rows].max()), entity_season, interval)
            for target, source in zip((mean, sigma, low, high), fitted[:4]):
                target[rows] = source[steps[rows] - 1]
            fallbacks += fitted[4]
        if progress_bar is not None:
            progress_bar.update(1)
        if model.quantiles is not None:
            from scipy.stats import norm

            quantiles = {level: mean + sigma * norm.ppf(level) for level in model.quantiles}
            predictive = _Predictive(mean, low, high, quantiles=quantiles)
        else:
            predictive = _Predictive(mean, low, high, sigma=sigma)
        scores = _method_scores(actual, scale, predictive) if len(scored) else _no_scores()
        result[name] = scores | {"fallbacks": int(fallbacks)}
    return result


def _no_scores() -> dict:
    """The scores of a method with no points to score."""
    return {"mase": None, "crps": None, "scaled_crps": None, "coverage": None}
