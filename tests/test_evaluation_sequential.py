"""Sequential metrics on a small grouped table and forecast scores on a case computed by hand."""

import re

import pandas as pd
import pytest

from nemo_tabular.evaluation import EvaluationError, quantiles_from_paths, score_forecasts
from nemo_tabular.evaluation.sequential import lag1_autocorrelation, sequential_metrics


def grouped_table() -> pd.DataFrame:
    """Entity a: 1,2,3 (autocorrelation 0); entity b: 1,3,1,3 (-0.75); rows deliberately out of time order."""
    table = pd.DataFrame(
        {
            "shop": ["a"] * 3 + ["b"] * 4,
            "month": [1, 2, 3, 1, 2, 3, 4],
            "sales": [1.0, 2.0, 3.0, 1.0, 3.0, 1.0, 3.0],
        }
    )
    return table.iloc[[6, 0, 3, 2, 5, 1, 4]]


def test_lag1_autocorrelation_by_hand():
    table = grouped_table()
    assert lag1_autocorrelation(table, "sales", ["shop"], ["month"]) == pytest.approx((0.0 - 0.75) / 2)


def test_entities_shorter_than_three_values_or_constant_are_skipped():
    table = pd.DataFrame(
        {"shop": ["a", "a", "b", "b", "b"], "month": [1, 2, 1, 2, 3], "sales": [1.0, 2.0, 5.0, 5.0, 5.0]}
    )
    assert lag1_autocorrelation(table, "sales", ["shop"], ["month"]) is None


def test_sequential_metrics_compare_lengths_and_autocorrelation():
    real = grouped_table()
    synth = pd.DataFrame({"shop": ["x"] * 4 + ["y"] * 4, "month": [1, 2, 3, 4] * 2, "sales": [1.0, 2.0, 3.0, 4.0] * 2})
    result = sequential_metrics(
        real, synth, {"shop": "category", "month": "int", "sales": "float"}, ["shop"], ["month"]
    )
    assert result["length"]["real"] == {
        "entities": 2,
        "mean": 3.5,
        "std": 0.5,
        "min": 3,
        "median": 3.5,
        "max": 4,
    }
    assert result["length"]["synthetic"]["mean"] == 4.0
    assert result["length"]["ks_complement"] == pytest.approx(0.5)
    assert set(result["lag1_autocorrelation"]) == {"sales"}  # order_by columns are keys, not series
    sales = result["lag1_autocorrelation"]["sales"]
    assert sales["real"] == pytest.approx(-0.375)
    assert sales["synthetic"] == pytest.approx(0.25)  # 1,2,3,4: deviations -1.5,-.5,.5,1.5 -> 1.25 / 5
    assert sales["abs_diff"] == pytest.approx(0.625)


def forecast_case():
    """Two shops; the future is one step; quantile forecasts at 0.1, 0.5 and 0.9."""
    history = pd.DataFrame({"shop": ["a", "a", "b"], "month": [1, 2, 1], "sales": [10.0, 12.0, 5.0]})
    future = pd.DataFrame({"shop": ["a", "b"], "month": [3, 2], "sales": [14.0, 4.0]})
    forecast = pd.DataFrame(
        {"shop": ["b", "a"], "month": [2, 3], "q0.1": [3.0, 11.0], "q0.5": [5.0, 13.0], "q0.9": [6.0, 15.0]}
    )
    return history, future, forecast


def test_forecast_scores_by_hand():
    history, future, forecast = forecast_case()
    result = score_forecasts(future, forecast, history, group_by="shop", order_by="month", target="sales")
    assert result["points"] == 2
    assert result["quantiles"] == [0.1, 0.5, 0.9]
    # sMAPE: a 2|13-14|/27, b 2|5-4|/9 -> 4/27
    # pinball per level: 0.1 -> (0.3+0.1)/2, 0.5 -> 0.5, 0.9 -> (0.1+0.2)/2
    assert result["model"]["smape"] == pytest.approx(4 / 27)
    assert result["model"]["mean_quantile_loss"] == pytest.approx(0.85 / 3)
    assert result["model"]["crps"] == pytest.approx(1.7 / 3)
    # naive last value: a 12, b 5 -> sMAPE (4/26 + 2/9)/2; a point forecast's CRPS is its MAE, (2 + 1)/2
    assert result["naive_last_value"]["smape"] == pytest.approx(22 / 117)
    assert result["naive_last_value"]["mean_quantile_loss"] == pytest.approx(0.75)
    assert result["naive_last_value"]["crps"] == pytest.approx(1.5)
    assert result["skill_vs_naive"]["smape"] == pytest.approx(1 - (4 / 27) / (22 / 117))
    assert result["skill_vs_naive"]["crps"] == pytest.approx(1 - (1.7 / 3) / 1.5)


