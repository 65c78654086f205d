"""Every command the README shows is a valid config: each `nemo-tabular ...` (and `torchrun ... -m
nemo_tabular.cli ...`) line of its bash blocks is split as a shell would, composed with the CLI's own
loader and passed through the CLI's config checks, in a directory where the runs it names exist.

Running them is the job of other tests: tests/test_cli.py runs the `<!-- own-table -->` block from an
empty directory, and the search line's filter is run against Milvus in tests/test_embeddings.py.
"""

import json
import re
import shlex
from pathlib import Path

import pytest
from conftest import REPO

from nemo_tabular.cli import STAGES, main
from nemo_tabular.cli.checks import check_config
from nemo_tabular.config import load_stage_config, open_map_overrides

README = (REPO / "README.md").read_text()
OTHER_COMMANDS = ("make ",)  # lines of bash blocks that are not stages (make demo, make test)


def bash_lines(text: str) -> list[str]:
    """The command lines of every ```bash block, comments dropped."""
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            if words:
                lines.append(line)
    return lines


def stage_command(line: str) -> tuple[str, list[str]] | None:
    """(stage, overrides) of a nemo-tabular line, or None for another command."""
    words = shlex.split(line, comments=True)
    if words[0] == "nemo-tabular":
        return words[1], words[2:]
    if words[0] == "torchrun":
        module = words.index("-m")
        assert words[module + 1] == "nemo_tabular.cli", line
        return words[module + 2], words[module + 3 :]
    return None


COMMANDS = [line for line in bash_lines(README) if stage_command(line) is not None]


def test_the_readme_has_commands_for_every_stage_it_documents():
    assert len(COMMANDS) >= 20
    stages = {stage_command(line)[0] for line in COMMANDS}
    assert stages >= {"prepare", "train", "sample", "evaluate", "search"}
    for line in bash_lines(README):
        assert stage_command(line) is not None or line.startswith(OTHER_COMMANDS), f"unknown command: {line}"


@pytest.fixture
def runs(tmp_path, monkeypatch) -> Path:
    """A working directory where the runs the README names exist as prepared (a meta.json each)."""
    monkeypatch.chdir(tmp_path)
    for name, layout in {
        "diamonds": {},
        "txhousing": {"group_by": ["city"], "order_by": ["year", "month"]},
        "my_table": {},
        "mine": {},
    }.items():
        data = tmp_path / "runs" / name / "data"
        data.mkdir(parents=True)
        (data / "meta.json").write_text(
            json.dumps({"dataset": name, "group_by": [], "order_by": [], "target": None, **layout})
        )
    return tmp_path


@pytest.mark.parametrize("line", COMMANDS)
def test_every_readme_command_is_a_valid_config(line, runs):
    stage, overrides = stage_command(line)
    assert stage in STAGES, line
    cfg = load_stage_config(STAGES[stage].config_name, overrides)
    check_config(stage, cfg)


def test_the_readme_search_filter_reaches_milvus_as_written():
    [line] = [line for line in COMMANDS if stage_command(line)[0] == "search"]
    cfg = load_stage_config("search", [arg for arg in stage_command(line)[1] if arg.startswith(("filter=", "query="))])
    assert cfg.filter == 'split == "train" and cut == "Ideal"'


def test_per_column_settings_work_as_the_readme_writes_them():
    """`'dataset.columns={amount: {decimals: 2}}'` used to fail ('Could not override'): the map is the user's."""
    cfg = load_stage_config("prepare", ["source=my.csv", "dataset.columns={amount: {decimals: 2}}"])
    assert cfg.dataset.columns == {"amount": {"decimals": 2}}
    demo = load_stage_config(
        "prepare",
        ["dataset=diamonds", "dataset.columns={price: {transform: log1p}}", "dataset.columns.carat.decimals=3"],
    )
    assert demo.dataset.columns.price == {"transform": "log1p"} and demo.dataset.columns.carat.decimals == 3
    assert open_map_overrides(["+dataset.columns.a.kind=bool", "dataset.name=x"]) == [
        "+dataset.columns.a.kind=bool",
        "dataset.name=x",
    ]


def test_an_unparsable_override_is_one_line_naming_it(capsys):
    with pytest.raises(SystemExit) as done:
        main(["search", "dataset=diamonds", "query=row.json", 'filter=split == "train"'])
    assert done.value.code == 1
    assert capsys.readouterr().err == (
        "error: filter=split == \"train\": Hydra cannot parse this override (mismatched input ' =' expecting <EOF>); "
        "a value with spaces, quotes or '=' goes in quotes inside the argument, e.g. \"filter='a == \\\"b\\\"'\" in a "
        "shell\n"
    )
