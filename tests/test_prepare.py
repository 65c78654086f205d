"""Data prep end to end: sources -> tokenizer -> documents -> splits -> .bin/.idx/.parquet, and its errors."""

import importlib.resources
import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir

from nemo_tabular.data.errors import DataPrepError
from nemo_tabular.data.prepare import prepare_dataset
from nemo_tabular.data.splits import SPLITS, split_documents, split_sizes
from nemo_tabular.tokenizer import RARE_LABEL, TabularTokenizer

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Transformer Engine and Apex are not installed")
    from megatron.core.datasets.indexed_dataset import IndexedDataset

REPO = Path(__file__).resolve().parents[1]
DIAMONDS = importlib.resources.files("plotnine").joinpath("data/diamonds.csv")
TXHOUSING = importlib.resources.files("plotnine").joinpath("data/txhousing.csv")


def config(tmp_path: Path, *overrides: str):
    """The composed `prepare` config writing under tmp_path, single process unless overridden; diamonds unless
    another dataset is named."""
    dataset = [] if any(override.startswith("dataset=") for override in overrides) else ["dataset=diamonds"]
    with initialize_config_dir(str(REPO / "conf"), version_base="1.3"):
        return compose("prepare", overrides=[*dataset, f"paths.root={tmp_path / 'runs'}", "workers=1", *overrides])


def prep(tmp_path: Path, *overrides: str) -> Path:
    """Run data prep with overrides and return the data dir."""
    return prepare_dataset(config(tmp_path, *overrides))


def prep_table(tmp_path: Path, source: Path, *overrides: str, **dataset) -> Path:
    """Run data prep on a table of the test's own, described by `dataset` keys (name, group_by, ...)."""
    cfg = config(tmp_path, *overrides)
    cfg.dataset = {
        "name": "table",
        "source": str(source),
        "group_by": None,
        "order_by": None,
        "columns": {},
        "drop": [],
        "target": None,
        **dataset,
    }
    return prepare_dataset(cfg)


def read_split(data_dir: Path, split: str, tokenizer: TabularTokenizer) -> list[np.ndarray]:
    """Each document of a split as a (rows, row_width) token array, read with megatron's IndexedDataset."""
    dataset = IndexedDataset(str(data_dir / split))
    assert list(dataset.document_indices) == list(range(len(dataset) + 1)), "one sequence per document"
    # copies: the arrays IndexedDataset returns view a mmap that it closes when it is garbage-collected
    return [np.array(dataset[i]).reshape(-1, tokenizer.row_width) for i in range(len(dataset))]


def assert_same_rows(decoded: pd.DataFrame, real: pd.DataFrame, tokenizer: TabularTokenizer) -> None:
    """Decoded rows equal the real ones: numbers within half a unit of their precision, the rest exactly."""
    assert list(decoded.columns) == list(real.columns)
    assert len(decoded) == len(real)
    for spec in tokenizer.columns:
        got, want = decoded[spec.name].to_numpy(), real[spec.name].to_numpy()
        if spec.kind in ("float", "int"):
            tolerance = 0.5 * 10.0 ** -(spec.decimals or 0) + 1e-9
            got, want = got.astype(float), want.astype(float)
            assert np.array_equal(np.isnan(got), np.isnan(want)), spec.name
            assert np.nanmax(np.abs(got - want), initial=0.0) <= tolerance, spec.name
        else:
            assert [str(v) for v in got] == [str(v) for v in want], spec.name


def as_encoded(held_out: pd.DataFrame, tokenizer: TabularTokenizer) -> pd.DataFrame:
    """Held-out rows as their tokens hold them: numbers clipped to the training range, unseen categories <rare>."""
    encoded = held_out.copy()
    for spec in tokenizer.columns:
        if spec.kind in ("float", "int"):
            scale = 10.0**spec.decimals
            encoded[spec.name] = held_out[spec.name].clip(spec.low / scale, spec.high / scale)
        elif spec.kind == "category":
            encoded[spec.name] = held_out[spec.name].where(held_out[spec.name].isin(spec.categories), RARE_LABEL)
    return encoded


