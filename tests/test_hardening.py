"""Hostile artefacts: a crafted checkpoint or tokenizer file is refused with one line and runs nothing.

Checkpoints here are real megatron-core dist checkpoints of a one-layer GPT, saved in this process;
the hostile ones are those with one file rewritten, as an attacker who ships a checkpoint would.
"""

import io
import json
import os
import pickle
import re
import resource
import shlex
import shutil
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import REPO, TINY_GPT, load_tokenizer_settings, tiny_megatron_gpt
from omegaconf import OmegaConf

from nemo_tabular.tokenizer import TabularTokenizer, TokenizerError
from nemo_tabular.tokenizer.schema import MAX_VOCAB

# --- tokenizer.json ---------------------------------------------------------------------------------


def numeric_column(name="x", **fields) -> dict:
    """A valid numeric column as tokenizer.json holds it: codes 0..999, three base-10 digits."""
    return {
        "name": name,
        "kind": "float",
        "nullable": False,
        "out_of_range": "error",
        "decimals": 1,
        "unit": None,
        "low": 0,
        "high": 999,
        "base": 10,
        "code_len": 3,
        "n_codes": 1000,
        "transform": None,
        "step": None,
        "digit_values": None,
        **fields,
    }


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


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"kind": "exec"}, "kind must be one of float, int, datetime, category, bool, got 'exec'"),
        ({"code_len": 10**9}, "code_len must be an integer in [1, 63], got 1000000000"),
        (
            {"code_len": 5},
            "code_len must be 3, the digits in base 10 that 1000 codes need (as fitting writes it), got 5",
        ),
        ({"base": 10**9}, "base must be an integer in [2, 65536], got 1000000000"),
        ({"base": True}, "base must be an integer in [2, 65536], got True"),
        ({"n_codes": 10**19}, "n_codes must be an integer in [1, 4611686018427387904], got 10000000000000000000"),
        ({"n_codes": 999}, "n_codes must be high - low + 1 = 1000 without a transform, got 999"),
        ({"high": -1}, "high must be an integer in [0, 4611686018427387904], got -1"),
        ({"decimals": 400}, "decimals must be an integer in [-308, 308], got 400"),
        ({"nullable": "yes"}, "nullable must be true or false, got 'yes'"),
        ({"out_of_range": "wrap"}, "out_of_range must be one of error, clip, got 'wrap'"),
        (
            {"transform": {"name": "eval", "low": 0, "high": 1}, "step": 0.1},
            "transform.name must be one of log1p, yeo-johnson, quantile, got 'eval'",
        ),
        (
            {"transform": {"name": "log1p", "low": 0, "high": 99.9}, "step": 0},
            "step must be a positive number with a transform, got 0",
        ),
        (
            {"digit_values": [[0, 1], [0, 10], [0]]},
            "digit_values[1] must be a non-empty increasing list of digits in [0, 10)",
        ),
        ({"kind": "datetime", "unit": "ns", "decimals": 0}, "unit must be one of s, m, h, D, got 'ns'"),
    ],
)
def test_out_of_bound_numeric_field_is_named(tmp_path, fields, message):
    path = write_tokenizer(tmp_path / "tokenizer.json", numeric_column(**fields))
    with pytest.raises(TokenizerError) as err:
        TabularTokenizer.load(path)
    assert str(err.value) == f"{path}: column 'x': {message}"


@pytest.mark.parametrize(
    "column, message",
    [
        ({"name": "c", "kind": "category", "categories": ["a", "a"]}, "column 'c': categories must be distinct"),
        (
            {"name": "c", "kind": "category", "categories": [["a"]]},
            "column 'c': categories must hold strings or numbers, got ['a']",
        ),
        ({"name": "b", "kind": "bool", "categories": [0, 1]}, "column 'b': categories must hold true/false, got 0"),
        (
            {"name": "c", "kind": "category", "categories": []},
            "column 'c': no categories, no missing and no rare token: the column has no token",
        ),
        ({"name": "", "kind": "category"}, "columns[0]: name must be a non-empty string, got ''"),
    ],
)
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
    assert str(err.value) == (
        f"{path}: column 'c32': the vocabulary reaches {MAX_VOCAB + 2**17} tokens, more than {MAX_VOCAB}"
    )


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
    df = pd.DataFrame(
        {
            "f": rng.lognormal(size=n).round(3),
            "i": rng.integers(-50, 5000, n),
            "t": pd.to_datetime(rng.integers(0, 2 * 10**9, n), unit="s"),
            "c": rng.choice(list("abcdefg"), n),
            "b": rng.random(n) > 0.5,
            "m": np.where(rng.random(n) > 0.9, np.nan, rng.normal(size=n).round(2)),
            "k": rng.choice([1, 2, 3], n),
        }
    )
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
    assert str(err.value) == "column 'x': base must be between 2 and 65536 or auto, not 1000000"


