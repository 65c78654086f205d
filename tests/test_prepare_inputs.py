"""Prep on inputs that used to leak, lose data silently or end in a traceback.

- The holdout never shapes the tokenizer: split first, fit on the training split; a category or a
  maximum that only the test split holds is not in tokenizer.json, and held-out rows are encoded as
  new data (clipped, <rare>), counted in meta.json, while their .parquet keeps the true values.
- No silent change of data: tiny values, ragged rows, numbers mixed with text, repeated header
  names and zoned datetimes either round-trip or fail in one line naming the file and column/row.
- Unreadable sources (truncated or corrupt .csv.gz, 0-byte or nested Parquet, infinities) fail in one
  line naming the file, through DataPrepError, and leave nothing behind.
"""

import gzip
import json
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf

from nemo_tabular.data.errors import DataPrepError
from nemo_tabular.data.prepare import prepare_dataset, summary
from nemo_tabular.data.splits import SPLITS, TEST, TRAIN, split_documents
from nemo_tabular.tokenizer import RARE_LABEL, TabularTokenizer

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Transformer Engine and Apex are not installed")
    from megatron.core.datasets.indexed_dataset import IndexedDataset

REPO = Path(__file__).resolve().parents[1]
VALID, HOLDOUT = 0.1, 0.2
SEED = 1234


def prep_config(tmp_path: Path, source: Path, prep: dict | None = None, **dataset):
    """A `prepare` config for a table of the test's own (built directly, so no Hydra defaults apply)."""
    keys = {
        "name": "table",
        "source": str(source),
        "group_by": None,
        "order_by": None,
        "columns": {},
        "drop": [],
        "first_columns": [],
        "target": None,
        **dataset,
    }
    config = {
        "dataset": keys,
        "tokenizer": OmegaConf.load(REPO / "conf" / "tokenizer" / "default.yaml"),
        "tokenizer_path": None,
        "split": {"valid": VALID, "test": HOLDOUT},
        "seed": SEED,
        "chunk_rows": 100_000,
        "workers": 1,
        "limit_rows": None,
        "paths": {"data_dir": str(tmp_path / "data")},
        **(prep or {}),
    }
    return OmegaConf.create(config)


def prep(tmp_path: Path, source: Path, prep: dict | None = None, **dataset) -> Path:
    return prepare_dataset(prep_config(tmp_path, source, prep, **dataset))


def failure(tmp_path: Path, source: Path, prep: dict | None = None, **dataset) -> str:
    """The message of the DataPrepError prep raises; it is one line and nothing was written."""
    with pytest.raises(DataPrepError) as caught:
        prepare_dataset(prep_config(tmp_path, source, prep, **dataset))
    message = str(caught.value)
    assert "\n" not in message
    assert not (tmp_path / "data").exists() and not list(tmp_path.glob(".data.*"))
    return message


def split_tokens(data_dir: Path, split: str, tokenizer: TabularTokenizer) -> np.ndarray:
    """All token rows of a split, in document order."""
    dataset = IndexedDataset(str(data_dir / split))
    rows = [np.array(dataset[i]).reshape(-1, tokenizer.row_width) for i in range(len(dataset))]
    return np.concatenate(rows) if rows else np.zeros((0, tokenizer.row_width), np.int32)


def flat_table(rows: int = 60) -> tuple[pd.DataFrame, np.ndarray]:
    """A flat table whose test split (as prep will draw it) alone holds the maximum of `size` and the
    category 'violet'; returns the table and the test rows' positions."""
    split = split_documents(rows, VALID, HOLDOUT, SEED)
    test_rows = np.flatnonzero(split == TEST)
    table = pd.DataFrame(
        {
            "color": np.array(["red", "blue", "green"])[np.arange(rows) % 3],
            "size": np.round(np.linspace(1.0, 5.0, rows), 2),
        }
    )
    table.loc[test_rows[0], "size"] = 99.75
    table.loc[test_rows[1], "color"] = "violet"
    return table, test_rows


# ---------------------------------------------------------------- the holdout never shapes the tokenizer


