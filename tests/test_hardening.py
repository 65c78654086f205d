"""Hostile artefacts: a crafted checkpoint or tokenizer file is refused with one line and runs nothing.

Checkpoints here are real megatron-core dist checkpoints of a one-layer GPT, saved in this process;
the hostile ones are those with one file rewritten, as an attacker who ships a checkpoint would.
"""

import io
import json
import os
import pickle
import resource
import shutil
import time

import numpy as np
import pandas as pd
import pytest
import torch
from omegaconf import OmegaConf

from conftest import load_tokenizer_settings
from nemo_tabular.tokenizer import TabularTokenizer, TokenizerError
from nemo_tabular.tokenizer.schema import MAX_VOCAB


# --- tokenizer.json ---------------------------------------------------------------------------------

def numeric_column(name="x", **fields) -> dict:
    """A valid numeric column as tokenizer.json holds it: codes 0..999, three base-10 digits."""
    return {"name": name, "kind": "float", "nullable": False, "out_of_range": "error", "decimals": 1,
            "unit": None, "low": 0, "high": 999, "base": 10, "code_len": 3, "n_codes": 1000,
            "transform": None, "step": None, "digit_values": None, **fields}


def write_tokenizer(path, *columns) -> str:
    path.write_text(json.dumps({"format": "nemo-tabular-tokenizer", "version": 1, "columns": list(columns)}))
    return str(path)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def test_crafted_tokenizer_fails_at_once_naming_the_field(tmp_path):
    path = write_tokenizer(tmp_path / "tokenizer.json", numeric_column(code_len=1e9, n_codes=1e18, base=10))
    before, start = peak_rss_mb(), time.perf_counter()
    with pytest.raises(TokenizerError) as err:
        TabularTokenizer.load(path)
    assert str(err.value) == f"{path}: column 'x': code_len must be an integer in [1, 63], got 1000000000.0"
    assert time.perf_counter() - start < 1.0
    assert peak_rss_mb() - before < 50


@pytest.mark.parametrize("fields, message", [
    ({"kind": "exec"}, "kind must be one of float, int, datetime, category, bool, got 'exec'"),
    ({"code_len": 10**9}, "code_len must be an integer in [1, 63], got 1000000000"),
    ({"code_len": 5}, "code_len must be 3, the digits in base 10 that 1000 codes need (as fitting writes it), got 5"),
    ({"base": 10**9}, "base must be an integer in [2, 65536], got 1000000000"),
    ({"base": True}, "base must be an integer in [2, 65536], got True"),
    ({"n_codes": 10**19}, "n_codes must be an integer in [1, 4611686018427387904], got 10000000000000000000"),
    ({"n_codes": 999}, "n_codes must be high - low + 1 = 1000 without a transform, got 999"),
    ({"high": -1}, "high must be an integer in [0, 4611686018427387904], got -1"),
    ({"decimals": 400}, "decimals must be an integer in [-308, 308], got 400"),
    ({"nullable": "yes"}, "nullable must be true or false, got 'yes'"),
    ({"out_of_range": "wrap"}, "out_of_range must be one of error, clip, got 'wrap'"),
    ({"transform": {"name": "eval", "low": 0, "high": 1}, "step": 0.1},
     "transform.name must be one of log1p, yeo-johnson, quantile, got 'eval'"),
    ({"transform": {"name": "log1p", "low": 0, "high": 99.9}, "step": 0},
     "step must be a positive number with a transform, got 0"),
    ({"digit_values": [[0, 1], [0, 10], [0]]}, "digit_values[1] must be a non-empty increasing list of digits in [0, 10)"),
    ({"kind": "datetime", "unit": "ns", "decimals": 0}, "unit must be one of s, m, h, D, got 'ns'"),
])
def test_out_of_bound_numeric_field_is_named(tmp_path, fields, message):
    path = write_tokenizer(tmp_path / "tokenizer.json", numeric_column(**fields))
    with pytest.raises(TokenizerError) as err:
        TabularTokenizer.load(path)
    assert str(err.value) == f"{path}: column 'x': {message}"