def test_forecast_in_the_samplers_long_layout_uses_the_target_rows_and_median():
    history, future, forecast = forecast_case()
    long = pd.concat(
        [
            forecast.assign(column="sales", median=forecast["q0.5"], step=[1, 1]),
            forecast.assign(column="other", median=0.0, step=[1, 1]),
        ]
    )
    result = score_forecasts(future, long, history, group_by=["shop"], order_by=["month"], target="sales")
    assert result["model"]["smape"] == pytest.approx(4 / 27)


def test_quantiles_from_paths_feed_the_scorer():
    paths = pd.DataFrame({"shop": ["a"] * 3, "month": [3] * 3, "path": [0, 1, 2], "sales": [12.0, 14.0, 16.0]})
    quantiles = quantiles_from_paths(paths, "shop", "month", "sales", levels=(0.5,))
    assert quantiles.to_dict("records") == [{"shop": "a", "month": 3, "q0.5": 14.0}]
    history = pd.DataFrame({"shop": ["a"], "month": [2], "sales": [10.0]})
    future = pd.DataFrame({"shop": ["a"], "month": [3], "sales": [14.0]})
    result = score_forecasts(future, quantiles, history, group_by="shop", order_by="month", target="sales")
    assert result["model"]["crps"] == 0.0
    assert result["skill_vs_naive"]["crps"] == 1.0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda h, f, q: (h, f, q.drop(columns="q0.5")), "'median' or 'q0.5'"),
        (lambda h, f, q: (h, f, q.iloc[:1]), "misses 1 future points"),
        (lambda h, f, q: (h[h.shop == "a"], f, q), "history has no 'sales' value"),
        (lambda h, f, q: (h, f.drop(columns="sales"), q), "future frame lacks columns ['sales']"),
        (lambda h, f, q: (h, f, pd.concat([q, q])), "more than one row"),
    ],
)
def test_forecast_errors_name_what_is_missing(change, message):
    history, future, forecast = change(*forecast_case())
    with pytest.raises(EvaluationError, match=re.escape(message)):
        score_forecasts(future, forecast, history, group_by="shop", order_by="month", target="sales")


def test_empty_order_by_keeps_file_order():
    table = pd.DataFrame({"shop": ["a"] * 4, "sales": [1.0, 3.0, 1.0, 3.0]})
    assert lag1_autocorrelation(table, "sales", ["shop"], []) == pytest.approx(-0.75)


def test_samplers_entity_column_keys_synthetic_entities(tmp_path):
    """Two generated entities may share a shop: the sampler's `entity` column tells them apart."""
    from nemo_tabular.evaluation import evaluate

    real = grouped_table().reset_index(drop=True)
    synth = pd.DataFrame(
        {"shop": ["a"] * 6, "month": [1, 2, 3] * 2, "sales": [1.0, 2.0, 3.0] * 2, "entity": [0, 0, 0, 1, 1, 1]}
    )
    metrics = evaluate(real, real, synth, tmp_path / "report", group_by="shop", order_by="month")
    assert metrics["sequential"]["length"]["synthetic"]["entities"] == 2
    assert metrics["sequential"]["length"]["synthetic"]["mean"] == 3.0


def test_a_single_series_table_leaves_out_the_samplers_series_column(tmp_path):
    """order_by without group_by: the sampler numbers its series, which the real table has no column for."""
    from nemo_tabular.evaluation import evaluate

    real = pd.DataFrame({"month": range(1, 9), "sales": [1.0, 2.0, 3.0, 2.0, 1.0, 2.0, 3.0, 2.0]})
    synth = real.assign(entity=[0] * 4 + [1] * 4)
    metrics = evaluate(real, real, synth, tmp_path / "report", order_by="month")
    assert metrics["sequential"] is None and metrics["fidelity"]["rows"]["synthetic"] == 8
    assert metrics["privacy"]["exact_copy_rate"]["synthetic"] == 1.0


# --- forecast_metrics: ours against SeasonalNaive, AutoETS and AutoARIMA by MASE and CRPS -----------------

import sys  # noqa: E402

import numpy as np  # noqa: E402
from scipy import integrate  # noqa: E402
from scipy.stats import norm  # noqa: E402

from nemo_tabular.evaluation.forecast import (  # noqa: E402
    crps_from_quantiles,
    crps_from_samples,
    crps_gaussian,
    forecast_metrics,
    infer_season_length,
)


