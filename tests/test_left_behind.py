"""Nothing left behind: a stage stopped by SIGTERM or Ctrl-C removes its temp files, what SIGKILL leaves the
next run removes, a read-only output is one line, and a huge n_rows warns with its estimate before starting.

The stopped runs are real `nemo-tabular` processes, killed while they write."""

import json
import os
import signal
import subprocess
import sys
import time
from importlib.resources import files
from pathlib import Path

import pandas as pd
import pytest
import torch
from conftest import REPO, load_tokenizer_settings
from omegaconf import OmegaConf

from nemo_tabular import io
from nemo_tabular.io import OutputError, TableWriter, remove_stale, replace_directory, write_text
from nemo_tabular.sampling import GPT, GPTConfig, TableLayout, save_bundle
from nemo_tabular.sampling.estimate import SampleEstimate, duration_text, size_text
from nemo_tabular.tokenizer import TabularTokenizer

CLI = [sys.executable, "-m", "nemo_tabular.cli"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def as_a_foreground_job() -> None:
    """Give the child Ctrl-C's default action, as a terminal's foreground job has.

    A job a non-interactive shell starts in the background inherits SIGINT ignored, and Python then installs
    no KeyboardInterrupt handler: a test run that way (a CI runner, `cmd &`) would see the SIGINT case finish.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def dead_pid() -> int:
    """The id of a process that has exited (and been reaped)."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(done.stdout)


def leftover(target: Path, pid: int, kind: str = "tmp", host: str | None = None) -> Path:
    """A temp file (kind tmp) or directory (partial) of `target` as process `pid` would have named it."""
    path = target.with_name(f".{target.name}.{pid}@{host or io._host()}.0123abcd.{kind}")
    if kind == "partial":
        path.mkdir(parents=True)
        (path / "tokens.bin").write_bytes(b"\0" * 1024)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"half")
    return path


def hidden(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


# --- the next run removes what a killed one left ---------------------------------------------------------


def test_a_write_removes_the_leftovers_of_a_dead_process_and_keeps_a_live_ones(tmp_path, caplog):
    target = tmp_path / "synth.csv"
    dead_file, dead_dir = leftover(target, dead_pid()), leftover(target, dead_pid(), "partial")
    live = leftover(target, os.getppid())
    other_host = leftover(target, dead_pid(), host="elsewhere")
    old = target.with_name(f".{target.name}.89abcdef.tmp")  # named before temp names held a process id
    old.write_bytes(b"")
    unrelated = leftover(tmp_path / "synth.csv.bak", dead_pid())
    with caplog.at_level("WARNING", logger="nemo_tabular.io"):
        with TableWriter(target) as writer:
            writer.write(pd.DataFrame({"a": [1]}))
    assert hidden(tmp_path) == sorted([live.name, other_host.name, old.name, unrelated.name])
    messages = [record.getMessage() for record in caplog.records]
    assert (
        f"{dead_file}: removed, left by process {dead_file.name.split('.')[3].split('@')[0]}, which was stopped "
        f"before it could finish" in messages
    )
    assert any(message.startswith(f"{dead_dir}: removed") for message in messages)
    assert (
        f"{other_host}: left by process {other_host.name.split('.')[3].split('@')[0]} on host elsewhere, which "
        f"may still be writing it; delete it if no job there is running" in messages
    )
    assert (
        f"{old}: left by an interrupted earlier run (its name holds no process id); delete it if no other "
        f"run is writing {target}"
    ) in messages
    assert remove_stale(target) == []


def test_temp_names_carry_the_process_and_host(tmp_path):
    with io.atomic_path(tmp_path / "notes.txt") as temporary:
        assert temporary.name.startswith(f".notes.txt.{os.getpid()}@{io._host()}.") and temporary.name.endswith(".tmp")
    with replace_directory(tmp_path / "data") as work:
        assert work.name.startswith(f".data.{os.getpid()}@") and work.name.endswith(".partial")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "notes.txt"]


# --- read-only or impossible outputs: one line naming the path ---------------------------------------------


