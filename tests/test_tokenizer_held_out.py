"""Tokenizer behaviour on values the fitting rows never held, and on inputs that used to change silently.

Held-out rows (valid/test in prep) never shape ranges or categories: they only reserve the missing and
rare tokens they need; out-of-range numbers are clipped where asked, unseen categories take the rare
token. Tiny values, infinities and zoned datetimes either round-trip or fail naming the column.
"""

import json

import numpy as np
import pandas as pd
import pytest
from conftest import load_tokenizer_settings

from nemo_tabular.tokenizer import RARE_LABEL, TabularTokenizer, TokenizerError, TokenizerFitter

SETTINGS = load_tokenizer_settings()


def fit_with_held_out(train: pd.DataFrame, held_out: pd.DataFrame, columns=None, **settings) -> TabularTokenizer:
    """A tokenizer fitted on `train` that has seen `held_out` only through observe_held_out."""
    fitter = TokenizerFitter(load_tokenizer_settings(**settings), columns)
    fitter.update(train)
    fitter.observe_held_out(held_out)
    return fitter.finish()


def test_held_out_rows_shape_no_range_or_category():
    train = pd.DataFrame({"color": ["red", "blue", "red"], "size": [1.5, 2.25, 3.0]})
    held_out = pd.DataFrame({"color": ["green", "red"], "size": [99.75, 0.5]})
    tok = fit_with_held_out(train, held_out)
    alone = TabularTokenizer.fit(train, SETTINGS)
    color, size = tok.column("color"), tok.column("size")
    assert color.categories == ["blue", "red"] and color.rare is True and color.nullable is False
    assert (size.low, size.high, size.decimals) == (150, 300, 2)
    assert (size.low, size.high, size.decimals) == (alone.column("size").low, alone.column("size").high, 2)
    text = json.dumps(tok.to_json())
    assert "green" not in text and "99.75" not in text and "9975" not in text


def test_held_out_missing_values_reserve_the_missing_token_only():
    train = pd.DataFrame({"color": ["red", "blue"], "size": [1.0, 2.0]})
    held_out = pd.DataFrame({"color": [None, "red"], "size": [np.nan, 1.0]})
    tok = fit_with_held_out(train, held_out)
    assert [(s.name, s.nullable, s.rare) for s in tok.columns] == [
        ("color", True, False),
        ("size", True, False),
    ]
    decoded = tok.decode(tok.encode(held_out))
    assert decoded["color"].isna().tolist() == [True, False]
    assert decoded["size"].isna().tolist() == [True, False]


def test_held_out_values_are_encoded_as_new_data_clip_and_rare():
    train = pd.DataFrame({"color": ["red", "blue", "red"], "size": [1.5, 2.25, 3.0]})
    held_out = pd.DataFrame({"color": ["green", "red", "blue"], "size": [99.75, 0.5, 1e300]})
    tok = fit_with_held_out(train, held_out, out_of_range="error")
    assert tok.outside_counts(held_out) == {"color": 1, "size": 3}
    decoded = tok.decode(tok.encode(held_out, out_of_range="clip"))
    assert decoded["color"].tolist() == [RARE_LABEL, "red", "blue"]
    assert decoded["size"].tolist() == [3.0, 1.5, 3.0]
    with pytest.raises(
        TokenizerError,
        match=r"^column 'size': row 0 holds 99\.75, outside the fitted range "
        r"\[1\.5, 3\.0\] \(set out_of_range: clip to clip instead\)$",
    ):
        tok.encode(held_out)
    with pytest.raises(TokenizerError, match="out_of_range must be one of error, clip, got 'wrap'"):
        tok.encode(held_out, out_of_range="wrap")


def test_the_column_setting_clip_clips_without_an_override():
    tok = TabularTokenizer.fit(pd.DataFrame({"size": [1.0, 2.0]}), load_tokenizer_settings(out_of_range="clip"))
    assert tok.decode(tok.encode(pd.DataFrame({"size": [-5.0, 7.0, -1e300]})))["size"].tolist() == [1.0, 2.0, 1.0]


def test_held_out_unseen_category_without_rare_token_would_be_refused():
    tok = TabularTokenizer.fit(pd.DataFrame({"color": ["red", "blue"]}), SETTINGS)
    with pytest.raises(
        TokenizerError,
        match=r"^column 'color': row 1 holds 'green', a category never seen "
        r"when the tokenizer was fitted$",
    ):
        tok.encode(pd.DataFrame({"color": ["red", "green"]}), out_of_range="clip")


def test_many_distinct_held_out_categories_still_reserve_the_rare_token():
    train = pd.DataFrame({"code": ["a", "b"]})
    held_out = pd.DataFrame({"code": [f"c{i}" for i in range(30)]})
    tok = fit_with_held_out(train, held_out, max_categories=5)
    assert tok.column("code").categories == ["a", "b"] and tok.column("code").rare is True


