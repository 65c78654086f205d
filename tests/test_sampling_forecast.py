"""Forecasting: k future rows per path, order_by values increasing past the history, summaries, errors."""

import json
import subprocess
import sys
from importlib.resources import files

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import REPO, load_tokenizer_settings

from nemo_tabular.sampling import GPT, Bundle, GPTConfig, TableLayout, save_bundle
from nemo_tabular.sampling.forecast import ForecastOptions, forecast_paths, summarize_paths
from nemo_tabular.tokenizer import TabularTokenizer, TokenizerError

pytestmark = pytest.mark.usefixtures("one_thread")


def random_bundle(
    table: pd.DataFrame, layout: TableLayout, rows_in_context: int, tok: TabularTokenizer | None = None
) -> Bundle:
    """An untrained GPT seeing `rows_in_context` rows, with `tok` (else a tokenizer fitted on `table`)."""
    tok = tok or TabularTokenizer.fit(table, load_tokenizer_settings())
    torch.manual_seed(0)
    model = GPT(
        GPTConfig(
            vocab_size=tok.vocab_size,
            n_positions=rows_in_context * tok.row_width + 1,
            n_layer=2,
            n_head=2,
            n_kv_head=2,
            head_dim=8,
            d_model=16,
            d_ff=32,
        )
    )
    return Bundle(model.eval(), tok, layout)


@pytest.fixture(scope="module")
def txhousing():
    table = pd.read_csv(files("plotnine") / "data" / "txhousing.csv").drop(columns="date")
    table = table[table.city.isin(["Austin", "Abilene", "Waco"])].reset_index(drop=True)
    return table, random_bundle(table, TableLayout(["city"], ["year", "month"]), rows_in_context=6)


def test_paths_continue_each_city_with_increasing_months(txhousing):
    table, bundle = txhousing
    history = table[table.year < 2012]  # 144 months per city: far longer than the 6-row context
    options = ForecastOptions(horizon=14, n_paths=7, batch_size=4, seed=1)
    paths = forecast_paths(bundle, history, options)
    assert len(paths) == 3 * 7 * 14 and bundle.tokenizer.valid_mask(paths).all()
    for (city, _), path in paths.groupby(["city", "path"]):
        assert list(path.step) == list(range(1, 15))
        months = path.year.to_numpy() * 12 + path.month.to_numpy()
        assert months[0] == 2012 * 12 + 1 and (np.diff(months) == 1).all(), city
    summary = summarize_paths(bundle, paths, options)
    assert {"mean", "median", "q0.05", "q0.95"} <= set(summary.columns)
    assert len(summary) == 3 * 14 * 5  # city x step x (sales, volume, median, listings, inventory)
    assert (summary["q0.05"] <= summary["q0.95"]).all()


def test_same_seed_same_paths(txhousing):
    table, bundle = txhousing
    history = table[(table.city == "Waco") & (table.year < 2010)]
    options = ForecastOptions(horizon=3, n_paths=5, seed=9)
    pd.testing.assert_frame_equal(forecast_paths(bundle, history, options), forecast_paths(bundle, history, options))


def test_single_series_of_quarters_and_datetime_order():
    macro = pd.read_csv(files("statsmodels") / "datasets" / "macrodata" / "macrodata.csv")[["year", "quarter", "infl"]]
    bundle = random_bundle(macro, TableLayout([], ["year", "quarter"]), rows_in_context=8)
    paths = forecast_paths(bundle, macro.iloc[:101], ForecastOptions(horizon=6, n_paths=3))  # ends 1984 Q1
    assert list(zip(paths.year[:6], paths.quarter[:6])) == [
        (1984, 2),
        (1984, 3),
        (1984, 4),
        (1985, 1),
        (1985, 2),
        (1985, 3),
    ]
    monthly = pd.DataFrame(
        {"date": pd.date_range("2001-01-01", periods=48, freq="MS"), "value": np.arange(48) % 7 * 1.5}
    )
    bundle = random_bundle(monthly, TableLayout([], ["date"]), rows_in_context=5)
    paths = forecast_paths(bundle, monthly.iloc[:30], ForecastOptions(horizon=4, n_paths=2))
    expected = list(pd.date_range("2003-07-01", periods=4, freq="MS"))
    assert list(paths.date[:4]) == expected and list(paths.date[4:]) == expected


def test_future_outside_the_fitted_range_explains_force_order(txhousing):
    table, bundle = txhousing
    with pytest.raises(TokenizerError, match=r"entity \{'city': 'Austin'\}.*'year'.*force_order=false"):
        forecast_paths(bundle, table[table.city == "Austin"], ForecastOptions(horizon=12, n_paths=2))
    free = forecast_paths(
        bundle, table[table.city == "Austin"], ForecastOptions(horizon=3, n_paths=2, force_order=False)
    )
    assert len(free) == 6 and bundle.tokenizer.valid_mask(free).all()