def test_large_base_costs_linear_memory(tmp_path):
    """Digit lookup tables are O(base): base 65536 with seen digits loads without a base x base matrix."""
    column = numeric_column(
        base=2**16, code_len=1, n_codes=2**16, high=2**16 - 1, digit_values=[list(range(0, 2**16, 2))]
    )
    before = peak_rss_mb()
    tok = TabularTokenizer.load(write_tokenizer(tmp_path / "tokenizer.json", column))
    assert tok.vocab_size == 3 + 2**15
    assert peak_rss_mb() - before < 100


# --- dist checkpoints -------------------------------------------------------------------------------


class RunsCode:
    """Pickles as a call of os.system: what a crafted checkpoint file would hold."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


SYSTEM = f"{os.system.__module__}.system"  # posix.system on Linux
TRUST = "; trust_checkpoint=true opens it anyway, if you trust whoever made it"  # every refusal names the escape


def gpt(tokenizer, seed: int):
    from nemo_tabular.cpu_compat import seed_model_parallel

    seed_model_parallel(seed)
    torch.manual_seed(seed)
    return tiny_megatron_gpt(tokenizer)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A checkpoint directory as training wrote it before the tracker file (a `latest` marker, which still
    loads): tokenizer, config and one dist checkpoint (weights, `_extra_state` byte items, the RNG
    ShardedObject, a step), plus the model that was saved. tests/test_checkpoint_layout.py has today's layout."""
    from megatron.core import dist_checkpointing

    from nemo_tabular.cpu_compat import enable_cpu_support
    from nemo_tabular.training.checkpoint import ensure_single_process_group, rng_object, rng_state

    ensure_single_process_group()
    enable_cpu_support()
    directory = tmp_path_factory.mktemp("saved") / "checkpoints"
    iteration = directory / "iter_0000003"
    iteration.mkdir(parents=True)
    tokenizer = TabularTokenizer.fit(
        pd.DataFrame({"x": [0.5, 1.5, 2.5], "c": ["a", "b", "a"]}), load_tokenizer_settings()
    )
    tokenizer.save(directory / "tokenizer.json")
    OmegaConf.save(
        OmegaConf.create({"model": TINY_GPT, "train": {"seed": 0}, "parallel": {"tensor": 1}}),
        directory / "config.yaml",
    )
    model = gpt(tokenizer, seed=0)
    dist_checkpointing.save(
        {"model": model.sharded_state_dict(), "step": 3, "rng": rng_object(rng_state())}, str(iteration)
    )
    (directory / "latest").write_text(iteration.name)
    return directory, tokenizer, {k: v.clone() for k, v in model.state_dict().items() if torch.is_tensor(v)}


@pytest.fixture
def checkpoint(saved, tmp_path):
    """A private copy of the saved checkpoint directory, to tamper with."""
    directory = tmp_path / "checkpoints"
    shutil.copytree(saved[0], directory)
    return directory


def files_under(path) -> set:
    return {str(p.relative_to(path)) for p in path.rglob("*")}


def trusted_metadata(iteration):
    """The real .metadata, read through the guard (it only resolves torch's own classes)."""
    from nemo_tabular.training.checkpoint_guard import read_metadata

    return read_metadata(iteration / ".metadata")