def test_declared_category_of_numbers_reserves_rare_for_unseen_held_out_numbers():
    tok = fit_with_held_out(
        pd.DataFrame({"zip": [10115, 10117]}), pd.DataFrame({"zip": [80331]}), {"zip": {"kind": "category"}}
    )
    assert tok.column("zip").categories == [10115, 10117] and tok.column("zip").rare is True
    assert tok.decode(tok.encode(pd.DataFrame({"zip": [80331]})))["zip"].tolist() == [RARE_LABEL]


def test_tiny_values_are_not_inferred_as_zero_decimals():
    df = pd.DataFrame({"v": [1e-300, 2e-300, 3.5e-300]})
    with pytest.raises(
        TokenizerError,
        match=r"^column 'v': every value rounds to 0 at 4 decimals "
        r"\(tokenizer\.max_decimals\), the largest being 3\.5e-300; "
        r"declare decimals: 302 for this column, or rescale it$",
    ):
        TabularTokenizer.fit(df, SETTINGS)
    tok = TabularTokenizer.fit(df, SETTINGS, {"v": {"decimals": 302}})
    np.testing.assert_allclose(tok.decode(tok.encode(df))["v"], df["v"], rtol=1e-12)


def test_small_values_get_the_decimals_they_need():
    df = pd.DataFrame({"v": [0.0001, 0.0003, 0.0]})
    tok = TabularTokenizer.fit(df, SETTINGS)
    assert tok.column("v").decimals == 4
    assert tok.decode(tok.encode(df))["v"].tolist() == [0.0001, 0.0003, 0.0]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ([0.0625, 1.8e304], r"\[0\.0625, 1\.8e\+304\] at 4 decimals"),
        ([9.3e18, 9.3e18], r"\[9\.3e\+18, 9\.3e\+18\] at 0 decimals"),
    ],
)
def test_magnitudes_past_the_grid_are_refused_naming_the_column(values, message):
    with pytest.raises(
        TokenizerError,
        match=rf"^column 'v': its range {message} reaches past the 2\*\*62 grid "
        rf"positions the tokenizer encodes; declare fewer decimals or rescale "
        rf"the column$",
    ):
        TabularTokenizer.fit(pd.DataFrame({"v": values}), SETTINGS)


@pytest.mark.parametrize("value", [np.inf, -np.inf])
def test_infinity_is_refused_naming_column_row_and_value(value):
    df = pd.DataFrame({"v": [1.0, 2.0, value]})
    with pytest.raises(
        TokenizerError,
        match=rf"^column 'v': row 2 holds {value!r}; an infinity has no token: "
        rf"replace it \(e\.g\. with a missing value\) or drop the row$",
    ):
        TabularTokenizer.fit(df, SETTINGS)
    tok = TabularTokenizer.fit(df.iloc[:2], SETTINGS, {"v": {"out_of_range": "clip"}})
    with pytest.raises(TokenizerError, match=r"^column 'v': row 2 holds"):
        tok.encode(df)


def test_zoned_datetimes_decode_in_their_zone_across_dst(tmp_path):
    times = pd.Series(pd.date_range("2024-03-09 12:00", periods=6, freq="12h", tz="America/New_York"), name="t")
    df = pd.DataFrame({"t": times})
    tok = TabularTokenizer.fit(df, SETTINGS)
    assert tok.column("t").timezone == "America/New_York"
    decoded = tok.decode(tok.encode(df))["t"]
    pd.testing.assert_series_equal(decoded, times)
    assert [t.utcoffset().total_seconds() / 3600 for t in decoded] == [-5, -5, -4, -4, -4, -4]
    tok.save(tmp_path / "tokenizer.json")
    loaded = TabularTokenizer.load(tmp_path / "tokenizer.json")
    pd.testing.assert_series_equal(loaded.decode(loaded.encode(df))["t"], times)


def test_text_with_one_offset_keeps_it_and_several_offsets_become_utc():
    one = pd.DataFrame({"t": ["2024-01-05T09:30:00-05:00", "2024-01-06T10:00:00-05:00"]})
    tok = TabularTokenizer.fit(one, SETTINGS, {"t": {"kind": "datetime"}})
    assert tok.column("t").timezone == "UTC-05:00"
    assert [str(t) for t in tok.decode(tok.encode(one))["t"]] == [
        "2024-01-05 09:30:00-05:00",
        "2024-01-06 10:00:00-05:00",
    ]
    across_dst = pd.DataFrame({"t": ["2024-03-10T01:00:00-05:00", "2024-03-10T03:00:00-04:00"]})
    tok = TabularTokenizer.fit(across_dst, SETTINGS, {"t": {"kind": "datetime"}})
    assert tok.column("t").timezone == "UTC"
    assert [str(t) for t in tok.decode(tok.encode(across_dst))["t"]] == [
        "2024-03-10 06:00:00+00:00",
        "2024-03-10 07:00:00+00:00",
    ]


def test_naive_and_aware_text_in_one_column_is_refused():
    df = pd.DataFrame({"t": ["2024-03-10T01:00:00-05:00", "2024-03-10 03:00:00"]})
    with pytest.raises(
        TokenizerError,
        match=r"^column 't': row 1 holds '2024-03-10 03:00:00' without a UTC offset, "
        r"while row 0 has one; give every value an offset, or none$",
    ):
        TabularTokenizer.fit(df, SETTINGS, {"t": {"kind": "datetime"}})