def test_sample_crps_equals_the_pairwise_definition_and_ignores_missing_samples():
    rng = np.random.default_rng(0)
    samples, actual = rng.normal(size=(5, 7)), rng.normal(size=5)
    samples[1, 3] = np.nan
    for row, value, got in zip(samples, actual, crps_from_samples(samples, actual)):
        x = row[np.isfinite(row)]
        expected = np.abs(x - value).mean() - 0.5 * np.abs(x[:, None] - x[None, :]).mean()
        assert got == pytest.approx(expected)
    assert crps_from_samples(np.array([[3.0, 5.0]]), np.array([4.0]))[0] == pytest.approx(0.5)


def test_gaussian_crps_equals_the_integral_of_the_squared_cdf_gap():
    mean, sigma, actual = 1.0, 2.0, 2.5
    below, _ = integrate.quad(lambda x: norm.cdf(x, mean, sigma) ** 2, -40, actual)
    above, _ = integrate.quad(lambda x: (1 - norm.cdf(x, mean, sigma)) ** 2, actual, 40)
    assert crps_gaussian(np.array([mean]), np.array([sigma]), np.array([actual]))[0] == pytest.approx(below + above)
    assert crps_gaussian(np.array([1.0]), np.array([0.0]), np.array([3.0]))[0] == 2.0  # no spread: |y - mean|


def test_quantile_crps_is_twice_the_mean_pinball_loss():
    # truth 14; q0.1 = 11 -> 0.3, q0.5 = 13 -> 0.5, q0.9 = 15 -> 0.1: 2 x 0.9 / 3
    got = crps_from_quantiles({0.1: np.array([11.0]), 0.5: np.array([13.0]), 0.9: np.array([15.0])}, np.array([14.0]))
    assert got[0] == pytest.approx(0.6)


@pytest.mark.parametrize(
    ("frame", "order_by", "season"),
    [
        (
            pd.DataFrame({"year": [2000] * 12 + [2001] * 3, "month": list(range(1, 13)) + [1, 2, 3]}),
            ["year", "month"],
            12,
        ),
        (pd.DataFrame({"year": [1959] * 4 + [1960] * 4, "quarter": [1, 2, 3, 4] * 2}), ["year", "quarter"], 4),
        (pd.DataFrame({"date": pd.date_range("2001-01-01", periods=30, freq="MS")}), ["date"], 12),
        (pd.DataFrame({"date": pd.date_range("2001-01-01", periods=30, freq="QS")}), ["date"], 4),
        (pd.DataFrame({"date": pd.date_range("2001-01-01", periods=30, freq="D")}), ["date"], 7),
        (pd.DataFrame({"t": range(30)}), ["t"], 1),
        (pd.DataFrame({"year": range(1990, 2020)}), ["year"], 1),
    ],
)
def test_season_length_comes_from_the_order_by_columns(frame, order_by, season):
    assert infer_season_length(frame, [], order_by)[0] == season


def seasonal_case(n_entities: int = 1):
    """Season 3 (order_by cycle, phase); each season is the last plus 1, so seasonal naive is off by exactly 1
    and its in-sample error (the MASE scale) is 1. Paths: truth - 1 and truth + 1."""
    history, future, paths = [], [], []
    for entity in range(n_entities):
        values = np.array([1.0, 2.0, 4.0]) + np.arange(4)[:, None] + 10 * entity
        frame = pd.DataFrame(
            {"shop": f"s{entity}", "cycle": np.repeat(range(4), 3), "phase": [1, 2, 3] * 4, "sales": values.reshape(-1)}
        )
        history.append(frame.iloc[:9])
        future.append(frame.iloc[9:])
        for path, offset in enumerate((-1.0, 1.0)):
            paths.append(frame.iloc[9:].assign(path=path, step=[1, 2, 3], sales=frame.sales.iloc[9:] + offset))
    return tuple(pd.concat(frames, ignore_index=True) for frames in (history, future, paths))