def load_error(checkpoint) -> str:
    """The one-line CheckpointError that opening `checkpoint` for sampling/export raises."""
    from nemo_tabular.sampling import TableLayout
    from nemo_tabular.sampling.loading import bundle_from_checkpoint
    from nemo_tabular.training.checkpoint_guard import CheckpointError

    with pytest.raises(CheckpointError) as err:
        bundle_from_checkpoint(checkpoint, TableLayout())
    assert "\n" not in str(err.value)
    return str(err.value)


def test_real_checkpoint_passes_the_guard_and_loads_its_weights(saved):
    from nemo_tabular.training.checkpoint import load_gpt_for_inference, load_model_weights

    directory, tokenizer, weights = saved
    fresh = gpt(tokenizer, seed=1)
    load_model_weights(directory / "iter_0000003", fresh)
    loaded = fresh.state_dict()
    for name, tensor in weights.items():
        torch.testing.assert_close(loaded[name], tensor, rtol=0, atol=0)
    model = load_gpt_for_inference(directory)
    torch.testing.assert_close(
        model.state_dict()["embedding.word_embeddings.weight"],
        weights["embedding.word_embeddings.weight"],
        rtol=0,
        atol=0,
    )


def test_metadata_that_pickles_os_system_is_refused_and_runs_nothing(checkpoint, tmp_path):
    iteration, marker = checkpoint / "iter_0000003", tmp_path / "ran"
    metadata = trusted_metadata(iteration)
    metadata.storage_meta = RunsCode(marker)  # a real metadata object carrying the payload
    (iteration / ".metadata").write_bytes(pickle.dumps(metadata))
    before = files_under(tmp_path)
    assert load_error(checkpoint) == (
        f"{iteration / '.metadata'}: refusing to unpickle global {SYSTEM}: checkpoint metadata holds only "
        f"torch.distributed.checkpoint classes, so this file could run code{TRUST}"
    )
    assert not marker.exists()
    assert files_under(tmp_path) == before


@pytest.mark.parametrize(
    "payload, name",
    [
        ((eval, ("1",)), "builtins.eval"),
        ((getattr, (pd.DataFrame, "to_csv")), "builtins.getattr"),
        ((torch.load, ("x",)), "torch.serialization.load"),
    ],
)
def test_metadata_globals_beyond_torch_metadata_classes_are_refused(checkpoint, payload, name):
    class Payload:
        def __reduce__(self):
            return payload

    meta = checkpoint / "iter_0000003" / ".metadata"
    meta.write_bytes(pickle.dumps(Payload()))
    assert load_error(checkpoint) == (
        f"{meta}: refusing to unpickle global {name}: checkpoint metadata holds "
        f"only torch.distributed.checkpoint classes, so this file could run code{TRUST}"
    )


def test_byte_item_that_pickles_os_system_is_refused(checkpoint, tmp_path):
    """Byte items (RNG states) are read with torch.load(weights_only=False): the guard reads them first."""
    iteration, marker = checkpoint / "iter_0000003", tmp_path / "ran"
    metadata = trusted_metadata(iteration)
    buffer = io.BytesIO()
    torch.save(RunsCode(marker), buffer)
    (iteration / "__9_0.distcp").write_bytes(buffer.getvalue())
    index = next(i for i in metadata.storage_data if i.fqn.startswith("rng_state"))
    info = metadata.storage_data[index]
    info.relative_path, info.offset, info.length = "__9_0.distcp", 0, len(buffer.getvalue())
    (iteration / ".metadata").write_bytes(pickle.dumps(metadata))
    assert load_error(checkpoint) == (
        f"{iteration / '__9_0.distcp'}: item {index.fqn!r}: refusing to unpickle global {SYSTEM}: checkpoint "
        f"data holds only tensors and plain values, so this file could run code{TRUST}"
    )
    assert not marker.exists()


def test_common_file_that_pickles_os_system_is_refused(checkpoint, tmp_path):
    common, marker = checkpoint / "iter_0000003" / "common.pt", tmp_path / "ran"
    torch.save(RunsCode(marker), common)
    assert load_error(checkpoint) == (
        f"{common}: refusing to unpickle global {SYSTEM}: checkpoint data holds "
        f"only tensors and plain values, so this file could run code{TRUST}"
    )
    assert not marker.exists()