def test_naive_datetimes_write_no_timezone_field():
    df = pd.DataFrame({"t": pd.date_range("2024-01-01", periods=3, freq="D")})
    tok = TabularTokenizer.fit(df, SETTINGS)
    assert tok.column("t").timezone is None and "timezone" not in tok.to_json()["columns"][0]


@pytest.mark.parametrize(
    ("zone", "message"),
    [
        ("Mars/Olympus_Mons", "timezone 'Mars/Olympus_Mons' is not a zone name"),
        (5, "timezone must be a zone name of at most 64 characters, got 5"),
    ],
)
def test_a_bad_timezone_in_tokenizer_json_is_named(tmp_path, zone, message):
    df = pd.DataFrame({"t": pd.Series(pd.date_range("2024-01-01", periods=3, freq="D", tz="UTC"))})
    data = TabularTokenizer.fit(df, SETTINGS).to_json()
    data["columns"][0]["timezone"] = zone
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(data))
    with pytest.raises(TokenizerError, match=f"column 't': {message}"):
        TabularTokenizer.load(path)


# --- order_headroom: the time axis reaches past the training split, from the training split alone -----------

MACRODATA = pd.read_csv(
    __import__("importlib.resources").resources.files("statsmodels") / "datasets" / "macrodata" / "macrodata.csv"
)[["year", "quarter", "realgdp"]]


def test_the_outermost_order_by_column_gets_headroom_and_the_inner_one_none():
    train, test = MACRODATA.iloc[:173], MACRODATA.iloc[183:]  # 1959 Q1 - 2002 Q1; 2004 Q4 - 2009 Q3
    fitter = TokenizerFitter(SETTINGS, order_by=["year", "quarter"])
    fitter.update(train)
    fitter.observe_held_out(test)
    tok = fitter.finish()
    year, quarter = tok.column("year"), tok.column("quarter")
    assert (year.low, year.high) == (1959, 2002 + 11)  # 0.25 x the 43-year training span, rounded up
    assert (quarter.low, quarter.high) == (1, 4)  # it cycles: no headroom
    assert tok.column("realgdp").to_json() == TabularTokenizer.fit(train, SETTINGS).column("realgdp").to_json()
    # the holdout shapes nothing: fitted without it, the same tokenizer
    assert TabularTokenizer.fit(train, SETTINGS, order_by=["year", "quarter"]).to_json() == tok.to_json()
    decoded = tok.decode(tok.encode(test, out_of_range="clip"))  # realgdp clips; every test year is itself
    assert decoded["year"].tolist() == test["year"].tolist()


@pytest.mark.parametrize(("headroom", "high"), [(0, 2002), (1.0, 2045), (5.0, 2058)])
def test_order_headroom_is_a_share_of_the_span_that_never_costs_a_digit(headroom, high):
    tok = TabularTokenizer.fit(
        MACRODATA.iloc[:173], load_tokenizer_settings(order_headroom=headroom), order_by=["year", "quarter"]
    )
    assert tok.column("year").high == high  # 5.0 would reach 2217: capped at 100 one-digit codes, 1959 + 99
    assert tok.column("year").code_len == 1


def test_a_date_axis_extends_in_its_unit_and_later_dates_round_trip():
    dates = pd.DataFrame({"date": pd.date_range("2001-01-01", periods=25, freq="MS")})
    tok = TabularTokenizer.fit(dates.iloc[:13], load_tokenizer_settings(out_of_range="error"), order_by=["date"])
    later = dates.iloc[13:16]  # 2002-02 .. 2002-04: within a quarter of the 2001 span past 2002-01
    assert tok.decode(tok.encode(later))["date"].tolist() == later["date"].tolist()
    with pytest.raises(TokenizerError, match="outside the fitted range"):
        tok.encode(dates.iloc[17:18])  # 2002-06: past the headroom


def test_headroom_keeps_every_digit_of_the_time_axis_when_fill_all_is_off():
    train = pd.DataFrame({"year": [1990, 2000, 2010]})
    tok = TabularTokenizer.fit(train, load_tokenizer_settings(fill_all=False), order_by=["year"])
    assert tok.column("year").digit_values is None
    assert tok.decode(tok.encode(pd.DataFrame({"year": [2013]})))["year"].tolist() == [2013]


def test_a_negative_order_headroom_is_refused_and_a_per_column_one_is_honoured():
    with pytest.raises(TokenizerError, match=r"column 'year': order_headroom must be >= 0, not -1.0"):
        TabularTokenizer.fit(MACRODATA.iloc[:10], load_tokenizer_settings(order_headroom=-1), order_by=["year"])
    tok = TabularTokenizer.fit(MACRODATA.iloc[:173], SETTINGS, {"year": {"order_headroom": 0}}, order_by=["year"])
    assert tok.column("year").high == 2002