def diamonds_csv(tmp_path: Path, rows: int = 2000) -> Path:
    """The first `rows` rows of diamonds as a small CSV fixture."""
    path = tmp_path / "diamonds.csv"
    pd.read_csv(DIAMONDS, nrows=rows).to_csv(path, index=False)
    return path


def split_bytes(data_dir: Path) -> dict[str, bytes]:
    """The raw bytes of every .bin/.idx file."""
    return {f"{s}.{ext}": (data_dir / f"{s}.{ext}").read_bytes() for s in SPLITS for ext in ("bin", "idx")}


def assert_nothing_written(tmp_path: Path) -> None:
    """No data dir and no leftover temp dirs anywhere under the runs root."""
    root = tmp_path / "runs"
    left = [p for p in root.rglob("*")] if root.exists() else []
    assert not [p for p in left if p.name == "data" or p.name.startswith(".data.")], left


def test_diamonds_slice_round_trips_through_indexed_dataset(tmp_path):
    data_dir = prep(tmp_path, "limit_rows=2000")
    tokenizer = TabularTokenizer.load(data_dir / "tokenizer.json")
    meta = json.loads((data_dir / "meta.json").read_text())
    source = pd.read_csv(DIAMONDS, nrows=2000)
    parts = []
    for split in SPLITS:
        documents = read_split(data_dir, split, tokenizer)
        assert all(len(doc) == 1 and doc[0, -1] == tokenizer.eod_id for doc in documents)
        real = pd.read_parquet(data_dir / f"{split}.parquet")
        tokens = np.concatenate(documents) if documents else np.zeros((0, tokenizer.row_width), np.int32)
        assert_same_rows(tokenizer.decode(tokens), real, tokenizer)
        assert meta["splits"][split] == {
            "rows": len(real),
            "documents": len(real),
            "tokens": tokens.size,
            "longest_document_rows": 1,
        }
        parts.append(real)
    assert [meta["splits"][s]["rows"] for s in SPLITS] == [1700, 100, 200]
    everything = pd.concat(parts).sort_values(list(source.columns)).reset_index(drop=True)
    pd.testing.assert_frame_equal(everything, source.sort_values(list(source.columns)).reset_index(drop=True))
    assert meta["columns"] == list(source.columns) and meta["tokens_per_row"] == tokenizer.row_width


def test_txhousing_groups_become_ordered_documents(tmp_path):
    data_dir = prep(tmp_path, "dataset=txhousing", "chunk_rows=1000")
    tokenizer = TabularTokenizer.load(data_dir / "tokenizer.json")
    source = pd.read_csv(TXHOUSING).drop(columns=["date"])
    cities_by_split = {}
    for split in SPLITS:
        real = pd.read_parquet(data_dir / f"{split}.parquet")
        documents = read_split(data_dir, split, tokenizer)
        tokens = np.concatenate(documents)
        assert_same_rows(tokenizer.decode(tokens), as_encoded(real, tokenizer) if split != "train" else real, tokenizer)
        start = 0
        cities = []
        for doc in documents:
            assert (doc[:-1, -1] == tokenizer.eor_id).all() and doc[-1, -1] == tokenizer.eod_id
            rows = real.iloc[start : start + len(doc)]
            start += len(doc)
            (city,) = rows["city"].unique()
            expected = source[source["city"] == city].sort_values(["year", "month"])
            pd.testing.assert_frame_equal(rows.reset_index(drop=True), expected.reset_index(drop=True))
            cities.append(city)
        assert start == len(real)
        meta = json.loads((data_dir / "meta.json").read_text())["splits"][split]
        assert meta["longest_document_rows"] == max(len(doc) for doc in documents) == 187
        cities_by_split[split] = set(cities)
    train, valid, test = cities_by_split.values()
    assert not (train & valid or train & test or valid & test), "a city in two splits"
    assert train | valid | test == set(source["city"])
    assert (len(valid), len(test)) == (2, 5)
    assert set(tokenizer.column("city").categories) == train  # held-out cities are <rare> in the tokens