def test_truncated_shard_is_named(checkpoint):
    iteration = checkpoint / "iter_0000003"
    metadata = trusted_metadata(iteration)
    shard = iteration / "__0_1.distcp"
    size = shard.stat().st_size // 2
    with open(shard, "r+b") as stream:
        stream.truncate(size)
    fqn, info = next(
        (i.fqn, s)
        for i, s in metadata.storage_data.items()
        if s.relative_path == shard.name and s.offset + s.length > size
    )
    assert load_error(checkpoint) == (
        f"{shard}: truncated: {size} bytes, but the checkpoint metadata places "
        f"item {fqn!r} at bytes {info.offset}-{info.offset + info.length}"
    )


def test_missing_shard_and_truncated_metadata_are_named(checkpoint):
    iteration = checkpoint / "iter_0000003"
    metadata = trusted_metadata(iteration)
    fqn = next(i.fqn for i, s in metadata.storage_data.items() if s.relative_path == "__0_1.distcp")
    (iteration / "__0_1.distcp").unlink()
    assert load_error(checkpoint) == (
        f"{iteration / '__0_1.distcp'}: missing; the checkpoint metadata lists item {fqn!r} in it"
    )
    meta = iteration / ".metadata"
    meta.write_bytes(meta.read_bytes()[: meta.stat().st_size // 2])
    assert load_error(checkpoint) == (
        f"{meta}: unreadable checkpoint metadata, truncated or corrupt (UnpicklingError: pickle data was truncated)"
    )
    meta.unlink()
    assert load_error(checkpoint) == f"{meta}: missing; {iteration} is not a complete distributed checkpoint"


def test_item_outside_the_checkpoint_and_foreign_backend_are_refused(checkpoint):
    iteration = checkpoint / "iter_0000003"
    metadata = trusted_metadata(iteration)
    index = next(iter(metadata.storage_data))
    metadata.storage_data[index].relative_path = "../../tokenizer.json"
    (iteration / ".metadata").write_bytes(pickle.dumps(metadata))
    assert load_error(checkpoint) == (
        f"{iteration / '.metadata'}: item {index.fqn!r} points outside the "
        f"checkpoint directory ('../../tokenizer.json')"
    )
    backends = iteration / "metadata.json"
    backends.write_text(json.dumps({"sharded_backend": "zarr", "common_backend": "torch"}))
    assert load_error(checkpoint) == f"{backends}: sharded_backend must be 'torch_dist', got 'zarr'"


def test_sample_cli_on_a_crafted_checkpoint_prints_one_line_and_runs_nothing(checkpoint, tmp_path):
    """The probe from issue 18: `scripts/sample.py model_path=<crafted>` used to run the payload."""
    iteration, marker = checkpoint / "iter_0000003", tmp_path / "ran"
    (iteration / ".metadata").write_bytes(pickle.dumps(RunsCode(marker)))
    out, run = tmp_path / "synth.parquet", tmp_path / "run"
    (run / "data").mkdir(parents=True)
    (run / "data" / "meta.json").write_text(json.dumps({"group_by": [], "order_by": []}))  # a flat table's run
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "sample.py"),
            f"model_path={checkpoint}",
            f"run={run}",
            "n_rows=10",
            f"out={out}",
            f"hydra.run.dir={tmp_path}/hydra",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == 1, done.stderr[-2000:]
    assert done.stderr.strip().splitlines()[-1] == (
        f"error: {iteration / '.metadata'}: refusing to unpickle global {SYSTEM}: checkpoint metadata holds "
        f"only torch.distributed.checkpoint classes, so this file could run code{TRUST}"
    )
    assert "Traceback" not in done.stderr
    assert not marker.exists() and not out.exists()


def foreign_checkpoint(checkpoint):
    """The saved checkpoint with one harmless foreign class (a datetime.date) in its .metadata, as another
    tool's checkpoint could have: the allow-list refuses it, trust_checkpoint=true opens it."""
    import datetime

    iteration = checkpoint / "iter_0000003"
    metadata = trusted_metadata(iteration)
    metadata.made_on = datetime.date(2024, 1, 1)  # an extra attribute: the loader never reads it
    (iteration / ".metadata").write_bytes(pickle.dumps(metadata))
    return iteration


def test_trust_checkpoint_opens_a_foreign_checkpoint_the_allow_list_refuses(checkpoint, saved):
    from nemo_tabular.sampling import TableLayout
    from nemo_tabular.sampling.loading import bundle_from_checkpoint
    from nemo_tabular.training.checkpoint import load_gpt_for_inference

    iteration = foreign_checkpoint(checkpoint)
    assert load_error(checkpoint) == (
        f"{iteration / '.metadata'}: refusing to unpickle global datetime.date: checkpoint metadata holds only "
        f"torch.distributed.checkpoint classes, so this file could run code{TRUST}"
    )
    weights = saved[2]["embedding.word_embeddings.weight"]
    model = load_gpt_for_inference(checkpoint, trust=True)
    torch.testing.assert_close(model.state_dict()["embedding.word_embeddings.weight"], weights, rtol=0, atol=0)
    assert bundle_from_checkpoint(checkpoint, TableLayout(), trust=True).model.config.d_model == TINY_GPT["hidden_size"]


def test_trust_still_checks_that_the_shards_are_complete(checkpoint):
    from nemo_tabular.training.checkpoint_guard import CheckpointError, verify_checkpoint

    iteration = foreign_checkpoint(checkpoint)
    shard = iteration / "__0_1.distcp"
    shard.write_bytes(shard.read_bytes()[:10])
    with pytest.raises(CheckpointError, match=r"__0_1.distcp: truncated: 10 bytes, but the checkpoint metadata "):
        verify_checkpoint(iteration, trust=True)


def test_trust_checkpoint_is_off_by_default_in_every_stage_that_opens_checkpoints():
    from nemo_tabular.cli.checks import FLAG, RULES
    from nemo_tabular.config import load_stage_config

    for stage in ("train", "sample", "export", "embed", "search"):
        assert load_stage_config(stage, ["run=runs/x"]).trust_checkpoint is False
        assert RULES[stage]["trust_checkpoint"] == FLAG
        assert "trust_checkpoint: false" in (REPO / "conf" / f"{stage}.yaml").read_text()


def test_sample_cli_with_trust_checkpoint_samples_from_the_foreign_checkpoint(checkpoint, tmp_path):
    foreign_checkpoint(checkpoint)
    out, run = tmp_path / "synth.csv", tmp_path / "run"
    (run / "data").mkdir(parents=True)
    (run / "data" / "meta.json").write_text(json.dumps({"group_by": [], "order_by": []}))
    command = [
        sys.executable,
        "-m",
        "nemo_tabular.cli",
        "sample",
        f"model_path={checkpoint}",
        f"run={run}",
        "n_rows=5",
        f"out={out}",
        "reject_copies_of=null",
        "workers=1",
        f"hydra.run.dir={tmp_path}/hydra",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    refused = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=300, env=env)
    assert refused.returncode == 1 and refused.stderr.strip().splitlines()[-1].endswith(TRUST)
    done = subprocess.run(
        [*command, "trust_checkpoint=true"], capture_output=True, text=True, cwd=tmp_path, timeout=300, env=env
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(pd.read_csv(out)) == 5


def test_sample_cli_on_a_truncated_shard_prints_one_line_naming_it(checkpoint, tmp_path):
    iteration = checkpoint / "iter_0000003"
    shard = iteration / "__0_1.distcp"
    shard.write_bytes(shard.read_bytes()[:100])
    run = tmp_path / "run"
    (run / "data").mkdir(parents=True)
    (run / "data" / "meta.json").write_text(json.dumps({"group_by": [], "order_by": []}))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "nemo_tabular.cli",
            "sample",
            f"model_path={checkpoint}",
            f"run={run}",
            "n_rows=10",
            f"out={tmp_path / 'synth.csv'}",
            f"hydra.run.dir={tmp_path}/h",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert re.fullmatch(
        rf"error: {re.escape(str(shard))}: truncated: 100 bytes, but the checkpoint metadata places "
        rf"item '[^']+' at bytes \d+-\d+",
        done.stderr.strip().splitlines()[-1],
    ), done.stderr[-2000:]


@pytest.mark.parametrize(
    "override, line",
    [
        ("model.hidden_size=-4", "error: model.hidden_size=-4: expected a whole number >= 1 or 'auto'"),
        ("model.hidden_size=-1", "error: model.hidden_size=-1: expected a whole number >= 1 or 'auto'"),
        ("train.steps=abc", "error: train.steps='abc': expected a whole number >= 0 or 'auto'"),
    ],
)
def test_bad_model_and_train_values_are_exactly_one_line(override, line, tmp_path):
    """Issue 18's probes: hidden_size=-4 was a megatron RuntimeError, hidden_size=-1 read 'not divisible', and
    train.steps=abc named no key."""
    done = subprocess.run(
        [sys.executable, "-m", "nemo_tabular.cli", "train", "dataset=diamonds", override],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 1
    assert done.stderr == line + "\n" and done.stdout == ""


# --- launcher: cluster.* values in the sbatch script --------------------------------------------------


def launch_with(cluster_values: dict, scheduler: str = "slurm") -> int:
    """launch() of the prep job (a dry run) with cluster.* values set after composing, as any override would."""
    from hydra import compose, initialize_config_dir

    from nemo_tabular.launch import launch

    with initialize_config_dir(str(REPO / "conf"), version_base="1.3"):
        cfg = compose("launch", overrides=[f"cluster={scheduler}", "job=prep", "dry_run=true"])
        OmegaConf.set_struct(cfg, False)
        for key, value in cluster_values.items():
            OmegaConf.update(cfg, f"cluster.{key}", value, merge=False)
        return launch(cfg)


@pytest.mark.parametrize(
    "values, message",
    [
        (
            {"partition": "gpu\ntouch /tmp/x"},
            r"cluster.partition='gpu\ntouch /tmp/x': expected no newline or other control character",
        ),
        (
            {"job_name": "x --wrap=id"},
            "cluster.job_name='x --wrap=id': expected letters, digits, '.', '_' and '-' only (a Slurm job name)",
        ),
        (
            {"partition": "gpu --wrap=id"},
            "cluster.partition='gpu --wrap=id': expected partition names of letters, "
            "digits, '.', '_' and '-', separated by commas",
        ),
        (
            {"account": "proj;id"},
            "cluster.account='proj;id': expected letters, digits, '.', '_' and '-' only (a Slurm account)",
        ),
        (
            {"qos": "high,$(id)"},
            "cluster.qos='high,$(id)': expected QOS names of letters, digits, '.', '_' and '-', separated by commas",
        ),
        (
            {"time": "1:00 --wrap=id"},
            "cluster.time='1:00 --wrap=id': expected a Slurm time limit: minutes, MM:SS, "
            "HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS",
        ),
        ({"env": {"FOO": "a\nid"}}, r"cluster.env.FOO='a\nid': expected no newline or other control character"),
        ({"env": {"A;id;B": "1"}}, "cluster.env.A;id;B: expected a variable name of letters, digits and '_'"),
        (
            {"srun_args": ["--mpi=none\rid"]},
            r"cluster.srun_args[0]='--mpi=none\rid': expected no newline or other control character",
        ),
        (
            {"sbatch_args": ["--constraint=h100 --wrap=id"]},
            "cluster.sbatch_args[0]='--constraint=h100 --wrap=id': "
            "expected one sbatch option, such as --constraint=h100, with no spaces",
        ),
        (
            {"log_dir": "runs/a b"},
            "cluster.log_dir='runs/a b': expected a path without spaces, quotes or backslashes "
            "(it is an #SBATCH --output path)",
        ),
        ({"master_port": "29500; id"}, "cluster.master_port='29500; id': expected an integer in [1, 65535]"),
    ],
)
def test_hostile_cluster_values_are_refused_naming_the_key(values, message, capsys):
    from nemo_tabular.launch import LaunchError

    with pytest.raises(LaunchError) as err:
        launch_with(values)
    assert str(err.value) == message
    assert capsys.readouterr().out == ""  # nothing rendered


def test_local_cluster_env_is_checked_too():
    from nemo_tabular.launch import LaunchError

    with pytest.raises(LaunchError) as err:
        launch_with({"env": {"OMP_NUM_THREADS": "1\nid"}}, scheduler="local")
    assert str(err.value) == r"cluster.env.OMP_NUM_THREADS='1\nid': expected no newline or other control character"


def test_shell_values_are_quoted_so_no_injected_command_runs(capsys, tmp_path):
    """Values allowed on shell lines reach srun and the environment as text; `$NAME` still expands."""
    marker = tmp_path / "ran"
    hostile = f"$(touch {marker})"
    assert (
        launch_with(
            {
                "env": {"PAYLOAD": hostile, "TICKS": f"`touch {marker}`'\"", "HOME_RUNS": "$HOME/runs"},
                "srun_args": ["--mpi=none", f"--comment=x; touch {marker}", hostile],
                "container_image": f"/images/x.sqsh{hostile}",
                "container_mounts": ["$SLURM_SUBMIT_DIR/runs:/workspace/nemo-tabular/runs"],
            }
        )
        == 0
    )
    script = capsys.readouterr().out
    path = tmp_path / "job.sbatch"
    path.write_text(script)
    assert subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True).returncode == 0
    export = next(line for line in script.splitlines() if line.startswith("export PAYLOAD="))
    assert shlex.split(export) == ["export", f"PAYLOAD={hostile}"]

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    srun = bin_dir / "srun"  # records its arguments and the environment it was given
    srun.write_text(
        '#!/usr/bin/env bash\nprintf "%s\\n" "$@" > "$(dirname "$0")/args"\n'
        'printf "%s\\n" "$PAYLOAD" "$TICKS" "$HOME_RUNS" > "$(dirname "$0")/env"\n'
    )
    srun.chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "SLURM_SUBMIT_DIR": "/home/me/project",
        "HOME": "/home/me",
    }
    subprocess.run(["bash", str(path)], env=env, capture_output=True, text=True, check=True)
    assert not marker.exists()
    args = (bin_dir / "args").read_text().splitlines()
    assert f"--container-image=/images/x.sqsh{hostile}" in args
    assert "--container-mounts=/home/me/project/runs:/workspace/nemo-tabular/runs" in args
    assert args[args.index("--mpi=none") : args.index("--mpi=none") + 3] == [
        "--mpi=none",
        f"--comment=x; touch {marker}",
        hostile,
    ]
    assert (bin_dir / "env").read_text().splitlines() == [hostile, f"`touch {marker}`'\"", "/home/me/runs"]


@pytest.mark.parametrize(
    "value, word",
    [
        ("1", "1"),
        ("", "''"),
        ("a b", "'a b'"),
        ("$(id)", "'$(id)'"),
        ("${X}", "'${X}'"),
        ("$HOME/x y", "\"$HOME\"'/x y'"),
        ("a$B_1c", 'a"$B_1c"'),
        ("it's", "'it'\"'\"'s'"),
    ],
)
def test_shell_word(value, word):
    from nemo_tabular.launch.command import shell_word

    assert shell_word(value) == word


def test_known_warnings_are_silenced_here_and_in_child_processes_and_others_are_not(monkeypatch):
    import warnings

    from nemo_tabular.quiet import quiet_known_warnings

    monkeypatch.setenv("PYTHONWARNINGS", "default")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet_known_warnings()
        warnings.warn("`load_state_dict` is deprecated and will be removed", FutureWarning, stacklevel=1)
        warnings.warn("Transformer Engine and Apex are not installed. Falling back", UserWarning, stacklevel=1)
        warnings.warn("`load_state_dict` is deprecated and will be removed", UserWarning, stacklevel=1)  # other kind
        warnings.warn("something new is deprecated", FutureWarning, stacklevel=1)
    assert [(str(w.message), w.category) for w in caught] == [
        ("`load_state_dict` is deprecated and will be removed", UserWarning),
        ("something new is deprecated", FutureWarning),
    ]
    child = "import warnings; warnings.warn('Please use DTensor instead and we are deprecating ShardedTensor.', FutureWarning)"
    done = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, env=dict(os.environ))
    assert done.returncode == 0 and done.stderr == ""
    assert os.environ["PYTHONWARNINGS"].startswith("default,ignore:Transformer Engine and Apex are not installed:")
