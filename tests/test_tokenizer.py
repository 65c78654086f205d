"""Tokenizer behaviour: exact round trips within the declared precision, layout and errors."""

import numpy as np
import pandas as pd
import pytest
from conftest import load_tokenizer_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nemo_tabular.tokenizer import RARE_LABEL, TabularTokenizer, TokenizerError, TokenizerFitter
from nemo_tabular.tokenizer.fitter import AUTO_MAX_BASE, fewest_digits_base

SETTINGS = load_tokenizer_settings()


def round_trip(df: pd.DataFrame, columns=None, **overrides) -> tuple[TabularTokenizer, pd.DataFrame]:
    tok = TabularTokenizer.fit(df, load_tokenizer_settings(**overrides), columns)
    return tok, tok.decode(tok.encode(df))


def assert_equal_rounded(original: pd.Series, decoded: pd.Series, decimals: int) -> None:
    expected = np.round(original.to_numpy(dtype=np.float64), decimals)
    np.testing.assert_array_equal(decoded.to_numpy(dtype=np.float64), expected)


floats = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    values=st.lists(st.one_of(floats, st.just(float("nan"))), min_size=2, max_size=60).filter(
        lambda v: not all(np.isnan(v))
    ),
    decimals=st.integers(0, 3),
    base=st.sampled_from([2, 7, 10, 100, 1000, "auto"]),
    transform=st.sampled_from(["none", "log1p", "yeo-johnson", "quantile"]),
)
def test_float_round_trip_is_exact_within_precision(values, decimals, base, transform):
    df = pd.DataFrame({"v": values})
    try:
        tok, out = round_trip(df, {"v": {"decimals": decimals, "transform": transform}}, base=base, max_code_len=40)
    except TokenizerError as err:
        assert "digits" in str(err)  # only an over-long code may refuse
        return
    assert_equal_rounded(df["v"], out["v"], decimals)
    assert tok.row_width == tok.column("v").code_len + 1


@settings(max_examples=40, deadline=None)
@given(
    values=st.lists(st.one_of(st.integers(-(10**9), 10**9), st.none()), min_size=1, max_size=50).filter(
        lambda v: any(x is not None for x in v)
    ),
    base=st.sampled_from([3, 10, 100, "auto"]),
)
def test_int_round_trip_with_missing(values, base):
    df = pd.DataFrame({"v": pd.array(values, dtype="Int64")})
    tok, out = round_trip(df, base=base, max_code_len=40)
    assert tok.column("v").kind == "int"
    assert out["v"].isna().tolist() == df["v"].isna().tolist()
    present = df["v"].notna().to_numpy()
    np.testing.assert_array_equal(
        out["v"].to_numpy(dtype=float)[present], df["v"].to_numpy(dtype=float, na_value=np.nan)[present]
    )


@settings(max_examples=40, deadline=None)
@given(
    seconds=st.lists(st.one_of(st.integers(0, 2 * 10**9), st.none()), min_size=1, max_size=40).filter(
        lambda v: any(x is not None for x in v)
    ),
    unit=st.sampled_from(["s", "m", "h", "D"]),
)
def test_datetime_round_trip_to_unit(seconds, unit):
    stamps = pd.Series(pd.to_datetime([s for s in seconds], unit="s"))
    tok, out = round_trip(pd.DataFrame({"t": stamps}), datetime_unit=unit)
    expected = stamps.dt.round({"s": "s", "m": "min", "h": "h", "D": "D"}[unit])
    # pandas rounds half to even; the tokenizer rounds half up: compare within half a unit
    delta = (out["t"] - stamps).abs().dropna()
    assert (delta <= pd.Timedelta(1, unit={"m": "min"}.get(unit, unit)) / 2).all()
    assert out["t"].isna().tolist() == expected.isna().tolist()


def test_datetime_strings_parse_and_decode_as_datetimes():
    df = pd.DataFrame({"t": ["2024-01-01 10:00:00", "2024-03-05 00:00:01", None]})
    tok, out = round_trip(df, {"t": {"kind": "datetime"}})
    assert list(out["t"])[:2] == [pd.Timestamp("2024-01-01 10:00:00"), pd.Timestamp("2024-03-05 00:00:01")]
    assert pd.isna(out["t"][2])


def test_unparsable_date_names_column_and_row():
    df = pd.DataFrame({"t": ["2024-01-01", "not a date"]})
    with pytest.raises(TokenizerError, match=r"column 't': row 1 holds 'not a date', not a date"):
        TabularTokenizer.fit(df, SETTINGS, {"t": {"kind": "datetime"}})