def test_tokenizer_never_sees_test_only_categories_or_range(tmp_path):
    table, test_rows = flat_table()
    source = tmp_path / "t.csv"
    table.to_csv(source, index=False)
    data_dir = prep(tmp_path, source)
    tokenizer = TabularTokenizer.load(data_dir / "tokenizer.json")
    train = pd.read_parquet(data_dir / "train.parquet")
    test = pd.read_parquet(data_dir / "test.parquet")
    assert sorted(test["size"].tolist()) == sorted(table.loc[test_rows, "size"].tolist())  # prep drew this split
    color, size = tokenizer.column("color"), tokenizer.column("size")
    assert color.categories == sorted(train["color"].unique()) == ["blue", "green", "red"]
    assert color.rare is True  # the token 'violet' is encoded as; 'violet' itself is nowhere in the file
    assert (size.low, size.high) == (round(train["size"].min() * 100), round(train["size"].max() * 100))
    text = (data_dir / "tokenizer.json").read_text()
    assert "violet" not in text and "9975" not in text and "99.75" not in text
    assert train["size"].max() < 99.75 and "violet" not in set(train["color"])


def test_held_out_rows_are_encoded_as_new_data_and_counted(tmp_path):
    table, _ = flat_table()
    source = tmp_path / "t.csv"
    table.to_csv(source, index=False)
    data_dir = prep(tmp_path, source)
    tokenizer = TabularTokenizer.load(data_dir / "tokenizer.json")
    test = pd.read_parquet(data_dir / "test.parquet")
    decoded = tokenizer.decode(split_tokens(data_dir, "test", tokenizer))
    high = tokenizer.column("size").high / 100
    assert decoded["size"].tolist() == [min(v, high) for v in test["size"]]  # 99.75 clipped, the rest exact
    assert decoded["color"].tolist() == [RARE_LABEL if c == "violet" else c for c in test["color"]]
    assert 99.75 in test["size"].tolist() and "violet" in test["color"].tolist()  # the parquet keeps them
    meta = json.loads((data_dir / "meta.json").read_text())
    assert meta["tokenizer_fitted_on"] == "train"
    assert meta["held_out_outside_tokenizer"] == {"valid": {}, "test": {"color": 1, "size": 1}}
    assert summary(data_dir, 1.0).splitlines()[-1] == (
        "held-out values outside the training split's ranges/categories (clipped or <rare> in the tokens, "
        "as they are in the .parquet): test color 1, size 1"
    )
    train = pd.read_parquet(data_dir / "train.parquet")
    pd.testing.assert_frame_equal(tokenizer.decode(split_tokens(data_dir, "train", tokenizer)), train)


def test_missing_values_only_in_the_holdout_reserve_the_missing_token(tmp_path):
    table, test_rows = flat_table()
    table.loc[test_rows[2], "size"] = np.nan
    source = tmp_path / "t.csv"
    table.to_csv(source, index=False)
    data_dir = prep(tmp_path, source)
    tokenizer = TabularTokenizer.load(data_dir / "tokenizer.json")
    assert tokenizer.column("size").nullable and not tokenizer.column("color").nullable
    decoded = tokenizer.decode(split_tokens(data_dir, "test", tokenizer))
    assert decoded["size"].isna().sum() == 1


def test_held_out_entities_are_unseen_categories_and_their_values_clip(tmp_path):
    entities = [f"shop{i:02d}" for i in range(20)]
    split = split_documents(len(entities), VALID, HOLDOUT, SEED)  # groups number in order of first appearance
    table = pd.DataFrame(
        {"shop": np.repeat(entities, 4), "day": np.tile(np.arange(4), 20), "sales": np.arange(80, dtype=float)}
    )
    held_out_shop = entities[int(np.flatnonzero(split == TEST)[0])]
    table.loc[table["shop"] == held_out_shop, "sales"] = 1000.0
    source = tmp_path / "shops.csv"
    table.to_csv(source, index=False)
    data_dir = prep(tmp_path, source, group_by="shop", order_by="day")
    tokenizer = TabularTokenizer.load(data_dir / "tokenizer.json")
    train = pd.read_parquet(data_dir / "train.parquet")
    assert tokenizer.column("shop").categories == sorted(train["shop"].unique())
    assert tokenizer.column("sales").high == train["sales"].max() < 1000
    assert held_out_shop not in (data_dir / "tokenizer.json").read_text()
    meta = json.loads((data_dir / "meta.json").read_text())
    assert meta["held_out_outside_tokenizer"] == {"valid": {"shop": 8}, "test": {"shop": 16, "sales": 4}}


