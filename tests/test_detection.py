"""Detection metric on cases with known answers: two halves of one real table, a shifted column, reruns."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import plotnine
import pytest
from threadpoolctl import threadpool_limits

from nemo_tabular.evaluation import EvaluationSettings, evaluate
from nemo_tabular.evaluation.detection import detection_metrics, detection_score
from nemo_tabular.evaluation.metadata import column_kinds

DIAMONDS = Path(plotnine.__file__).parent / "data" / "diamonds.csv"
FAST = {"max_iter": 30}  # few boosting rounds keep each test near a second; they still find a 5-sd shift


@pytest.fixture(autouse=True)
def one_thread():
    """Gradient boosting slows many-fold with more OpenMP threads than free cores; evaluate() limits it too."""
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="module")
def halves() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two disjoint random halves of 4,000 diamonds: the same distribution on both sides."""
    rows = pd.read_csv(DIAMONDS).sample(4000, random_state=0).reset_index(drop=True)
    return rows.iloc[:2000], rows.iloc[2000:]


@pytest.fixture(scope="module")
def kinds(halves) -> dict[str, str]:
    return column_kinds(halves[0])


def test_score_is_one_at_chance_and_zero_at_perfect_separation():
    assert detection_score(0.5) == detection_score(0.3) == 1.0
    assert detection_score(0.75) == 0.5
    assert detection_score(1.0) == 0.0


def test_two_halves_of_one_table_are_indistinguishable(halves, kinds):
    result = detection_metrics(*halves, kinds, seed=0, **FAST)
    assert result["roc_auc"] == pytest.approx(0.5, abs=0.05)
    assert result["score"] > 0.9
    assert result["rows"] == {"holdout": 2000, "synthetic": 2000}
    assert result["folds"] == 5


def test_a_column_shifted_by_five_standard_deviations_is_detected(halves, kinds):
    holdout, synth = halves
    shifted = synth.assign(carat=synth["carat"] + 5 * holdout["carat"].std())
    result = detection_metrics(holdout, shifted, kinds, seed=0, **FAST)
    assert result["roc_auc"] > 0.95
    assert result["score"] < 0.1


def test_same_seed_same_numbers_and_equal_sides(halves, kinds):
    holdout, synth = halves
    first = detection_metrics(holdout, synth, kinds, seed=7, max_rows=500, **FAST)
    assert first == detection_metrics(holdout, synth, kinds, seed=7, max_rows=500, **FAST)
    assert first["rows"] == {"holdout": 500, "synthetic": 500}
    assert detection_metrics(holdout, synth.iloc[:300], kinds, seed=7, **FAST)["rows"]["holdout"] == 300
    assert first != detection_metrics(holdout, synth, kinds, seed=8, max_rows=500, **FAST)


def test_too_few_rows_leave_the_scores_null(halves, kinds):
    result = detection_metrics(halves[0], halves[1].iloc[:1], kinds, seed=0)
    assert result["roc_auc"] is None and result["score"] is None


def test_text_dates_from_csv_match_real_dates():
    """A holdout read back from CSV holds its dates as text; conformed, they must not give it away."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "sold": pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 365, 1200), unit="D"),
            "large": rng.random(1200) > 0.5,
        }
    )
    as_text = frame.iloc[:600].astype(str)
    result = detection_metrics(as_text, frame.iloc[600:], column_kinds(frame), seed=0, **FAST)
    assert result["roc_auc"] == pytest.approx(0.5, abs=0.06)


def test_metrics_json_and_report_carry_detection(halves, tmp_path):
    columns = ["carat", "cut", "price"]  # few columns and rows: the other metrics and the plots stay quick
    real, synth = halves[0][columns], halves[1][columns]
    settings = EvaluationSettings(
        fidelity_max_rows=300,
        privacy_max_synthetic_rows=200,
        detection_max_rows=400,
        detection_max_iter=20,
        progress=False,
    )
    evaluate(real.iloc[:500], real.iloc[500:1000], synth, tmp_path, target="price", settings=settings)
    written = json.loads((tmp_path / "metrics.json").read_text())
    assert written["schema_version"] == 4
    assert set(written["detection"]) == {"model", "folds", "roc_auc", "score", "rows", "holdout_reference"}
    assert written["detection"]["rows"] == {"holdout": 400, "synthetic": 400}
    assert written["detection"]["score"] == detection_score(written["detection"]["roc_auc"])
    reference = written["detection"]["holdout_reference"]  # train vs holdout, as many rows a side
    assert reference["compared"] == "train_vs_holdout" and reference["rows"] == {"holdout": 400, "train": 400}
    assert reference["roc_auc"] == pytest.approx(0.5, abs=0.08)  # two random parts of one table
    assert {"detection_max_rows", "detection_folds", "detection_max_iter"} <= set(written["settings"])
    page = (tmp_path / "report.html").read_text()
    assert "<h2>Detection (classifier two-sample test)</h2>" in page
    section = page[page.index("<h2>Detection") : page.index("<h2>Utility")]
    for value in (written["detection"]["score"], reference["roc_auc"]):
        assert f'data-value="{value!r}">{value:.4g}</td>' in section