def test_an_output_that_cannot_be_written_is_one_line_naming_it(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(OutputError) as err:
        write_text(blocker / "out.json", "{}")
    assert str(err.value) == (
        f"{blocker / 'out.json'}: cannot be written (a file, not a directory: {blocker}); "
        f"choose another location, or make that directory writable"
    )
    read_only = tmp_path / "ro"
    read_only.mkdir()

    def refuse(path, *args, **kwargs):  # what os.open does in a read-only directory (also for root)
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(io.os, "open", refuse)
    with pytest.raises(OutputError) as err:
        write_text(read_only / "synth.csv", "a\n1\n")
    assert str(err.value) == (
        f"{read_only / 'synth.csv'}: cannot be written (Permission denied: {read_only}); "
        f"choose another location, or make that directory writable"
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_a_read_only_output_directory_is_one_line(tmp_path):
    read_only = tmp_path / "ro"
    read_only.mkdir(mode=0o555)
    with pytest.raises(OutputError, match=r"synth.csv: cannot be written \(Permission denied: .*ro\)"):
        write_text(read_only / "synth.csv", "x")


# --- a sampling run stopped half-way ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory) -> tuple[Path, Path]:
    """An untrained bundle with the diamonds tokenizer, and a run directory whose meta.json says the table is
    flat: enough for `nemo-tabular sample` to write rows for as long as a test lets it."""
    table = pd.read_csv(files("plotnine") / "data" / "diamonds.csv").sample(2000, random_state=0)
    columns = OmegaConf.to_container(OmegaConf.load(REPO / "conf" / "dataset" / "diamonds.yaml").columns)
    tokenizer = TabularTokenizer.fit(table, load_tokenizer_settings(), columns)
    torch.manual_seed(0)
    model = GPT(
        GPTConfig(
            vocab_size=tokenizer.vocab_size,
            n_positions=32,
            n_layer=1,
            n_head=2,
            n_kv_head=2,
            head_dim=8,
            d_model=16,
            d_ff=32,
        )
    )
    root = tmp_path_factory.mktemp("sample_run")
    save_bundle(root / "bundle", model.config, model.state_dict(), tokenizer, TableLayout())
    (root / "run" / "data").mkdir(parents=True)
    (root / "run" / "data" / "meta.json").write_text(json.dumps({"group_by": [], "order_by": []}))
    return root / "bundle", root / "run"


def start_sampling(sample_run, out: Path, n_rows: int, workers: int) -> subprocess.Popen:
    bundle, run = sample_run
    return subprocess.Popen(
        [
            *CLI,
            "sample",
            f"model_path={bundle}",
            f"run={run}",
            f"out={out}",
            f"n_rows={n_rows}",
            f"workers={workers}",
            "batch_size=64",
            "chunk_rows=64",
            "reject_copies_of=null",
            f"hydra.run.dir={out.parent.parent}/hydra",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
        cwd=out.parent.parent,
        preexec_fn=as_a_foreground_job,
    )


def wait_for(condition, process: subprocess.Popen, timeout: float = 120.0) -> None:
    """Poll until condition() holds; fail with the process's output if it ends or time runs out first."""
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"exited with {process.returncode} first: {process.stderr.read()[-3000:]}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("timed out waiting")
        time.sleep(0.05)


def children(pid: int) -> list[int]:
    """The ids of a process's children (Linux /proc)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found += [int(child) for child in text]
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]


def written_temp(directory: Path) -> bool:
    """A sampling temp file with rows in it, or a workers' share directory with share files."""
    for path in directory.glob(".synth.csv.*"):
        if path.is_file() and path.stat().st_size > 0:
            return True
        if path.is_dir() and any(path.rglob("*.parquet*")):
            return True
    return False


@pytest.mark.parametrize(
    "stop, workers, code, line",
    [
        (signal.SIGTERM, 1, 143, "error: stopped by SIGTERM; its temporary files are removed"),
        (signal.SIGTERM, 2, 143, "error: stopped by SIGTERM; its temporary files are removed"),
        (signal.SIGINT, 1, 130, "error: interrupted; its temporary files are removed"),  # Ctrl-C
    ],
)
def test_a_signal_during_sampling_removes_the_temp_files(sample_run, tmp_path, stop, workers, code, line):
    out = tmp_path / "out" / "synth.csv"
    out.parent.mkdir()
    process = start_sampling(sample_run, out, n_rows=500_000, workers=workers)
    wait_for(lambda: written_temp(out.parent), process)
    workers_pids = children(process.pid) if workers > 1 else []
    process.send_signal(stop)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == code, stderr[-3000:]
    assert stderr.strip().splitlines()[-1] == line
    assert "Traceback" not in stderr
    assert list(out.parent.iterdir()) == []
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in workers_pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(pid) for pid in workers_pids)


def test_sigkill_leaves_temp_files_that_the_next_run_removes(sample_run, tmp_path):
    out = tmp_path / "out" / "synth.csv"
    out.parent.mkdir()
    process = start_sampling(sample_run, out, n_rows=500_000, workers=2)
    wait_for(lambda: written_temp(out.parent), process)
    workers_pids = children(process.pid)
    process.kill()
    process.communicate(timeout=60)
    left = hidden(out.parent)
    assert left and all(name.startswith(f".synth.csv.{process.pid}@") for name in left)
    deadline = time.monotonic() + 10  # the workers die with their parent (PR_SET_PDEATHSIG)
    while any(alive(pid) for pid in workers_pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(pid) for pid in workers_pids)
    again = start_sampling(sample_run, out, n_rows=50, workers=1)
    stdout, stderr = again.communicate(timeout=300)
    assert again.returncode == 0, stderr[-3000:]
    assert sorted(p.name for p in out.parent.iterdir()) == ["synth.csv"]
    assert len(pd.read_csv(out)) == 50
    assert f"removed, left by process {process.pid}, which was stopped before it could finish" in stdout + stderr


# --- a prepare run stopped half-way ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def big_table(tmp_path_factory) -> Path:
    """A table that takes prepare long enough to stop it while it builds its data directory."""
    path = tmp_path_factory.mktemp("big") / "big.csv"
    diamonds = pd.read_csv(files("plotnine") / "data" / "diamonds.csv")
    pd.concat([diamonds] * 4, ignore_index=True).to_csv(path, index=False)
    return path


def start_prepare(table: Path, root: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [*CLI, "prepare", f"source={table}", f"paths.root={root}", "chunk_rows=5000", "workers=1", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
        cwd=root,
    )


def partial_data(run: Path) -> bool:
    return any(path.is_dir() and any(path.iterdir()) for path in run.glob(".data.*.partial"))


def test_sigterm_during_prepare_removes_the_partial_directory(big_table, tmp_path):
    process = start_prepare(big_table, tmp_path)
    wait_for(lambda: partial_data(tmp_path / "big"), process, timeout=300)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGTERM, stderr[-3000:]
    assert stderr.strip().splitlines()[-1] == "error: stopped by SIGTERM; its temporary files are removed"
    assert sorted(p.name for p in (tmp_path / "big").iterdir()) == ["logs"]


def test_a_prepare_killed_with_sigkill_leaves_a_partial_directory_the_next_run_removes(big_table, tmp_path):
    process = start_prepare(big_table, tmp_path)
    wait_for(lambda: partial_data(tmp_path / "big"), process, timeout=300)
    process.kill()
    process.communicate(timeout=60)
    run = tmp_path / "big"
    [stale] = run.glob(".data.*.partial")
    assert stale.name.startswith(f".data.{process.pid}@")
    again = start_prepare(big_table, tmp_path, "limit_rows=2000")
    stdout, stderr = again.communicate(timeout=300)
    assert again.returncode == 0, stderr[-3000:]
    assert sorted(p.name for p in run.iterdir()) == ["data", "logs"]
    assert (
        f"{stale}: removed, left by process {process.pid}, which was stopped before it could finish" in stdout + stderr
    )


def test_sample_cli_into_an_impossible_directory_is_one_line(sample_run, tmp_path):
    blocker = tmp_path / "out"
    blocker.write_text("a file where the output directory should be")
    out = blocker / "synth.csv"
    bundle, run = sample_run
    done = subprocess.run(
        [
            *CLI,
            "sample",
            f"model_path={bundle}",
            f"run={run}",
            f"out={out}",
            "n_rows=10",
            "reject_copies_of=null",
            f"hydra.run.dir={tmp_path}/hydra",
        ],
        capture_output=True,
        text=True,
        env=ENV,
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        f"error: {out}: cannot be written (a file, not a directory: {blocker}); choose another location, or make "
        f"that directory writable"
    )


# --- a huge n_rows warns with its estimate -----------------------------------------------------------------


def test_the_estimate_warning_line():
    estimate = SampleEstimate(
        n_rows=10**12,
        rows_per_second=2371.4,
        bytes_per_row=95.2,
        free_bytes=40_200_000_000,
        directory=Path("runs/x"),
        measured_rows=256,
        workers=2,
    )
    assert estimate.warning() == (
        "n_rows=1,000,000,000,000 would take about 117,137 hours at 2,371 rows/s (measured on 256 rows, 2 workers) "
        "and write about 95.2 TB at 95 bytes/row, more than the 40.2 GB free at runs/x; lower n_rows, or stop it "
        "with Ctrl-C (its temporary files are removed)"
    )
    fits = SampleEstimate(
        n_rows=10**7,
        rows_per_second=20_000,
        bytes_per_row=95,
        free_bytes=10**12,
        directory=Path("."),
        measured_rows=256,
        workers=1,
    )
    assert fits.warning() is None
    slow = SampleEstimate(
        n_rows=10**9,
        rows_per_second=1000,
        bytes_per_row=50,
        free_bytes=10**12,
        directory=Path("/data"),
        measured_rows=256,
        workers=1,
    )
    assert slow.warning() == (
        "n_rows=1,000,000,000 would take about 278 hours at 1,000 rows/s (measured on 256 rows, 1 worker) and write "
        "about 50.0 GB at 50 bytes/row, 1.0 TB free at /data; lower n_rows, or stop it with Ctrl-C (its "
        "temporary files are removed)"
    )


@pytest.mark.parametrize(
    "seconds, text",
    [(45, "45 seconds"), (600, "10 minutes"), (150, "2.5 minutes"), (27_000, "7.5 hours"), (4.2e8, "116,667 hours")],
)
def test_durations_read_as_people_say_them(seconds, text):
    assert duration_text(seconds) == text


def test_sizes_are_decimal_units():
    assert [size_text(n) for n in (512, 2048, 40.2e9, 9.5e13)] == ["512 bytes", "2.0 kB", "40.2 GB", "95.0 TB"]


def test_sample_cli_warns_before_a_run_of_a_trillion_rows(sample_run, tmp_path):
    """The issue's probe: n_rows=10**12 started with no word. Now the warning comes first; the run is then
    stopped with SIGTERM, which leaves nothing."""
    out = tmp_path / "out" / "synth.csv"
    out.parent.mkdir()
    process = start_sampling(sample_run, out, n_rows=10**12, workers=1)
    lines: list[str] = []
    deadline = time.monotonic() + 120
    while not any(line.startswith("warning: n_rows=") for line in lines) and time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line and process.poll() is not None:
            break
        lines.append(line)
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=60)
    [warning] = [line.strip() for line in lines if line.startswith("warning: n_rows=")]
    assert re_match(
        r"warning: n_rows=1,000,000,000,000 would take about [\d,]+ hours at [\d,]+ rows/s \(measured on "
        r"256 rows, 1 worker\) and write about [\d,.]+ [kMGTP]?B at \d+ bytes/row, (more than the )?"
        r"[\d,.]+ [kMGTP]?B free at "
        + str(out.parent).replace(".", r"\.")
        + r"; lower n_rows, or stop it with Ctrl-C \(its temporary files are removed\)",
        warning,
    )
    assert list(out.parent.iterdir()) == []


def re_match(pattern: str, text: str) -> bool:
    import re

    assert re.fullmatch(pattern, text), text
    return True