def test_single_series_is_fitted_on_its_earliest_rows(tmp_path):
    table = pd.DataFrame({"t": np.arange(50), "level": np.arange(50) * 2.5})
    source = tmp_path / "series.csv"
    table.to_csv(source, index=False)
    data_dir = prep(tmp_path, source, order_by="t")
    tokenizer = TabularTokenizer.load(data_dir / "tokenizer.json")
    # train is the first 35 rows (t 0..34); the time axis gets headroom past them: ceil(0.25 x 34) = 9
    assert (tokenizer.column("t").low, tokenizer.column("t").high) == (0, 43)
    assert (tokenizer.column("level").low, tokenizer.column("level").high) == (0, 850)  # 85.0 at 1 decimal: no headroom
    meta = json.loads((data_dir / "meta.json").read_text())
    assert meta["held_out_outside_tokenizer"] == {"valid": {"level": 5}, "test": {"t": 6, "level": 10}}
    assert tokenizer.decode(split_tokens(data_dir, "test", tokenizer))["level"].tolist() == [85.0] * 10


def test_chunked_parallel_split_first_prep_equals_one_chunk(tmp_path):
    table, _ = flat_table(rows=900)
    source = tmp_path / "t.csv"
    table.sample(frac=1.0, random_state=0).to_csv(source, index=False)
    whole = prep(tmp_path / "whole", source)
    chunked = prep(tmp_path / "chunked", source, {"chunk_rows": 70, "workers": 2})
    again = prep(tmp_path / "again", source, {"chunk_rows": 70, "workers": 2})
    for name in ["tokenizer.json", "meta.json"] + [f"{s}.{e}" for s in SPLITS for e in ("bin", "idx")]:
        assert (whole / name).read_bytes() == (chunked / name).read_bytes() == (again / name).read_bytes(), name
    for split in SPLITS:  # row groups follow chunk_rows, so the Parquet bytes differ but not the rows
        pd.testing.assert_frame_equal(
            pd.read_parquet(whole / f"{split}.parquet"), pd.read_parquet(chunked / f"{split}.parquet")
        )


def test_given_tokenizer_refuses_an_unseen_category_in_a_training_row(tmp_path):
    table, _ = flat_table()
    source = tmp_path / "t.csv"
    table.to_csv(source, index=False)
    tokenizer_file = tmp_path / "given.json"
    TabularTokenizer.fit(
        table[table["color"] != "violet"].assign(size=1.0), OmegaConf.load(REPO / "conf" / "tokenizer" / "default.yaml")
    ).save(tokenizer_file)
    train_row = int(np.flatnonzero(split_documents(len(table), VALID, HOLDOUT, SEED) == TRAIN)[0])
    table.loc[train_row, "color"] = "black"
    table.to_csv(source, index=False)
    message = failure(tmp_path, source, {"tokenizer_path": str(tokenizer_file)})
    assert message == (
        f"{source}: column 'color': row {train_row} holds 'black', a category never seen when the tokenizer was fitted"
    )


def test_an_empty_training_split_is_named(tmp_path):
    source = tmp_path / "two.csv"
    pd.DataFrame({"x": [1.0, 2.0]}).to_csv(source, index=False)
    assert failure(tmp_path, source, {"split": {"valid": 0.45, "test": 0.45}}) == (
        f"{source}: the training split is empty (2 rows; split.valid=0.45, split.test=0.45); lower them or "
        f"give more rows"
    )


# ---------------------------------------------------------------- no silent change of data


def test_tiny_values_are_refused_naming_the_column_not_decoded_as_zero(tmp_path):
    source = tmp_path / "tiny.csv"
    pd.DataFrame({"v": [1e-300, 2.5e-300, 3e-300] * 10}).to_csv(source, index=False)
    assert failure(tmp_path, source) == (
        f"{source}: column 'v': every value rounds to 0 at 4 decimals (tokenizer.max_decimals), the largest "
        f"being 3e-300; declare decimals: 302 for this column, or rescale it"
    )
    data_dir = prep(tmp_path, source, columns={"v": {"decimals": 302}})
    values = pd.read_parquet(data_dir / "train.parquet")["v"].to_numpy()
    tokenizer = TabularTokenizer.load(data_dir / "tokenizer.json")
    np.testing.assert_allclose(tokenizer.decode(split_tokens(data_dir, "train", tokenizer))["v"], values, rtol=1e-12)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("a,b,c\n1,2,3\n4,5\n6,7,8\n", "row 1 has 2 fields where the header has 3 (a ragged row: '4,5')"),
        ("a,b,c\n1,2,3\n4,5,6\n6,7,8,9\n", "row 2 has 4 fields where the header has 3 (a ragged row: '6,7,8,9')"),
    ],
)
def test_ragged_rows_are_refused_naming_file_and_row(tmp_path, content, message):
    source = tmp_path / "ragged.csv"
    source.write_text(content)
    assert failure(tmp_path, source) == f"{source}: {message}"
    zipped = tmp_path / "ragged.csv.gz"
    zipped.write_bytes(gzip.compress(content.encode()))
    assert failure(tmp_path, zipped) == f"{zipped}: {message}"


