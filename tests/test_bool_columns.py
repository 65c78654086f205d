"""`kind: bool` on a yes/no column (issue 18: it said "category never seen"): yes/no, true/false, y/n, t/f,
on/off and 1/0 are read as the booleans they say, in prep (the .parquet holds True/False), in the tokenizer
(fit, encode, validity) and in sampling conditions; any other word is one line naming column and row."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import REPO, load_tokenizer_settings
from omegaconf import OmegaConf

from nemo_tabular.data.errors import DataPrepError
from nemo_tabular.data.prepare import prepare_dataset
from nemo_tabular.tokenizer import TabularTokenizer, TokenizerError
from nemo_tabular.tokenizer.codecs import parse_bools

READS = "kind: bool reads true/false, yes/no, y/n, t/f, on/off and 1/0"


@pytest.mark.parametrize(
    "values, expected",
    [
        (
            ["yes", "No", " TRUE ", "f", "Y", "off", "ON", "0", "1"],
            [True, False, True, False, True, False, True, False, True],
        ),
        ([1.0, 0.0, np.nan], [True, False, None]),
        ([True, False, None], [True, False, None]),
    ],
)
def test_boolean_words_and_numbers_read_as_booleans(values, expected):
    parsed = parse_bools(pd.Series(values, dtype=object))
    assert [None if pd.isna(v) else v for v in parsed] == expected


def test_a_word_that_is_no_boolean_names_column_and_row():
    with pytest.raises(TokenizerError) as err:
        parse_bools(pd.Series(["yes", "maybe"]), "flag")
    assert str(err.value) == f"column 'flag': row 1 holds 'maybe', not a boolean ({READS})"
    assert parse_bools(pd.Series(["yes", "maybe"]), errors="coerce").isna().tolist() == [False, True]


def test_the_tokenizer_fits_encodes_and_judges_yes_no_as_bool():
    table = pd.DataFrame({"flag": ["yes", "no", "no", "yes", None], "x": [1.0, 2.0, 3.0, 4.0, 5.0]})
    tokenizer = TabularTokenizer.fit(table, load_tokenizer_settings(), {"flag": {"kind": "bool"}})
    spec = tokenizer.column("flag")
    assert spec.kind == "bool" and spec.categories == [False, True] and spec.nullable
    decoded = tokenizer.decode(tokenizer.encode(table))
    assert decoded["flag"].tolist()[:4] == [True, False, False, True] and pd.isna(decoded["flag"][4])
    assert (
        tokenizer.encode(pd.DataFrame({"flag": ["Y", "n", True, False, None], "x": 1.0}))
        == tokenizer.encode(pd.DataFrame({"flag": [True, False, True, False, None], "x": 1.0}))
    ).all()
    from nemo_tabular.tokenizer.codecs import codec_for

    assert codec_for(spec).valid(pd.Series(["yes", "maybe", None, False])).tolist() == [True, False, True, True]
    with pytest.raises(TokenizerError, match=r"^column 'flag': row 1 holds 'maybe', not a boolean"):
        TabularTokenizer.fit(
            pd.DataFrame({"flag": ["yes", "maybe"]}), load_tokenizer_settings(), {"flag": {"kind": "bool"}}
        )


def prep_config(tmp_path: Path, source: Path, columns: dict):
    return OmegaConf.create(
        {
            "dataset": {
                "name": "t",
                "source": str(source),
                "group_by": None,
                "order_by": None,
                "columns": columns,
                "drop": [],
                "first_columns": [],
                "target": None,
            },
            "tokenizer": OmegaConf.load(REPO / "conf" / "tokenizer" / "default.yaml"),
            "tokenizer_path": None,
            "split": {"valid": 0.1, "test": 0.2},
            "seed": 1,
            "chunk_rows": 7,
            "workers": 1,
            "limit_rows": None,
            "paths": {"data_dir": str(tmp_path / "data")},
        }
    )


def test_prepare_reads_a_yes_no_csv_column_declared_bool(tmp_path):
    source = tmp_path / "flags.csv"
    flags = np.where(np.arange(60) % 3 == 0, "yes", "no")
    pd.DataFrame({"flag": flags, "x": np.arange(60) * 1.5}).to_csv(source, index=False)
    data_dir = prepare_dataset(prep_config(tmp_path, source, {"flag": {"kind": "bool"}}))
    tokenizer = TabularTokenizer.load(data_dir / "tokenizer.json")
    assert tokenizer.column("flag").kind == "bool"
    rows = pd.concat([pd.read_parquet(data_dir / f"{split}.parquet") for split in ("train", "valid", "test")])
    assert rows["flag"].dtype == bool
    assert sorted(rows["flag"].tolist()) == sorted((flags == "yes").tolist())


def test_prepare_refuses_a_word_that_is_no_boolean_naming_file_and_row(tmp_path):
    source = tmp_path / "flags.csv"
    pd.DataFrame({"flag": ["yes", "no", "maybe"], "x": [1.0, 2.0, 3.0]}).to_csv(source, index=False)
    with pytest.raises(DataPrepError) as err:
        prepare_dataset(prep_config(tmp_path, source, {"flag": {"kind": "bool"}}))
    assert str(err.value) == f"{source}: column 'flag' row 2: cannot parse 'maybe' as a boolean ({READS})"
    assert not (tmp_path / "data").exists()


def test_the_cli_prepares_yes_no_as_the_readme_declares_it(tmp_path):
    """`dataset.columns={flag: {kind: bool}}` as written (it once failed in Hydra too)."""
    source = tmp_path / "flags.csv"
    pd.DataFrame({"flag": ["yes", "no"] * 20, "x": np.arange(40.0)}).to_csv(source, index=False)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "nemo_tabular.cli",
            "prepare",
            f"source={source}",
            "dataset.columns={flag: {kind: bool}}",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    tokenizer = json.loads((tmp_path / "runs" / "flags" / "data" / "tokenizer.json").read_text())
    assert {c["name"]: c["kind"] for c in tokenizer["columns"]}["flag"] == "bool"
