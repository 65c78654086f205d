"""Evaluation metrics on cases with known answers: copies, fresh draws, shuffled columns, learnable targets."""

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import cdist
from threadpoolctl import threadpool_limits

from nemo_tabular.evaluation.fidelity import CONSTANT_COLUMN, NO_REAL_TREND, pair_trend, quality_report
from nemo_tabular.evaluation.metadata import column_kinds, conform
from nemo_tabular.evaluation.privacy import MAX_SHARE_PARTS, DistanceEncoder, nearest_two_distances, privacy_metrics
from nemo_tabular.evaluation.utility import tstr_vs_trtr
from nemo_tabular.evaluation.validity import validity


def draw(rows: int, seed: int) -> pd.DataFrame:
    """A small table with numeric, categorical, boolean and date columns that depend on each other."""
    rng = np.random.default_rng(seed)
    size = rng.gamma(2.0, 0.5, rows)
    grade = np.where(size + rng.normal(0, 0.3, rows) > 1.0, "high", "low")
    return pd.DataFrame(
        {
            "size": size.round(3),
            "grade": grade,
            "price": (1000 * size + 500 * (grade == "high") + rng.normal(0, 50, rows)).round(1),
            "large": size > 1.5,
            "sold": pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 365, rows), unit="D"),
        }
    )


@pytest.fixture(autouse=True)
def one_thread():
    """Gradient boosting slows many-fold with more OpenMP threads than free cores; evaluate() limits it too."""
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="module")
def train():
    return draw(400, seed=1)


@pytest.fixture(scope="module")
def holdout():
    return draw(400, seed=2)


def run_privacy(train, holdout, synth, **limits):
    return privacy_metrics(train, holdout, synth, column_kinds(train), seed=0, progress=False, **limits)[0]


def test_copies_of_training_rows_are_all_closer_to_train(train, holdout):
    result = run_privacy(train, holdout, train.copy())
    assert result["dcr_share_closer_to_train"] == 1.0
    assert result["holdout_reference"]["dcr_share_closer_to_train"] == pytest.approx(0.5, abs=0.08)  # fresh rows
    assert result["exact_copy_rate"] == {"synthetic": 1.0, "holdout": 0.0}
    assert result["dcr_p5"]["synthetic_to_train"] == 0.0
    assert result["dcr_p5"]["holdout_to_train"] > 0
    assert result["nndr_mean"]["synthetic_to_train"] == 0.0


def test_fresh_rows_from_the_same_distribution_are_a_coin_flip(train, holdout):
    result = run_privacy(train, holdout, draw(400, seed=3))
    assert result["dcr_share_closer_to_train"] == pytest.approx(0.5, abs=0.08)
    assert result["holdout_reference"]["dcr_share_closer_to_train"] == pytest.approx(0.5, abs=0.08)
    assert result["dcr_p5"]["ratio"] == pytest.approx(1.0, abs=0.35)
    assert result["exact_copy_rate"]["synthetic"] == 0.0


def test_holdout_as_synthetic_matches_the_holdouts_own_distances(train, holdout):
    result = run_privacy(train, holdout, holdout.copy())
    assert result["dcr_share_closer_to_train"] == 0.0  # every row is its own holdout neighbour
    assert result["dcr_p5"]["ratio"] == 1.0
    assert result["nndr_mean"]["synthetic_to_train"] == result["nndr_mean"]["holdout_to_train"]
    assert result["exact_copy_rate"]["synthetic"] == result["exact_copy_rate"]["holdout"]


def test_the_holdouts_own_share_is_each_holdout_row_against_the_other_holdout_rows(train, holdout):
    """Brute force: train and holdout of equal size, so the share compares all of each (one training part)."""
    kinds = column_kinds(train)
    result = run_privacy(train, holdout, draw(400, seed=3))
    assert result["rows"]["share_train_parts"] == 1
    real = [conform(frame, kinds) for frame in (train, holdout)]
    encoder = DistanceEncoder(pd.concat(real), kinds)
    to_train = cdist(encoder.transform(real[1]), encoder.transform(real[0])).min(axis=1)
    to_holdout = cdist(encoder.transform(real[1]), encoder.transform(real[1]))
    np.fill_diagonal(to_holdout, np.inf)  # a row is not its own neighbour
    expected = np.mean(to_train < to_holdout.min(axis=1)) + 0.5 * np.mean(to_train == to_holdout.min(axis=1))
    assert result["holdout_reference"]["dcr_share_closer_to_train"] == pytest.approx(expected, abs=1 / 400)


