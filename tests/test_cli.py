"""The nemo-tabular command: config checks before heavy imports, one-line errors, --help, own tables from the
README in one line each, and the run directory as the truth after prepare."""

import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import REPO
from omegaconf import OmegaConf

from nemo_tabular.cli.checks import FREE_FORM, RULES, check_config, number, one_of, whole
from nemo_tabular.config import load_stage_config, table_name
from nemo_tabular.errors import ConfigError

CLI = [sys.executable, "-m", "nemo_tabular.cli"]


def cli(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([*CLI, *args], capture_output=True, text=True, cwd=cwd, timeout=600)
    if check:
        assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    return done


@pytest.mark.parametrize(
    "source, name",
    [
        ("data/My Table.csv.gz", "My_Table"),
        ("x.parquet", "x"),
        ("package://plotnine/data/diamonds.csv", "diamonds"),
        ("/tmp/run.v2.CSV", "run.v2"),
        (None, None),
    ],
)
def test_a_run_is_named_after_its_file(source, name):
    assert table_name(source) == name


@pytest.mark.parametrize(
    "rule, value, problem",
    [
        (number(0), "hot", "a number >= 0"),
        (number(0), -1, "a number >= 0"),
        (number(0), float("nan"), "a number >= 0"),
        (number(0), 0.5, None),
        (whole(1, "auto"), "auto", None),
        (whole(1, "auto"), 2.5, "a whole number >= 1 or 'auto'"),
        (whole(1, "auto"), True, "a whole number >= 1 or 'auto'"),
        (whole(1, null=True), None, None),
        (one_of("sample", "forecast"), "forcast", "one of sample, forecast"),
    ],
)
def test_rules_name_what_a_key_accepts(rule, value, problem):
    assert rule.problem(value) == problem


def test_every_bad_value_of_a_stage_is_named_at_once():
    cfg = load_stage_config("sample", ["dataset=diamonds", "temperature=hot", "top_p=2", "mode=forcast"])
    with pytest.raises(ConfigError) as bad:
        check_config("sample", cfg)
    assert str(bad.value) == (
        "mode='forcast': expected one of sample, forecast; temperature='hot': expected a "
        "number >= 0; top_p=2: expected a number in [1e-09, 1]"
    )


def test_stage_configs_pass_their_own_checks():
    """The shipped defaults satisfy the rules (with a run named where a stage needs one)."""
    for stage, overrides in {
        "prepare": ["dataset=diamonds"],
        "train": ["dataset=diamonds"],
        "sample": ["dataset=diamonds"],
        "export": ["dataset=diamonds"],
        "launch": [],
    }.items():
        check_config(stage, load_stage_config(stage, overrides))


def leaf_keys(tree: dict, prefix: str = ""):
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            yield from leaf_keys(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}"


@pytest.mark.parametrize("stage", sorted(RULES))
def test_every_key_of_every_stage_has_a_rule(stage):
    """A key without a rule would reach the stage unchecked: each leaf of the composed config has one, or is
    checked where it is read (FREE_FORM), or is a per-column tokenizer override (column_overrides). Later
    stages read only dataset.name of a demo dataset."""
    overrides = [] if stage == "launch" else ["dataset=diamonds"]
    tree = OmegaConf.to_container(load_stage_config(stage, overrides), resolve=False)
    unchecked = [
        key
        for key in leaf_keys(tree)
        if key not in RULES[stage]
        and key not in FREE_FORM.get(stage, ())
        and not key.startswith("dataset.columns.")
        and not (stage != "prepare" and key.startswith("dataset.") and key != "dataset.name")
    ]
    assert unchecked == []


def test_the_base_is_a_whole_number_or_auto_per_table_and_per_column():
    fine = load_stage_config("prepare", ["dataset=diamonds", "tokenizer.base=auto", "+dataset.columns.price.base=37"])
    check_config("prepare", fine)
    for override, message in [
        ("tokenizer.base=1", "tokenizer.base=1: expected a whole number >= 2 or 'auto'"),
        (
            "+dataset.columns.price.base=fewest",
            "dataset.columns.price.base='fewest': expected a whole number >= 2 or 'auto'",
        ),
    ]:
        with pytest.raises(ConfigError) as refused:
            check_config("prepare", load_stage_config("prepare", ["dataset=diamonds", override]))
        assert str(refused.value) == message


def test_per_column_overrides_are_checked_like_tokenizer_keys():
    cfg = load_stage_config(
        "prepare",
        [
            "dataset=diamonds",
            "dataset.columns.carat.decimals=-1",
            "+dataset.columns.cut.kind=text",
            "+dataset.columns.x.digits=3",
        ],
    )
    with pytest.raises(ConfigError) as bad:
        check_config("prepare", cfg)
    assert str(bad.value).startswith(
        "dataset.columns.carat.decimals=-1: expected a whole number >= 0 or null; "
        "dataset.columns.x.digits: no such tokenizer key; expected one of base, "
    )
    assert str(bad.value).endswith(
        "dataset.columns.cut.kind='text': expected one of float, int, category, datetime, bool"
    )


def test_a_config_error_is_one_line_before_torch_is_imported(tmp_path):
    probe = (
        "import sys\nfrom nemo_tabular.cli import main\ntry:\n    main(['sample', 'dataset=diamonds', 'temperature=hot'])\n"
        "except SystemExit as done:\n    print(done.code, 'torch' in sys.modules, 'megatron' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path)
    assert done.stdout == "1 False False\n"
    assert done.stderr == "error: temperature='hot': expected a number >= 0\n"


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["sample"],
            "error: which run? set run=<the directory prepare wrote, e.g. runs/my_table> or dataset=<a demo "
            "table's name>\n",
        ),
        (
            ["prepare"],
            "error: no table to prepare: set source=<your CSV or Parquet file> (or dataset=<a demo table>)\n",
        ),
        (
            ["prepare", "source=mine.csv", "dataset=diamonds"],
            "error: source=mine.csv names your own table, but the dataset config brings its own "
            "(dataset.source=package://plotnine/data/diamonds.csv); drop dataset=... for your table, or set dataset.source\n",
        ),
        (
            ["train", "dataset=diamonds", "train.stepz=3"],
            "error: train.stepz: no such key in conf/train.yaml (its --help lists them); +train.stepz=... adds a new one\n",
        ),
        (
            ["sample", "run=runs/nowhere"],
            "error: runs/nowhere/data/meta.json: not found; run nemo-tabular prepare first\n",
        ),
        (
            ["evaluate", "run=runs/nowhere"],
            "error: runs/nowhere/data/meta.json: not found; run nemo-tabular prepare first\n",
        ),
        (
            ["fit"],
            "error: unknown stage 'fit'; choose one of: prepare, train, sample, evaluate, embed, search, export, "
            "launch\n",
        ),
    ],
)
def test_user_errors_are_one_line(args, message, tmp_path):
    done = cli(*args, cwd=tmp_path, check=False)
    assert done.returncode == 1
    assert done.stderr == message