def test_first_columns_lead_the_token_order_and_the_rows_round_trip(tmp_path):
    data_dir = prep(tmp_path, "limit_rows=300", "dataset.first_columns=[price,clarity]")
    tokenizer = TabularTokenizer.load(data_dir / "tokenizer.json")
    source = pd.read_csv(DIAMONDS, nrows=300)
    order = ["price", "clarity"] + [c for c in source.columns if c not in ("price", "clarity")]
    assert [spec.name for spec in tokenizer.columns] == order
    assert json.loads((data_dir / "meta.json").read_text())["columns"] == order
    train = pd.read_parquet(data_dir / "train.parquet")
    assert list(train.columns) == order
    assert_same_rows(tokenizer.decode(np.concatenate(read_split(data_dir, "train", tokenizer))), train, tokenizer)


def test_single_series_is_split_by_time(tmp_path):
    data_dir = prep(tmp_path, "dataset=macrodata")
    times = {s: pd.read_parquet(data_dir / f"{s}.parquet")[["year", "quarter"]].apply(tuple, axis=1) for s in SPLITS}
    assert [len(t) for t in times.values()] == [173, 10, 20]
    assert all(t.is_monotonic_increasing for t in times.values())
    assert times["train"].iloc[-1] < times["valid"].iloc[0] and times["valid"].iloc[-1] < times["test"].iloc[0]
    assert json.loads((data_dir / "meta.json").read_text())["split_by"] == "time"


def test_economics_is_one_monthly_series_ordered_by_date_with_headroom(tmp_path):
    data_dir = prep(tmp_path, "dataset=economics")
    splits = {s: pd.read_parquet(data_dir / f"{s}.parquet") for s in SPLITS}
    assert [len(frame) for frame in splits.values()] == [488, 29, 57]
    assert all(pd.api.types.is_datetime64_any_dtype(frame["date"]) for frame in splits.values())
    assert splits["train"]["date"].iloc[-1] < splits["valid"]["date"].iloc[0]
    tokenizer = TabularTokenizer.load(data_dir / "tokenizer.json")
    date = tokenizer.column("date")
    assert (date.kind, date.unit) == ("datetime", "D")
    last_test_day = (splits["test"]["date"].iloc[-1] - pd.Timestamp("1970-01-01")).days
    assert date.high >= last_test_day  # the time axis reaches the latest month: a forecast forces its own dates
    assert_same_rows(
        tokenizer.decode(np.concatenate(read_split(data_dir, "train", tokenizer))), splits["train"], tokenizer
    )


def test_same_seed_same_bytes_other_seed_other_split(tmp_path):
    source = diamonds_csv(tmp_path, rows=1000)
    first = split_bytes(prep(tmp_path / "a", f"dataset.source={source}", "seed=3"))
    again = split_bytes(prep(tmp_path / "b", f"dataset.source={source}", "seed=3"))
    other = split_bytes(prep(tmp_path / "c", f"dataset.source={source}", "seed=4"))
    assert first == again
    assert first["train.bin"] != other["train.bin"]


def test_chunked_parallel_prep_equals_single_chunk(tmp_path):
    source = tmp_path / "txhousing.csv"
    pd.read_csv(TXHOUSING).sample(frac=1.0, random_state=0).to_csv(source, index=False)  # cities interleaved
    whole = prep(tmp_path / "whole", "dataset=txhousing", f"dataset.source={source}")
    chunked = prep(tmp_path / "chunked", "dataset=txhousing", f"dataset.source={source}", "chunk_rows=700", "workers=2")
    assert split_bytes(whole) == split_bytes(chunked)
    assert (whole / "tokenizer.json").read_text() == (chunked / "tokenizer.json").read_text()
    for split in SPLITS:
        pd.testing.assert_frame_equal(
            pd.read_parquet(whole / f"{split}.parquet"), pd.read_parquet(chunked / f"{split}.parquet")
        )


def test_parquet_source_gives_the_same_output_as_csv(tmp_path):
    csv = diamonds_csv(tmp_path, rows=1500)
    parquet = tmp_path / "diamonds.parquet"
    pd.read_csv(csv).to_parquet(parquet)
    from_csv = prep(tmp_path / "csv", f"dataset.source={csv}")
    from_parquet = prep(tmp_path / "parquet", f"dataset.source={parquet}", "chunk_rows=400")
    assert split_bytes(from_csv) == split_bytes(from_parquet)