def test_one_holdout_row_has_no_own_share():
    train = pd.DataFrame({"x": [0.0, 1.0, 2.0]})
    result = run_privacy(train, pd.DataFrame({"x": [2.5]}), pd.DataFrame({"x": [0.0]}))
    assert result["holdout_reference"]["dcr_share_closer_to_train"] is None


def test_the_privacy_distances_are_returned_for_the_histogram(train, holdout):
    result, distances = privacy_metrics(train, holdout, train.copy(), column_kinds(train), seed=0, progress=False)
    assert len(distances.synthetic) == len(train) and len(distances.holdout) == len(holdout)
    assert not distances.synthetic.any()  # copies sit at 0
    assert np.percentile(distances.holdout, 5) == result["dcr_p5"]["holdout_to_train"]


def test_privacy_reads_holdout_dates_given_as_text(train, holdout):
    """A holdout read back from CSV holds its dates as text; conformed, they are the same distances."""
    as_text = holdout.assign(sold=holdout["sold"].dt.strftime("%Y-%m-%d"))
    synth = draw(400, seed=3)
    assert run_privacy(train, as_text, synth) == run_privacy(train, holdout, synth)


def test_ties_count_half(train):
    result = run_privacy(train, train.copy(), train.copy())  # every row is at distance 0 from both sides
    assert result["dcr_share_closer_to_train"] == 0.5


def test_rows_are_cut_to_the_caps_and_the_share_compares_equal_sizes(train, holdout):
    result = run_privacy(train, holdout.iloc[:150], draw(300, seed=4), max_synthetic_rows=120, max_reference_rows=200)
    assert result["rows"] == {
        "synthetic": 120,
        "train_reference": 200,
        "holdout_reference": 150,
        "share_reference": 150,
        "share_train_parts": 1,
    }


def test_the_share_averages_over_every_holdout_size_part_of_the_training_rows():
    train = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0]})
    # one holdout row at 2.5: the synthetic row at 0 is nearer three of the four one-row training parts
    result = run_privacy(train, pd.DataFrame({"x": [2.5]}), pd.DataFrame({"x": [0.0]}))
    assert result["rows"]["share_train_parts"] == 4
    assert result["dcr_share_closer_to_train"] == 0.75


def test_the_share_uses_at_most_max_share_parts_parts(train, holdout):
    result = run_privacy(train, holdout.iloc[:10], draw(50, seed=5))
    assert result["rows"]["share_train_parts"] == MAX_SHARE_PARTS < len(train) // 10


def test_memorization_shows_in_distances_when_the_holdout_is_small(train, holdout):
    result = run_privacy(train, holdout.iloc[:40], train.copy())
    assert result["dcr_share_closer_to_train"] < 1.0  # copies of train rows outside the equal-size subset
    assert result["dcr_p5"]["synthetic_to_train"] == 0.0
    assert result["dcr_p5"]["ratio"] == 0.0
    assert result["exact_copy_rate"]["synthetic"] == 1.0


def test_chunked_distances_equal_brute_force(train, holdout):
    kinds = column_kinds(train)
    encoder = DistanceEncoder(pd.concat([train, holdout]), kinds)
    reference = encoder.transform(train.iloc[:50])
    nearest, second = nearest_two_distances(holdout.iloc[:30], reference, encoder, memory_bytes=1, progress=False)
    exact = np.sort(cdist(encoder.transform(holdout.iloc[:30]), reference), axis=1)
    np.testing.assert_allclose(nearest, exact[:, 0], atol=1e-6)
    np.testing.assert_allclose(second, exact[:, 1], atol=1e-6)