def test_quoted_newlines_and_empty_fields_are_not_ragged(tmp_path):
    source = tmp_path / "quoted.csv"
    source.write_text('a,b,c\n1,"two\nlines",3\n4,,\n')
    data_dir = prep(tmp_path, source, {"split": {"valid": 0, "test": 0}}, columns={"b": {"kind": "category"}})
    train = pd.read_parquet(data_dir / "train.parquet")
    assert train["b"].tolist()[0] == "two\nlines" and np.isnan(train["c"].tolist()[1])


def test_numbers_mixed_with_text_are_refused_with_the_override_that_decides(tmp_path):
    source = tmp_path / "mixed.csv"
    pd.DataFrame({"code": ["1", "2.5", "abc", "7"] * 5, "x": np.arange(20.0)}).to_csv(source, index=False)
    assert failure(tmp_path, source) == (
        f"{source}: column 'code' mixes numbers (e.g. '1', '2.5') and text (e.g. 'abc' in row 2); declare its "
        f"kind: dataset.columns.code.kind=category keeps every value as text, kind=float or int refuses the "
        f"text rows"
    )
    message = failure(tmp_path, source, columns={"code": {"kind": "float"}})
    assert message == f"{source}: column 'code' row 2: cannot parse 'abc' as a number"
    data_dir = prep(tmp_path, source, {"split": {"valid": 0, "test": 0}}, columns={"code": {"kind": "category"}})
    assert TabularTokenizer.load(data_dir / "tokenizer.json").column("code").categories == ["1", "2.5", "7", "abc"]


def test_entity_ids_may_mix_numbers_and_text(tmp_path):
    source = tmp_path / "ids.csv"
    pd.DataFrame(
        {"customer": ["17", "X-17", "18", "X-18"] * 3, "t": np.arange(12) % 3, "x": np.arange(12) + 0.5}
    ).to_csv(source, index=False)
    data_dir = prep(tmp_path, source, {"split": {"valid": 0, "test": 0}}, group_by="customer", order_by="t")
    assert TabularTokenizer.load(data_dir / "tokenizer.json").column("customer").categories == [
        "17",
        "18",
        "X-17",
        "X-18",
    ]


def test_text_categories_and_numbers_alone_are_not_mixed(tmp_path):
    source = tmp_path / "plain.csv"
    pd.DataFrame({"grade": ["A", "B"] * 10, "x": ["1", "2"] * 10}).to_csv(source, index=False)
    data_dir = prep(tmp_path, source, {"split": {"valid": 0, "test": 0}})
    tokenizer = TabularTokenizer.load(data_dir / "tokenizer.json")
    assert [(c.name, c.kind) for c in tokenizer.columns] == [("grade", "category"), ("x", "int")]


def test_repeated_header_names_are_refused(tmp_path):
    source = tmp_path / "twice.csv"
    source.write_text("a,b,a,c,b\n1,2,3,4,5\n")
    assert (
        failure(tmp_path, source)
        == f"{source}: the header names 'a', 'b' more than once; give every column its own name"
    )
    parquet = tmp_path / "twice.parquet"
    pq.write_table(pa.Table.from_arrays([pa.array([1]), pa.array([2])], names=["a", "a"]), parquet)
    assert (
        failure(tmp_path, parquet) == f"{parquet}: the header names 'a' more than once; give every column its own name"
    )


def test_zoned_datetimes_keep_their_zone_across_dst(tmp_path):
    times = pd.Series(pd.date_range("2024-03-09 12:00", periods=20, freq="6h", tz="America/New_York"))
    table = pd.DataFrame({"at": times, "x": np.arange(20) + 0.5})
    source = tmp_path / "zoned.parquet"
    table.to_parquet(source)
    data_dir = prep(tmp_path, source, {"split": {"valid": 0, "test": 0}})
    tokenizer = TabularTokenizer.load(data_dir / "tokenizer.json")
    assert tokenizer.column("at").timezone == "America/New_York"
    decoded = tokenizer.decode(split_tokens(data_dir, "train", tokenizer))
    pd.testing.assert_frame_equal(decoded, table)
    pd.testing.assert_frame_equal(pd.read_parquet(data_dir / "train.parquet"), table)


