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
    synth = pd.DataFrame(
        {"shop": ["x"] * 4 + ["y"] * 4, "month": [1, 2, 3, 4] * 2, "sales": [1.0, 2.0, 3.0, 4.0] * 2}
    )
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
    paths = pd.DataFrame(
        {"shop": ["a"] * 3, "month": [3] * 3, "path": [0, 1, 2], "sales": [12.0, 14.0, 16.0]}
    )
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
    synth = pd.DataFrame({"shop": ["a"] * 6, "month": [1, 2, 3] * 2, "sales": [1.0, 2.0, 3.0] * 2,
                          "entity": [0, 0, 0, 1, 1, 1]})
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