def test_forecast_metrics_by_hand_on_a_seasonal_series():
    history, future, paths = seasonal_case(n_entities=2)
    result = forecast_metrics(history, future, paths, group_by="shop", order_by=["cycle", "phase"])
    assert (result["season_length"], result["horizon"], result["entities"]) == (3, 3, 2)
    assert result["baselines"] == {"scored": ["seasonal_naive", "auto_ets", "auto_arima"], "skipped": {}}
    sales = result["columns"]["sales"]
    assert (sales["points"], sales["series"], sales["excluded"]) == (6, 2, {})
    # ours: the median of truth -+ 1 is the truth; CRPS = E|X - y| - E|X - X'| / 2 = 1 - 1/2; the 90% interval holds it
    assert sales["model"] == pytest.approx({"mase": 0.0, "crps": 0.5, "scaled_crps": 0.5, "coverage": 1.0})
    # seasonal naive repeats the last season, one below the truth everywhere: MASE 1
    assert sales["seasonal_naive"]["mase"] == pytest.approx(1.0) and sales["seasonal_naive"]["fallbacks"] == 0
    for name in ("auto_ets", "auto_arima"):
        assert all(np.isfinite(sales[name][key]) for key in ("mase", "crps", "scaled_crps", "coverage"))
    assert result["overall"]["model"] == pytest.approx({"mase": 0.0, "scaled_crps": 0.5, "coverage": 1.0})
    assert set(result["overall"]) == {"model", "seasonal_naive", "auto_ets", "auto_arima"}


def test_forecast_metrics_on_the_samplers_quantile_summary_match_score_forecasts():
    history, future, paths = seasonal_case()
    summary = paths.groupby(["shop", "step", "cycle", "phase"])["sales"].quantile([0.05, 0.5, 0.95]).unstack()
    summary.columns = ["q0.05", "median", "q0.95"]
    summary = summary.reset_index().assign(column="sales", **{"q0.5": lambda frame: frame["median"]})
    result = forecast_metrics(
        history, future, summary, group_by="shop", order_by=["cycle", "phase"], baselines=("seasonal_naive",)
    )
    old = score_forecasts(future, summary, history, group_by="shop", order_by=["cycle", "phase"], target="sales")
    assert result["columns"]["sales"]["model"]["crps"] == pytest.approx(old["model"]["crps"])
    assert result["columns"]["sales"]["model"]["coverage"] == 1.0
    assert result["crps"].startswith("2 x mean pinball")


def test_a_single_series_without_group_by_and_a_given_season_length():
    history, future, paths = seasonal_case()
    history, future, paths = (frame.drop(columns="shop") for frame in (history, future, paths))
    result = forecast_metrics(
        history, future, paths, group_by=[], order_by=["cycle", "phase"], season_length=1, baselines=("seasonal_naive",)
    )
    assert (result["season_length"], result["season_length_from"]) == (1, "given")
    # m = 1: the scale is the mean step-to-step change of 1,2,4,2,3,5,3,4,6 (13 / 8); naive repeats 6 for 4,5,7
    assert result["columns"]["sales"]["seasonal_naive"]["mase"] == pytest.approx((2 + 1 + 1) / 3 / (13 / 8))


def test_left_out_series_and_points_are_counted():
    history, future, paths = seasonal_case(n_entities=3)
    history.loc[history.shop == "s1", "sales"] = 5.0  # constant: no MASE scale
    history = history[~((history.shop == "s2") & (history.cycle < 2))]  # three values left: 3 > m, so m = 1
    future.loc[future.index[0], "sales"] = np.nan
    paths.loc[(paths.shop == "s2") & (paths.step == 3), "sales"] = np.nan
    sales = forecast_metrics(history, future, paths, group_by="shop", order_by=["cycle", "phase"], baselines=())[
        "columns"
    ]["sales"]
    assert sales["excluded"] == {
        "series_with_constant_history": 1,
        "points_of_excluded_series": 3,
        "points_missing_truth": 1,
        "points_without_forecast_value": 1,
    }
    assert (sales["points"], sales["series"]) == (4, 2)


def test_without_statsforecast_the_baselines_are_named_as_skipped(monkeypatch, tmp_path):
    from nemo_tabular.evaluation import evaluate

    monkeypatch.setitem(sys.modules, "statsforecast", None)  # import statsforecast raises ImportError
    history, future, paths = seasonal_case(n_entities=2)
    result = forecast_metrics(history, future, paths, group_by="shop", order_by=["cycle", "phase"])
    assert result["baselines"]["scored"] == [] and set(result["overall"]) == {"model"}
    assert set(result["baselines"]["skipped"]) == {"seasonal_naive", "auto_ets", "auto_arima"}
    assert all("statsforecast is not installed" in reason for reason in result["baselines"]["skipped"].values())
    real = pd.concat([history, future]).reset_index(drop=True)
    evaluate(real, real, real, tmp_path / "report", group_by="shop", order_by=["cycle", "phase"], forecast=result)
    assert "Skipped AutoETS: statsforecast is not installed" in (tmp_path / "report" / "report.html").read_text()