def test_flat_models_cannot_forecast(txhousing):
    table, bundle = txhousing
    flat = Bundle(bundle.model, bundle.tokenizer, TableLayout())
    with pytest.raises(TokenizerError, match="sequential table"):
        forecast_paths(flat, table, ForecastOptions(horizon=2, n_paths=1))


def test_forecast_script_writes_summary_and_paths(txhousing, tmp_path):
    table, bundle = txhousing
    save_bundle(tmp_path / "bundle", bundle.model.config, bundle.model.state_dict(), bundle.tokenizer, bundle.layout)
    table[table.year < 2011].to_csv(tmp_path / "history.csv", index=False)
    command = [
        sys.executable,
        str(REPO / "scripts" / "sample.py"),
        "mode=forecast",
        f"model_path={tmp_path / 'bundle'}",
        f"hydra.run.dir={tmp_path / 'logs'}",
        f"forecast.history={tmp_path / 'history.csv'}",
        "forecast.horizon=2",
        "forecast.n_paths=3",
        f"forecast.out={tmp_path / 'fc.csv'}",
        f"forecast.paths_out={tmp_path / 'p.parquet'}",
    ]
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert len(pd.read_parquet(tmp_path / "p.parquet")) == 3 * 3 * 2
    assert set(pd.read_csv(tmp_path / "fc.csv").city) == {"Austin", "Abilene", "Waco"}
    parallel = subprocess.run(command + ["workers=2"], capture_output=True, text=True, cwd=REPO)
    assert parallel.returncode == 1
    assert "error: workers=2: forecasting runs in one process; set workers=1" in parallel.stderr


def test_forecasting_past_the_training_split_forces_the_true_future_years(tmp_path):
    """prepare fits the tokenizer on macrodata's training split alone (1959 Q1 - 2002 Q1); the time axis's
    headroom lets a forecast from train + valid force the test split's own years, not a clipped 2002."""
    from hydra import compose, initialize_config_dir

    from nemo_tabular.data.prepare import prepare_dataset

    with initialize_config_dir(str(REPO / "conf"), version_base="1.3"):
        cfg = compose("prepare", overrides=["dataset=macrodata", f"paths.root={tmp_path}", "workers=1"])
    data_dir = prepare_dataset(cfg)
    train, valid, test = (pd.read_parquet(data_dir / f"{split}.parquet") for split in ("train", "valid", "test"))
    tok = TabularTokenizer.load(data_dir / "tokenizer.json")
    assert train.year.max() == 2002 and tok.column("year").high == 2013 and test.year.max() == 2009
    outside = json.loads((data_dir / "meta.json").read_text())["held_out_outside_tokenizer"]  # columns that clip
    assert "realgdp" in outside["test"] and "year" not in outside["valid"] and "year" not in outside["test"]
    bundle = random_bundle(train, TableLayout([], ["year", "quarter"]), rows_in_context=4, tok=tok)
    paths = forecast_paths(bundle, pd.concat([train, valid]), ForecastOptions(horizon=8, n_paths=2))
    truth = list(zip(test.year[:8], test.quarter[:8]))  # 2004 Q4 .. 2006 Q3
    assert truth[0] == (2004, 4) and truth[-1] == (2006, 3)
    for _, path in paths.groupby("path"):
        assert list(zip(path.year, path.quarter)) == truth


def test_an_entity_the_tokenizer_never_saw_is_forecast_as_its_rare_token(txhousing):
    """Held-out cities (the test split of a grouped table) are <rare> in the tokens; their forecast is forced
    as <rare> too, and the paths carry the city's own name."""
    from nemo_tabular.tokenizer import TokenizerFitter

    table, _ = txhousing
    fitter = TokenizerFitter(load_tokenizer_settings(), order_by=["year", "month"])
    fitter.update(table[table.city != "Waco"])
    fitter.observe_held_out(table[table.city == "Waco"])
    tok = fitter.finish()
    assert tok.column("city").rare and "Waco" not in tok.column("city").categories
    bundle = random_bundle(table, TableLayout(["city"], ["year", "month"]), rows_in_context=6, tok=tok)
    history = table[(table.city == "Waco") & (table.year < 2015)]
    paths = forecast_paths(bundle, history, ForecastOptions(horizon=3, n_paths=2))
    assert set(paths.city) == {"Waco"} and list(paths.month[:3]) == [1, 2, 3] and set(paths.year) == {2015}
