"""The Python API as a notebook uses it: fit a DataFrame, sample, save, load, sample the same rows, evaluate;
the CLI's defaults (copy rejection) hold without asking for them."""

import pandas as pd
import pytest
from plotnine.data import diamonds

from nemo_tabular import TabularGPT
from nemo_tabular.errors import ConfigError, UserError

FAST = {"train__steps": 4, "train__eval_every": 0, "threads": 1}


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    return TabularGPT(**FAST).fit(diamonds.head(2000), target="price")


def test_fit_sample_save_load_sample_again_evaluate(fitted, tmp_path):
    first = fitted.sample(500, seed=3)
    assert list(first.columns) == list(diamonds.columns) and len(first) == 500
    assert fitted.sample(500, seed=3).equals(first) and not fitted.sample(500, seed=4).equals(first)
    saved = fitted.save(tmp_path / "model")
    assert (saved / "data" / "meta.json").is_file() and any((saved / "checkpoints").iterdir())
    again = TabularGPT.load(saved).sample(500, seed=3)
    pd.testing.assert_frame_equal(again, first)
    metrics = TabularGPT.load(saved).evaluate(report_dir=tmp_path / "report")
    assert 0 < metrics["fidelity"]["overall"] <= 1 and metrics["utility"]["ratio"].keys() == {"r2"}
    assert (tmp_path / "report" / "report.html").is_file()


def test_conditions_are_kept_in_every_row(fitted):
    rows = fitted.sample(50, conditions={"cut": "Ideal", "color": "E"}, seed=1)
    assert len(rows) == 50 and set(rows.cut) == {"Ideal"} and set(rows.color) == {"E"}


def test_copies_of_training_rows_are_rejected_by_default():
    """Two columns whose training rows are only (a, x) and (b, y): a barely trained model draws all four
    pairs, and only the two unseen ones may come out, as with the CLI's default reject_copies_of."""
    table = pd.DataFrame({"left": ["a", "b"] * 200, "right": ["x", "y"] * 200})
    copies = {("a", "x"), ("b", "y")}
    guarded = TabularGPT(**FAST).fit(table)
    pairs = set(zip(*guarded.sample(300, seed=0).T.values))
    assert pairs and not pairs & copies
    unguarded = TabularGPT(reject_copies_of=None, **FAST).fit(table)
    assert set(zip(*unguarded.sample(300, seed=0).T.values)) & copies


def test_bad_arguments_are_user_errors(fitted, tmp_path):
    with pytest.raises(
        ConfigError, match=r"^train\.stepz: no such key in conf/\{prepare,train,sample,evaluate\}\.yaml$"
    ):
        TabularGPT(train__stepz=3)
    with pytest.raises(ConfigError, match=r"^temperature='hot': expected a number >= 0$"):
        TabularGPT.load(fitted.run_dir, temperature="hot").sample(10)
    with pytest.raises(UserError, match=r"sample needs a fitted model: call fit\(df\) first"):
        TabularGPT().sample(10)
    with pytest.raises(UserError, match=f"{tmp_path}: neither a run directory"):
        TabularGPT.load(tmp_path)


def test_overrides_reach_every_stage_that_has_the_key():
    model = TabularGPT(seed=7, threads=2, tokenizer__base=50)
    routed = {stage: model._stage_values(stage) for stage in ("prepare", "train", "sample", "evaluate")}
    assert routed == {
        "prepare": {"seed": 7, "tokenizer.base": 50},
        "train": {"threads": 2},
        "sample": {"seed": 7, "threads": 2},
        "evaluate": {"seed": 7, "threads": 2},
    }