def test_evaluate_writes_forecast_scores_into_metrics_json_and_the_report(tmp_path):
    import json

    from nemo_tabular.evaluation import evaluate

    history, future, paths = seasonal_case(n_entities=2)
    scores = forecast_metrics(
        history, future, paths, group_by="shop", order_by=["cycle", "phase"], baselines=("seasonal_naive",)
    )
    real = pd.concat([history, future]).reset_index(drop=True)
    metrics = evaluate(
        real, real, real, tmp_path / "grouped", group_by="shop", order_by=["cycle", "phase"], forecast=scores
    )
    written = json.loads((tmp_path / "grouped" / "metrics.json").read_text())
    assert written["sequential"]["forecast"]["overall"]["model"]["mase"] == 0.0
    assert {"length", "lag1_autocorrelation"} <= set(written["sequential"])  # the existing keys stay
    assert metrics["sequential"]["forecast"]["columns"]["sales"]["seasonal_naive"]["mase"] == pytest.approx(1.0)
    page = (tmp_path / "grouped" / "report.html").read_text()
    assert "Forecasts against baselines" in page and "SeasonalNaive" in page and "sequential.forecast" not in page
    single = real.drop(columns="shop")  # one series: no sequential section without a forecast, one with it
    metrics = evaluate(single, single, single, tmp_path / "single", order_by=["cycle", "phase"], forecast=scores)
    assert set(metrics["sequential"]) == {"group_by", "order_by", "forecast"}


def test_forecast_metrics_errors_name_what_is_wrong():
    history, future, paths = seasonal_case()
    with pytest.raises(EvaluationError, match=r"forecast paths miss 1 future points of 'sales'"):
        forecast_metrics(
            history, future, paths[paths.step < 3].iloc[1:], group_by="shop", order_by=["cycle", "phase"], baselines=()
        )
    with pytest.raises(EvaluationError, match=r"unknown baselines \['prophet'\]"):
        forecast_metrics(history, future, paths, group_by="shop", order_by=["cycle", "phase"], baselines=("prophet",))
    with pytest.raises(EvaluationError, match=r"history frame has no \['price'\] to score"):
        forecast_metrics(
            history,
            future.assign(price=1.0),
            paths.assign(price=1.0),
            group_by="shop",
            order_by=["cycle", "phase"],
            columns=["price"],
        )


def test_a_series_statsforecast_cannot_fit_falls_back_to_seasonal_naive_and_is_counted():
    history, future, paths = seasonal_case(n_entities=2)
    history = history.groupby("shop").tail(3)  # three values: AutoETS refuses 'tiny datasets'
    result = forecast_metrics(
        history, future, paths, group_by="shop", order_by=["cycle", "phase"], baselines=("seasonal_naive", "auto_ets")
    )
    sales = result["columns"]["sales"]
    assert sales["auto_ets"]["fallbacks"] == 2 and sales["seasonal_naive"]["fallbacks"] == 0
    assert sales["auto_ets"]["mase"] == pytest.approx(sales["seasonal_naive"]["mase"])
    assert result["overall"]["auto_ets"]["fallbacks"] == 2


def test_the_evaluate_command_scores_a_forecast_from_its_three_files(tmp_path):
    import json
    import subprocess
    import sys

    history, future, paths = seasonal_case(n_entities=2)
    real = pd.concat([history, future]).reset_index(drop=True)
    files = {"history": history, "future": future, "paths": paths, "real": real}
    for name, frame in files.items():
        frame.to_parquet(tmp_path / f"{name}.parquet", index=False)
    tables = [f"{key}={tmp_path / 'real.parquet'}" for key in ("real", "holdout", "synth")]
    command = [sys.executable, "-m", "nemo_tabular.cli", "evaluate", *tables, f"out={tmp_path / 'report'}"]
    command += ["group_by=shop", "order_by=[cycle,phase]", "detection_folds=2", "progress=false"]
    forecast = [f"forecast.{key}={tmp_path / key}.parquet" for key in ("history", "future", "paths")]
    done = subprocess.run([*command, *forecast], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    scores = json.loads((tmp_path / "report" / "metrics.json").read_text())["sequential"]["forecast"]
    direct = forecast_metrics(history, future, paths, group_by="shop", order_by=["cycle", "phase"])
    assert scores["overall"].keys() == direct["overall"].keys() and scores["baselines"]["skipped"] == {}
    for method, overall in direct["overall"].items():
        assert scores["overall"][method] == pytest.approx(overall)
    assert "Forecasts against baselines" in (tmp_path / "report" / "report.html").read_text()
    partial = subprocess.run([*command, forecast[0]], capture_output=True, text=True, timeout=600)
    assert partial.returncode == 1
    assert partial.stderr.strip().splitlines()[-1] == (
        "error: forecast.history given without forecast.future, forecast.paths: a forecast is scored from all three files"
    )