def test_given_tokenizer_is_used_instead_of_fitting(tmp_path):
    fitted = prep(tmp_path / "fit", "limit_rows=3000")
    reused = prep(tmp_path / "reuse", "limit_rows=1000", f"tokenizer_path={fitted / 'tokenizer.json'}")
    assert (reused / "tokenizer.json").read_text() == (fitted / "tokenizer.json").read_text()


def test_rerun_replaces_output_and_failed_rerun_keeps_it(tmp_path):
    source = diamonds_csv(tmp_path, rows=500)
    data_dir = prep(tmp_path, f"dataset.source={source}")
    prep(tmp_path, f"dataset.source={source}", "seed=9")
    assert json.loads((data_dir / "meta.json").read_text())["seed"] == 9
    bad = tmp_path / "bigger.csv"
    table = pd.read_csv(source)
    table.loc[7, "cut"] = "Flawless"  # a category the given tokenizer has no token for: fails mid-build
    table.to_csv(bad, index=False)
    tokenizer_copy = tmp_path / "tokenizer.json"
    tokenizer_copy.write_text((data_dir / "tokenizer.json").read_text())
    with pytest.raises(DataPrepError, match=r"bigger\.csv: column 'cut': row 7 holds 'Flawless'"):
        prep(tmp_path, f"dataset.source={bad}", f"tokenizer_path={tokenizer_copy}")
    assert json.loads((data_dir / "meta.json").read_text())["seed"] == 9
    assert [p.name for p in data_dir.parent.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("dataset.group_by=nope", r"diamonds\.csv: group_by names column 'nope'"),
        ("dataset.order_by=[carat,when]", r"diamonds\.csv: order_by names column 'when'"),
        ("+dataset.columns.weight={decimals:1}", r"diamonds\.csv: columns names column 'weight'"),
        ("dataset.target=value", r"diamonds\.csv: target names column 'value'"),
        ("dataset.first_columns=[price,mass]", r"diamonds\.csv: first_columns names column 'mass'"),
        ("dataset.first_columns=[price,cut,price]", r"diamonds\.csv: first_columns names \['price'\] more than once"),
    ],
)
def test_config_naming_a_missing_column_fails_before_writing(tmp_path, override, message):
    source = diamonds_csv(tmp_path, rows=50)
    with pytest.raises(DataPrepError, match=message):
        prep(tmp_path, f"dataset.source={source}", override)
    assert_nothing_written(tmp_path)


@pytest.mark.parametrize(("content", "message"), [("", "file is empty"), ("a,b\n", "no data rows")])
def test_empty_file_fails_before_writing(tmp_path, content, message):
    source = tmp_path / "empty.csv"
    source.write_text(content)
    with pytest.raises(DataPrepError, match=rf"empty\.csv: .*{message}"):
        prep_table(tmp_path, source)
    assert_nothing_written(tmp_path)


def test_missing_source_fails_naming_it(tmp_path):
    with pytest.raises(DataPrepError, match=r"nowhere\.csv: source file not found"):
        prep(tmp_path, f"dataset.source={tmp_path / 'nowhere.csv'}")
    with pytest.raises(DataPrepError, match="no such file in package 'plotnine'"):
        prep(tmp_path, "dataset.source=package://plotnine/data/nowhere.csv")
    assert_nothing_written(tmp_path)


@pytest.mark.parametrize("chunk_rows", [100000, 64])
def test_bad_number_names_file_column_and_first_bad_row(tmp_path, chunk_rows):
    table = pd.read_csv(DIAMONDS, nrows=300).astype({"carat": object})
    table.loc[[150, 200], "carat"] = ["abc", "xyz"]
    source = tmp_path / "typo.csv"
    table.to_csv(source, index=False)
    with pytest.raises(DataPrepError, match=r"typo\.csv: column 'carat' row 150: cannot parse 'abc' as a number"):
        prep(tmp_path, f"dataset.source={source}", f"chunk_rows={chunk_rows}", "+dataset.columns.carat.kind=float")
    assert_nothing_written(tmp_path)