def test_help_lists_the_stages_and_each_stage_its_keys_with_their_comments(tmp_path):
    overview = cli("--help", cwd=tmp_path).stdout
    assert re.search(r"^  sample +synthetic rows", overview, flags=re.M)
    sample = cli("sample", "--help", cwd=tmp_path).stdout
    assert "temperature: 1.0                 # 0 = greedy" in sample
    assert "  dataset: default, diamonds, economics, macrodata, txhousing" in sample


def readme_block(marker: str) -> list[str]:
    """The shell commands of the README code block that follows `<!-- marker -->`."""
    text = (REPO / "README.md").read_text()
    block = text.split(f"<!-- {marker} -->", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line and not line.startswith("#")]


@pytest.mark.slow
def test_the_readme_own_table_commands_run_from_an_empty_directory(tmp_path):
    """README's own-table block as written, in a directory holding only the table; training is cut to a few
    steps (a later override wins), the rest runs as a user would run it."""
    from plotnine.data import diamonds

    diamonds.head(1500).to_csv(tmp_path / "my_table.csv", index=False)
    commands = readme_block("own-table")
    assert [command.split()[1] for command in commands] == ["prepare", "train", "sample", "evaluate"]
    fast = {"train": ["train.steps=3", "train.eval_every=0", "threads=1"], "evaluate": ["detection_folds=2"]}
    for command in commands:
        words = command.split()
        assert words[0] == "nemo-tabular"
        cli(*words[1:], *fast.get(words[1], []), cwd=tmp_path)
    run = tmp_path / "runs" / "my_table"
    meta = OmegaConf.load(run / "data" / "meta.json")
    assert meta.dataset == "my_table" and meta.target == "price"
    assert len(pd.read_parquet(run / "synth.parquet")) == 1000
    assert (run / "report" / "report.html").is_file()