def test_category_mismatch_costs_as_much_as_a_full_numeric_range():
    real = pd.DataFrame({"x": [0.0, 1.0], "c": ["a", "b"]})
    encoder = DistanceEncoder(real, {"x": "float", "c": "category"})
    vectors = encoder.transform(pd.DataFrame({"x": [0.0, 0.0, 1.0, np.nan], "c": ["a", "b", "a", "a"]}))
    distance = lambda i, j: np.linalg.norm(vectors[i] - vectors[j])  # noqa: E731
    assert distance(0, 1) == pytest.approx(1.0)
    assert distance(0, 2) == pytest.approx(1.0)
    assert distance(3, 0) == pytest.approx(1.0)  # a missing value sits one range below the minimum


def shuffle_each_column(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({name: rng.permutation(frame[name].to_numpy()) for name in frame.columns})


def test_independently_shuffled_columns_lose_pair_trends_but_keep_shapes(train, holdout):
    kinds = column_kinds(train)
    kept = quality_report(train, holdout, kinds)
    shuffled = quality_report(train, shuffle_each_column(holdout, seed=5), kinds)
    assert shuffled["column_shapes"] == pytest.approx(kept["column_shapes"], abs=0.02)
    assert shuffled["column_pair_trends"] < kept["column_pair_trends"] - 0.15
    assert kept["column_pair_trends"] > 0.85
    assert set(shuffled["column_shape_details"]) == set(train.columns)
    assert len(shuffled["column_pair_details"]) == len(train.columns) * (len(train.columns) - 1) // 2


def test_pair_trends_bin_numbers_on_the_real_range():
    """A copy missing one outlier row keeps its pair trend (SDMetrics 0.32's report scores it about 0.01)."""
    rng = np.random.default_rng(7)
    label = rng.choice(["a", "b"], 2000)
    real = pd.DataFrame({"x": rng.normal(size=2000) + 3 * (label == "a"), "label": label})
    real.loc[0, "x"] = 50.0
    kinds = {"x": "float", "label": "category"}
    assert pair_trend(real, real.iloc[1:], "x", "label", kinds)["score"] > 0.99


def test_pair_trends_record_the_real_trend_and_why_a_pair_is_not_scored():
    rng = np.random.default_rng(3)
    x = rng.normal(size=500)
    real = pd.DataFrame(
        {
            "x": x,
            "y": 2 * x + rng.normal(0, 0.1, 500),
            "noise": rng.normal(size=500),
            "one": 1.0,
            "label": np.where(x > 0, "a", "b"),
        }
    )
    kinds = {"x": "float", "y": "float", "noise": "float", "one": "float", "label": "category"}
    scored = pair_trend(real, real, "x", "y", kinds)
    assert scored["score"] == pytest.approx(1.0) and scored["reason"] is None and scored["real_trend"] > 0.99
    weak = pair_trend(real, real, "x", "noise", kinds)
    assert weak["score"] is None and weak["reason"] == NO_REAL_TREND and abs(weak["real_trend"]) < 0.5
    constant = pair_trend(real, real, "x", "one", kinds)
    assert constant == {
        "columns": ["x", "one"],
        "metric": "CorrelationSimilarity",
        "score": None,
        "real_trend": None,
        "reason": CONSTANT_COLUMN,
    }
    associated = pair_trend(real, real, "x", "label", kinds)
    assert associated["metric"] == "ContingencySimilarity" and associated["real_trend"] > 0.3
    assert pair_trend(real, real, "noise", "label", kinds)["reason"] == NO_REAL_TREND


def test_utility_ratio_is_one_when_synthetic_equals_train(train, holdout):
    kinds = column_kinds(train)
    regression = tstr_vs_trtr(train, train.copy(), holdout, "price", kinds, seed=0)
    assert regression["task"] == "regression"
    assert regression["train_real_test_real"]["r2"] > 0.8
    assert regression["ratio"]["r2"] == pytest.approx(1.0)
    classification = tstr_vs_trtr(train, train.copy(), holdout, "grade", kinds, seed=0)
    assert classification["task"] == "classification"
    assert classification["train_real_test_real"]["roc_auc"] > 0.8
    assert classification["ratio"] == {"accuracy": pytest.approx(1.0), "roc_auc": pytest.approx(1.0)}


def test_utility_ratio_drops_when_synthetic_rows_lose_the_relationship(train, holdout):
    kinds = column_kinds(train)
    result = tstr_vs_trtr(train, shuffle_each_column(train, seed=6), holdout, "price", kinds, seed=0)
    assert result["ratio"]["r2"] is None or result["ratio"]["r2"] < 0.3


def test_validity_counts_out_of_range_values_and_unseen_categories(train):
    synth = train.iloc[:10].copy()
    synth.loc[synth.index[0], "size"] = 1e6
    synth.loc[synth.index[1], "grade"] = "unheard-of"
    result = validity(train, synth, column_kinds(train))
    assert result["method"] == "training_split"
    assert result["definition"] == (
        "a row is valid when every value lies within the training split: numbers and dates inside its "
        "[min, max], categories among its values, missing values only where it has them"
    )
    assert result["valid_share"] == pytest.approx(0.8)
    assert result["column_invalid_share"]["size"] == pytest.approx(0.1)
    assert result["column_invalid_share"]["grade"] == pytest.approx(0.1)
    assert result["column_invalid_share"]["price"] == 0.0


def test_validity_is_one_definition_whether_or_not_a_tokenizer_gives_the_kinds(train, tokenizer_settings):
    """The row share and the column shares agree: a value only a holdout holds is invalid in both."""
    from nemo_tabular.tokenizer import TabularTokenizer

    tokenizer = TabularTokenizer.fit(train, tokenizer_settings)
    assert column_kinds(train, tokenizer) == {spec.name: spec.kind for spec in tokenizer.columns}
    synth = train.iloc[:10].copy()
    synth.loc[synth.index[0], "grade"] = "unheard-of"
    synth.loc[synth.index[1], "price"] = train["price"].max() + 1.0
    synth.loc[synth.index[2], "grade"] = "<rare>"
    with_tokenizer = validity(train, synth, column_kinds(train, tokenizer))
    assert with_tokenizer == validity(train, synth, column_kinds(train))
    assert with_tokenizer["valid_share"] == pytest.approx(0.7)
    assert with_tokenizer["column_invalid_share"]["grade"] == pytest.approx(0.2)
    assert with_tokenizer["column_invalid_share"]["price"] == pytest.approx(0.1)


def test_validity_reads_dates_given_as_text_and_zoned(train):
    synth = train.iloc[:4].copy()
    as_text = synth.assign(sold=synth["sold"].dt.strftime("%Y-%m-%d"))
    zoned = synth.assign(sold=synth["sold"].dt.tz_localize("UTC").dt.tz_convert("Asia/Tokyo"))
    kinds = column_kinds(train)
    assert validity(train, as_text, kinds)["valid_share"] == validity(train, zoned, kinds)["valid_share"] == 1.0
    late = synth.assign(sold=train["sold"].max() + pd.Timedelta(days=1))
    assert validity(train, late, kinds)["column_invalid_share"]["sold"] == 1.0


def test_utility_reads_holdout_dates_given_as_text(train, holdout):
    """A holdout read back from CSV holds its dates as text; conformed, they are the same features."""
    kinds = column_kinds(train)
    from_parquet = tstr_vs_trtr(train, train, holdout, "price", kinds, seed=0)
    from_csv = tstr_vs_trtr(
        train, train, holdout.assign(sold=holdout["sold"].dt.strftime("%Y-%m-%d")), "price", kinds, seed=0
    )
    assert from_csv == from_parquet
    dated = tstr_vs_trtr(train, train, holdout.assign(sold=holdout["sold"].astype(str)), "sold", kinds, seed=0)
    assert (
        dated["train_real_test_real"]["r2"]
        == tstr_vs_trtr(train, train, holdout, "sold", kinds, seed=0)["train_real_test_real"]["r2"]
    )