def test_utc_offsets_in_text_become_utc_instants(tmp_path):
    source = tmp_path / "offsets.csv"
    text = ["2024-03-10T01:00:00-05:00", "2024-03-10T03:00:00-04:00", "2024-03-10T05:30:00-04:00"]
    pd.DataFrame({"at": text, "x": [1.0, 2.0, 3.0]}).to_csv(source, index=False)
    data_dir = prep(tmp_path, source, {"split": {"valid": 0, "test": 0}}, columns={"at": {"kind": "datetime"}})
    tokenizer = TabularTokenizer.load(data_dir / "tokenizer.json")
    assert tokenizer.column("at").timezone == "UTC"
    decoded = tokenizer.decode(split_tokens(data_dir, "train", tokenizer))["at"]
    assert decoded.tolist() == pd.to_datetime(text, utc=True, format="mixed").tolist()  # same instants
    assert [str(t) for t in decoded] == [
        "2024-03-10 06:00:00+00:00",
        "2024-03-10 07:00:00+00:00",
        "2024-03-10 09:30:00+00:00",
    ]


def test_dates_with_and_without_offsets_in_one_column_are_refused(tmp_path):
    source = tmp_path / "half.csv"
    pd.DataFrame(
        {"at": ["2024-03-10T01:00:00-05:00", "2024-03-10T03:00:00-04:00", "2024-03-10 05:00"], "x": [1.0, 2.0, 3.0]}
    ).to_csv(source, index=False)
    assert failure(tmp_path, source, columns={"at": {"kind": "datetime"}}) == (
        f"{source}: column 'at' row 2: '2024-03-10 05:00' has no UTC offset while row 0 has one; give every "
        f"value an offset, or none"
    )


# ---------------------------------------------------------------- unreadable sources: one line naming the file


def csv_bytes(rows: int = 5000) -> bytes:
    return pd.DataFrame({"a": np.arange(rows), "b": np.arange(rows) * 0.5}).to_csv(index=False).encode()