def test_undeclared_number_turning_to_text_in_a_later_chunk_is_named(tmp_path):
    table = pd.read_csv(DIAMONDS, nrows=300).astype({"depth": object})
    table.loc[250, "depth"] = "n/a?"
    source = tmp_path / "late.csv"
    table.to_csv(source, index=False)
    with pytest.raises(DataPrepError, match=r"late\.csv: column 'depth' row 250: cannot parse 'n/a\?' as a number"):
        prep(tmp_path, f"dataset.source={source}", "chunk_rows=100")
    assert_nothing_written(tmp_path)


def test_unparsable_date_names_file_column_and_row(tmp_path):
    days = pd.date_range("2024-01-01", periods=40, freq="D").strftime("%Y-%m-%d").to_list()
    days[33] = "2024-13-45"
    table = pd.DataFrame({"shop": ["a", "b"] * 20, "day": days, "sales": np.arange(40.0)})
    source = tmp_path / "shops.csv"
    table.to_csv(source, index=False)
    with pytest.raises(DataPrepError, match=r"shops\.csv: column 'day' row 33: cannot parse '2024-13-45' as a date"):
        prep_table(tmp_path, source, group_by="shop", order_by="day")
    with pytest.raises(DataPrepError, match=r"shops\.csv: column 'day' row 33: cannot parse '2024-13-45' as a date"):
        prep_table(tmp_path, source, columns={"day": {"kind": "datetime"}})
    assert_nothing_written(tmp_path)


def test_dates_in_order_by_order_the_documents(tmp_path):
    days = pd.date_range("2024-01-01", periods=30, freq="D")
    table = pd.DataFrame({"shop": ["a", "b", "c"] * 10, "day": days.strftime("%Y-%m-%d"), "sales": np.arange(30.0)})
    source = tmp_path / "shops.csv"
    table.iloc[::-1].to_csv(source, index=False)
    data_dir = prep_table(tmp_path, source, "split.valid=0", "split.test=0", group_by="shop", order_by="day")
    train = pd.read_parquet(data_dir / "train.parquet")
    assert train["shop"].tolist() == ["c"] * 10 + ["b"] * 10 + ["a"] * 10  # groups in order of first appearance
    assert all(group["day"].is_monotonic_increasing for _, group in train.groupby("shop"))


def test_split_documents_takes_exact_counts_and_depends_on_seed():
    split = split_documents(46, valid=0.05, test=0.10, seed=1)
    assert np.bincount(split, minlength=3).tolist() == [39, 2, 5]
    assert np.array_equal(split, split_documents(46, valid=0.05, test=0.10, seed=1))
    assert not np.array_equal(split, split_documents(46, valid=0.05, test=0.10, seed=2))
    with pytest.raises(DataPrepError, match="fractions"):
        split_sizes(10, valid=0.5, test=0.5)


def test_hydra_entry_runs_with_overrides_and_reports_errors(tmp_path):
    command = [
        sys.executable,
        str(REPO / "data_prep" / "prepare.py"),
        "dataset=txhousing",
        f"paths.root={tmp_path / 'runs'}",
        "limit_rows=600",
        "tokenizer.base=50",
        "workers=1",
    ]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "prepared txhousing: 600 rows" in done.stdout
    assert (tmp_path / "runs" / "txhousing" / "data" / "train.idx").is_file()
    failed = subprocess.run([*command, "dataset.group_by=town"], cwd=tmp_path, capture_output=True, text=True)
    assert failed.returncode == 1
    assert "error: " in failed.stderr and "group_by names column 'town'" in failed.stderr
    assert "Traceback" not in failed.stderr


def test_column_empty_in_early_chunks_takes_its_type_from_later_ones(tmp_path):
    table = pd.DataFrame({"x": np.arange(300.0), "note": [None] * 100 + ["a", "b"] * 100})
    source = tmp_path / "sparse.csv"
    table.to_csv(source, index=False)
    data_dir = prep_table(
        tmp_path, source, "chunk_rows=50", "split.valid=0", "split.test=0", columns={"note": {"kind": "category"}}
    )
    pd.testing.assert_frame_equal(pd.read_parquet(data_dir / "train.parquet"), table)