def test_categories_bool_and_missing_round_trip():
    df = pd.DataFrame({"c": ["a", "b", None, "a"], "flag": [True, False, True, True], "n": [1, 2, 3, 4]})
    tok, out = round_trip(df, {"n": {"kind": "category"}})
    assert out["c"].tolist()[:2] == ["a", "b"] and pd.isna(out["c"][2])
    assert out["flag"].dtype == bool and out["flag"].tolist() == df["flag"].tolist()
    assert out["n"].tolist() == [1, 2, 3, 4]
    assert [spec.kind for spec in tok.columns] == ["category", "bool", "category"]


def test_rare_categories_share_one_token_and_keep_no_names():
    df = pd.DataFrame({"c": ["a"] * 5 + ["b"] * 5 + ["secret"]})
    tok, out = round_trip(df, {"c": {"min_count": 2}})
    assert out["c"].tolist() == ["a"] * 5 + ["b"] * 5 + [RARE_LABEL]
    assert "secret" not in str(tok.to_json())
    assert tok.valid_mask(out).all()


def test_unseen_category_raises_naming_value():
    tok = TabularTokenizer.fit(pd.DataFrame({"c": ["a", "b"]}), SETTINGS)
    with pytest.raises(TokenizerError, match=r"column 'c': row 7 holds 'z', a category never seen"):
        tok.encode(pd.DataFrame({"c": ["z"]}, index=[7]))


def test_out_of_range_raises_or_clips():
    df = pd.DataFrame({"x": [1.5, 2.5, 10.25]})
    tok = TabularTokenizer.fit(df, SETTINGS, {"x": {"out_of_range": "error"}})
    with pytest.raises(TokenizerError, match=r"column 'x': row 0 holds 11.0, outside the fitted range \[1.5, 10.25\]"):
        tok.encode(pd.DataFrame({"x": [11.0]}))
    clipping = TabularTokenizer.fit(df, SETTINGS)  # clip is the default
    assert clipping.column("x").out_of_range == "clip"
    assert clipping.decode(clipping.encode(pd.DataFrame({"x": [11.0, -3.0]})))["x"].tolist() == [10.25, 1.5]


def test_missing_value_in_column_fitted_without_any():
    tok = TabularTokenizer.fit(pd.DataFrame({"x": [1.0, 2.0]}), SETTINGS)
    with pytest.raises(TokenizerError, match="column 'x': row 1 is missing"):
        tok.encode(pd.DataFrame({"x": [1.0, None]}))


def test_non_number_in_numeric_column_names_row():
    tok = TabularTokenizer.fit(pd.DataFrame({"x": [1.0, 2.0]}), SETTINGS)
    with pytest.raises(TokenizerError, match=r"column 'x': row 'b' holds 'abc', not a number"):
        tok.encode(pd.DataFrame({"x": ["1", "abc"]}, index=["a", "b"]))


def test_slot_ranges_partition_the_vocabulary():
    df = pd.DataFrame({"x": np.linspace(0, 5000, 50), "c": list("ab") * 25})
    tok = TabularTokenizer.fit(df, SETTINGS)
    ranges = tok.slot_ranges()
    assert len(ranges) == tok.row_width - 1
    assert ranges[0][0] == tok.n_special and ranges[-1][1] == tok.vocab_size
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))
    tokens = tok.encode(df)
    for slot, (lo, hi) in enumerate(ranges):
        assert ((tokens[:, slot] >= lo) & (tokens[:, slot] < hi)).all()
    assert (tokens[:, -1] == tok.eor_id).all()
    assert tok.column_slots("c") == slice(tok.row_width - 2, tok.row_width - 1)


def test_digits_are_most_significant_first_in_base():
    tok = TabularTokenizer.fit(pd.DataFrame({"n": [0, 1234]}), load_tokenizer_settings(base=10))
    lo = [r[0] for r in tok.slot_ranges()]
    assert (tok.encode(pd.DataFrame({"n": [1234]}))[0, :4] - lo).tolist() == [1, 2, 3, 4]


def test_fill_all_false_uses_only_seen_digits():
    df = pd.DataFrame({"n": [0, 10, 20, 90]})
    full = TabularTokenizer.fit(df, load_tokenizer_settings(base=10))
    seen = TabularTokenizer.fit(df, load_tokenizer_settings(base=10, fill_all=False))
    assert seen.vocab_size < full.vocab_size
    assert seen.decode(seen.encode(df))["n"].tolist() == df["n"].tolist()


def test_decode_rejects_token_of_wrong_slot():
    tok = TabularTokenizer.fit(pd.DataFrame({"c": ["a", "b"], "d": ["x", "y"]}), SETTINGS)
    tokens = tok.encode(pd.DataFrame({"c": ["a"], "d": ["x"]}))
    tokens[0, 0] = tokens[0, 1]
    with pytest.raises(TokenizerError, match="row 0: token .* at slot 0 is outside"):
        tok.decode(tokens)