def test_truncated_csv_gz_is_one_line(tmp_path):
    source = tmp_path / "cut.csv.gz"
    packed = gzip.compress(csv_bytes())
    source.write_bytes(packed[: len(packed) // 2])
    assert failure(tmp_path, source) == (
        f"{source}: cannot read the file, it is truncated or corrupt (Compressed "
        f"file ended before the end-of-stream marker was reached)"
    )


def test_corrupt_csv_gz_is_one_line(tmp_path):
    source = tmp_path / "bad.csv.gz"
    packed = bytearray(gzip.compress(csv_bytes()))
    packed[len(packed) // 2 : len(packed) // 2 + 40] = b"x" * 40
    source.write_bytes(bytes(packed))
    message = failure(tmp_path, source)
    assert re.fullmatch(rf"{re.escape(str(source))}: cannot read the file, it is truncated or corrupt \(.+\)", message)


def test_csv_gz_that_is_not_gzip_is_one_line(tmp_path):
    source = tmp_path / "plain.csv.gz"
    source.write_bytes(csv_bytes(10))
    assert failure(tmp_path, source) == (
        f"{source}: cannot read the file, it is truncated or corrupt (Not a gzipped file (b'a,'))"
    )


def test_empty_parquet_file_is_one_line(tmp_path):
    source = tmp_path / "empty.parquet"
    source.write_bytes(b"")
    assert failure(tmp_path, source) == f"{source}: not a readable Parquet file (Parquet file size is 0 bytes)"


def test_parquet_list_column_is_named_and_can_be_dropped(tmp_path):
    source = tmp_path / "lists.parquet"
    pd.DataFrame({"tags": [[1, 2], [3], []] * 4, "x": np.arange(12.0)}).to_parquet(source)
    assert failure(tmp_path, source) == (
        f"{source}: column 'tags' holds list<element: int64>, which has no tokens: only flat columns (numbers, "
        f"text, booleans, dates) are prepared; drop it (dataset.drop) or flatten it"
    )
    data_dir = prep(tmp_path, source, {"split": {"valid": 0, "test": 0}}, drop=["tags"])
    assert list(pd.read_parquet(data_dir / "train.parquet").columns) == ["x"]


@pytest.mark.parametrize(("value", "text"), [(np.inf, "inf"), (-np.inf, "-inf")])
def test_infinity_names_file_column_and_row(tmp_path, value, text):
    source = tmp_path / "inf.csv"
    pd.DataFrame({"x": [1.0, 2.0, value, 4.0] * 5}).to_csv(source, index=False)
    assert failure(tmp_path, source) == (
        f"{source}: column 'x': row 2 holds {text}; an infinity has no token: replace it (e.g. with a missing "
        f"value) or drop the row"
    )


# ---------------------------------------------------------------- fuzz: a valid table round-trips, an invalid one is one line


VALUES = {
    "float": st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([1e-300, -1e300, 0.0, 2.5])),
    "int": st.integers(-(10**12), 10**12),
    "text": st.one_of(st.text(st.characters(blacklist_categories=("Cs",)), max_size=6), st.none()),
    "bool": st.booleans(),
    "minutes": st.integers(0, 10**6),
    "mixed": st.one_of(st.text(st.characters(blacklist_categories=("Cs",)), max_size=4), st.integers(0, 9).map(str)),
}


@st.composite
def small_tables(draw) -> tuple[pd.DataFrame, bool]:
    """A few rows of random kinds (NaN, infinities, extreme magnitudes, unicode, number/text mixes), and
    whether to write it as Parquet."""
    rows = draw(st.integers(3, 20))
    kinds = draw(st.lists(st.sampled_from(sorted(VALUES)), min_size=1, max_size=4))
    table = pd.DataFrame(
        {f"c{i}_{kind}": draw(st.lists(VALUES[kind], min_size=rows, max_size=rows)) for i, kind in enumerate(kinds)}
    )
    for name in [c for c in table.columns if c.endswith("_minutes")]:
        table[name] = pd.Timestamp("2020-01-01") + pd.to_timedelta(table[name], unit="m")
    return table, draw(st.booleans())


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(case=small_tables())
def test_random_small_tables_round_trip_or_fail_in_one_line(tmp_path_factory, case):
    table, parquet = case
    directory = tmp_path_factory.mktemp("fuzz")
    source = directory / ("t.parquet" if parquet else "t.csv")
    table.to_parquet(source) if parquet else table.to_csv(source, index=False)
    try:
        data_dir = prep(directory, source, {"split": {"valid": 0.2, "test": 0.2}})
    except DataPrepError as err:
        assert "\n" not in str(err) and str(err).startswith(f"{source}: ")
        return
    tokenizer = TabularTokenizer.load(data_dir / "tokenizer.json")
    train = pd.read_parquet(data_dir / "train.parquet")
    decoded = tokenizer.decode(split_tokens(data_dir, "train", tokenizer))
    assert len(decoded) == len(train)
    for spec in tokenizer.columns:
        got, want = decoded[spec.name], train[spec.name]
        if spec.kind in ("float", "int"):
            np.testing.assert_allclose(
                got.to_numpy(float), np.round(want.to_numpy(float), spec.decimals), rtol=1e-12, atol=0.0
            )
        elif spec.kind == "datetime":
            assert (got.astype("int64") // 10**9).tolist() == (want.astype("int64") // 10**9).tolist()
        else:
            assert [None if pd.isna(v) else str(v) for v in got] == [None if pd.isna(v) else str(v) for v in want]


def test_the_cli_prints_a_read_error_as_one_line(tmp_path):
    """`nemo-tabular prepare` on a truncated .csv.gz: exit 1, one 'error: <file>: ...' line, no traceback
    (the other messages above reach the CLI the same way, as DataPrepError)."""
    import subprocess
    import sys

    source = tmp_path / "cut.csv.gz"
    source.write_bytes(gzip.compress(csv_bytes())[:2000])
    done = subprocess.run(
        [sys.executable, "-m", "nemo_tabular.cli", "prepare", f"source={source}", f"paths.root={tmp_path / 'runs'}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert (done.returncode, done.stderr) == (
        1,
        f"error: {source}: cannot read the file, it is truncated or "
        f"corrupt (Compressed file ended before the end-of-stream marker "
        f"was reached)\n",
    )
    assert not list((tmp_path / "runs").rglob("data")) if (tmp_path / "runs").exists() else True