@pytest.mark.parametrize("column, message", [
    ({"name": "c", "kind": "category", "categories": ["a", "a"]}, "column 'c': categories must be distinct"),
    ({"name": "c", "kind": "category", "categories": [["a"]]},
     "column 'c': categories must hold strings or numbers, got ['a']"),
    ({"name": "b", "kind": "bool", "categories": [0, 1]}, "column 'b': categories must hold true/false, got 0"),
    ({"name": "c", "kind": "category", "categories": []},
     "column 'c': no categories, no missing and no rare token: the column has no token"),
    ({"name": "", "kind": "category"}, "columns[0]: name must be a non-empty string, got ''"),
])
def test_bad_categorical_column_is_named(tmp_path, column, message):
    path = write_tokenizer(tmp_path / "tokenizer.json", column)
    with pytest.raises(TokenizerError) as err:
        TabularTokenizer.load(path)
    assert str(err.value) == f"{path}: {message}"


def test_vocabulary_bound_names_the_column_that_crosses_it(tmp_path):
    wide = {"base": 2**16, "code_len": 2, "n_codes": 2**32, "high": 2**32 - 1}  # 131072 ids per column
    columns = [numeric_column(f"c{i}", **wide) for i in range(40)]
    path = write_tokenizer(tmp_path / "tokenizer.json", *columns)
    with pytest.raises(TokenizerError) as err:
        TabularTokenizer.load(path)
    assert str(err.value) == (f"{path}: column 'c32': the vocabulary reaches {MAX_VOCAB + 2**17} tokens, "
                              f"more than {MAX_VOCAB}")


def test_duplicate_column_and_empty_file_are_named(tmp_path):
    path = write_tokenizer(tmp_path / "tokenizer.json", numeric_column(), numeric_column())
    with pytest.raises(TokenizerError, match=r"^.*tokenizer.json: column 'x' appears twice$"):
        TabularTokenizer.load(path)
    path = write_tokenizer(tmp_path / "tokenizer.json")
    with pytest.raises(TokenizerError, match=r"^.*tokenizer.json: columns must be a non-empty list, got \[\]$"):
        TabularTokenizer.load(path)


def test_every_fitted_tokenizer_passes_the_checks(tmp_path):
    """What fit writes (each kind, transform, fill_all, rare, missing) loads back unchanged."""
    rng = np.random.default_rng(0)
    n = 400
    df = pd.DataFrame({"f": rng.lognormal(size=n).round(3), "i": rng.integers(-50, 5000, n),
                       "t": pd.to_datetime(rng.integers(0, 2 * 10**9, n), unit="s"),
                       "c": rng.choice(list("abcdefg"), n), "b": rng.random(n) > 0.5,
                       "m": np.where(rng.random(n) > 0.9, np.nan, rng.normal(size=n).round(2)),
                       "k": rng.choice([1, 2, 3], n)})
    for transform in ("none", "log1p", "yeo-johnson", "quantile"):
        for fill_all in (True, False):
            settings = load_tokenizer_settings(transform=transform, fill_all=fill_all, min_count=80)
            tok = TabularTokenizer.fit(df, settings, {"k": {"kind": "category"}})
            tok.save(tmp_path / "tokenizer.json")
            loaded = TabularTokenizer.load(tmp_path / "tokenizer.json")
            assert loaded.to_json() == tok.to_json()
            np.testing.assert_array_equal(loaded.encode(df), tok.encode(df))


def test_fit_refuses_a_base_that_load_would_refuse():
    with pytest.raises(TokenizerError) as err:
        TabularTokenizer.fit(pd.DataFrame({"x": [1, 2]}), load_tokenizer_settings(base=10**6))
    assert str(err.value) == "column 'x': base must be between 2 and 65536, not 1000000"


def test_large_base_costs_linear_memory(tmp_path):
    """Digit lookup tables are O(base): base 65536 with seen digits loads without a base x base matrix."""
    column = numeric_column(base=2**16, code_len=1, n_codes=2**16, high=2**16 - 1,
                            digit_values=[list(range(0, 2**16, 2))])
    before = peak_rss_mb()
    tok = TabularTokenizer.load(write_tokenizer(tmp_path / "tokenizer.json", column))
    assert tok.vocab_size == 3 + 2**15
    assert peak_rss_mb() - before < 100