def test_save_load_round_trip(tmp_path):
    df = pd.DataFrame(
        {"x": [0.5, 1.25, None], "c": ["a", "b", "a"], "t": pd.to_datetime(["2020-01-01", "2021-06-01", "2022-12-31"])}
    )
    tok = TabularTokenizer.fit(df, SETTINGS, {"x": {"transform": "quantile"}})
    tok.save(tmp_path / "tokenizer.json")
    loaded = TabularTokenizer.load(tmp_path / "tokenizer.json")
    np.testing.assert_array_equal(loaded.encode(df), tok.encode(df))
    assert loaded.vocab_size == tok.vocab_size and loaded.row_width == tok.row_width
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(TokenizerError, match="bad.json: not a nemo-tabular-tokenizer"):
        TabularTokenizer.load(tmp_path / "bad.json")


def test_chunked_fit_equals_single_fit():
    rng = np.random.default_rng(0)
    df = pd.DataFrame(
        {"x": rng.normal(size=1000).round(3), "c": rng.choice(list("abc"), 1000), "n": rng.integers(0, 500, 1000)}
    )
    fitter = TokenizerFitter(SETTINGS)
    for start in range(0, 1000, 128):
        fitter.update(df.iloc[start : start + 128])
    np.testing.assert_array_equal(fitter.finish().encode(df), TabularTokenizer.fit(df, SETTINGS).encode(df))


def test_valid_mask_flags_out_of_range_and_unknown():
    tok = TabularTokenizer.fit(pd.DataFrame({"x": [0.0, 1.0], "c": ["a", "b"]}), SETTINGS)
    mask = tok.valid_mask(pd.DataFrame({"x": [0.5, 2.0, 0.1], "c": ["a", "a", "zz"]}))
    assert mask.tolist() == [True, False, False]


def test_config_errors_name_the_column():
    df = pd.DataFrame({"x": [1.0]})
    with pytest.raises(TokenizerError, match=r"column settings name column\(s\) \['nope'\]"):
        TabularTokenizer.fit(df, SETTINGS, {"nope": {"decimals": 1}})
    with pytest.raises(TokenizerError, match=r"column 'x': unknown setting\(s\) \['decimal'\]"):
        TabularTokenizer.fit(df, SETTINGS, {"x": {"decimal": 1}})
    with pytest.raises(TokenizerError, match="column 'x' needs 4 digits in base 10"):
        TabularTokenizer.fit(pd.DataFrame({"x": [0, 9999]}), load_tokenizer_settings(base=10, max_code_len=3))
    with pytest.raises(TokenizerError, match="empty table"):
        TabularTokenizer.fit(pd.DataFrame({"x": []}), SETTINGS)


def test_all_missing_first_chunk_does_not_decide_the_kind():
    fitter = TokenizerFitter(SETTINGS)
    fitter.update(pd.DataFrame({"c": [None, None]}, dtype=float))
    fitter.update(pd.DataFrame({"c": ["a", "b"]}))
    tok = fitter.finish()
    assert tok.column("c").kind == "category" and tok.column("c").nullable


@pytest.mark.parametrize(
    ("n_codes", "headroom", "base", "digits"),
    [
        (481, 0, 481, 1),
        (1000, 0, 1000, 1),
        (1001, 0, 32, 2),
        (18_498, 0, 137, 2),
        (10**7, 0, 216, 3),
        (44, 0.25, 55, 1),
    ],
)
def test_auto_base_is_the_smallest_of_the_fewest_digits(n_codes, headroom, base, digits):
    assert fewest_digits_base(n_codes, headroom) == base
    assert base**digits >= n_codes * (1 + headroom) > (base - 1) ** digits and base <= AUTO_MAX_BASE


def test_auto_base_sizes_each_column_and_keeps_the_time_axis_headroom():
    table = pd.DataFrame({"year": np.arange(1959, 2003), "price": np.linspace(326.0, 18_823.0, 44), "cut": ["a"] * 44})
    tok = TabularTokenizer.fit(
        table, load_tokenizer_settings(base="auto"), {"price": {"decimals": 0}}, order_by=["year"]
    )
    year, price = tok.column("year"), tok.column("price")
    assert (year.base, year.code_len, year.high) == (55, 1, 2002 + 11)  # 44 years + a quarter of the span
    assert (price.base, price.code_len) == (137, 2)  # 18,498 codes: two digits instead of base 100's three
    assert tok.column("cut").base == 100  # categories have no digits
    decoded = tok.decode(tok.encode(table))
    assert decoded["year"].tolist() == table["year"].tolist()
    assert_equal_rounded(table["price"], decoded["price"], 0)
