"""Training on CPU through the real entry point: layouts agree, resume and reshard, errors, loss falls.

Runs use torchrun with 2 gloo processes; each comparison starts from one shared initial
checkpoint (train.steps=0), so only the parallel layout differs between runs.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO
from omegaconf import OmegaConf

SMALL = [
    "model.num_layers=2",
    "model.hidden_size=32",
    "model.num_attention_heads=4",
    "model.ffn_hidden_size=64",
    "model.seq_length=64",
    "model.vocab_multiple=128",
    "train.micro_batch=2",
    "train.global_batch=8",
    "train.eval_iters=2",
    "train.eval_every=0",
    "train.lr=1e-3",
    "train.warmup=1",
    "threads=1",
]


def train(
    root, name: str, *overrides: str, nproc: int = 1, check: bool = True, base: list[str] = SMALL
) -> subprocess.CompletedProcess:
    """Run scripts/train.py (under torchrun for nproc > 1) writing to runs/<name>."""
    launcher = (
        [sys.executable]
        if nproc == 1
        else [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"]
    )
    args = [
        *launcher,
        str(REPO / "scripts" / "train.py"),
        f"paths.root={root}",
        "dataset=diamonds",
        f"paths.run_dir={root}/{name}",
        f"paths.data_dir={root}/data",
        *base,
        *overrides,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(args, capture_output=True, text=True, env=env, cwd=root, timeout=600)
    if check:
        assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    return done


def summary(root, name: str) -> dict:
    return json.loads((root / name / "train_summary.json").read_text())


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """A prepared diamonds slice and one initial checkpoint every comparison starts from."""
    root = tmp_path_factory.mktemp("train")
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "data_prep" / "prepare.py"),
            "dataset=diamonds",
            f"paths.data_dir={root}/data",
            f"paths.root={root}",
            "limit_rows=3000",
        ],
        capture_output=True,
        text=True,
        cwd=root,
    )
    assert done.returncode == 0, done.stderr
    train(root, "init", "train.steps=0")
    return root


def run_steps(root, name, *overrides, nproc=1):
    train(root, name, "train.steps=4", f"init_from={root}/init/checkpoints", *overrides, nproc=nproc)
    return np.array(summary(root, name)["losses"])


@pytest.fixture(scope="module")
def reference(root):
    return run_steps(root, "tp1")


@pytest.mark.parametrize("layout", [["parallel.tensor=2"], ["parallel.pipeline=2"], []], ids=["tp2", "pp2", "dp2"])
def test_two_process_layouts_match_one_process(root, reference, layout):
    name = "-".join(item.split(".")[1].replace("=", "") for item in layout) or "data2"
    losses = run_steps(root, name, *layout, nproc=2)
    assert len(losses) == 4
    np.testing.assert_allclose(losses, reference, atol=1e-4, rtol=0)


@pytest.mark.parametrize("dropout", [0.0, 0.2])
def test_resume_reproduces_the_uninterrupted_run(root, reference, dropout):
    """With dropout too: each rank's RNG states travel in the checkpoint."""
    name = f"resumed{dropout}"
    expected = reference if dropout == 0 else run_steps(root, f"whole{dropout}", f"model.dropout={dropout}")
    run_steps(root, name, "train.stop_at=2", f"model.dropout={dropout}")
    assert summary(root, name)["steps"] == 4 and len(summary(root, name)["losses"]) == 2
    train(root, name, "train.steps=4", "resume=true", f"model.dropout={dropout}")
    resumed = summary(root, name)
    assert resumed["start_step"] == 2
    np.testing.assert_allclose(resumed["losses"], expected[2:], atol=1e-5, rtol=0)


def test_tp2_checkpoint_loads_into_one_process(root):
    run_steps(root, "tp2-save", "parallel.tensor=2", "train.eval_every=4", nproc=2)
    tp2_valid = summary(root, "tp2-save")["final_valid_loss"]
    train(root, "tp1-load", "train.steps=0", f"init_from={root}/tp2-save/checkpoints")
    assert summary(root, "tp1-load")["final_valid_loss"] == pytest.approx(tp2_valid, abs=1e-4)


def test_loss_falls_and_checkpoint_has_what_sampling_needs(root, reference):
    losses = run_steps(root, "longer", "train.steps=40", "train.lr=1e-2")
    assert losses[-5:].mean() < 0.8 * losses[:3].mean()
    checkpoints = root / "longer" / "checkpoints"
    assert (checkpoints / "latest_checkpointed_iteration.txt").read_text() == "40"  # Megatron-LM's tracker
    assert {"tokenizer.json", "config.yaml", "latest_train_state.pt"} <= {p.name for p in checkpoints.iterdir()}
    assert {"run_config.yaml", "train_state.pt", "tokenizer"} <= {
        p.name for p in (checkpoints / "iter_0000040").iterdir()
    }
    saved = OmegaConf.load(checkpoints / "config.yaml").train
    assert (saved.steps, saved.lr, saved.min_lr) == (40, 1e-2, 0.1 * 1e-2)  # min_lr=auto: a tenth of the peak


AUTO = [
    key
    for key in SMALL
    if key.split("=")[0]
    not in ("model.num_layers", "model.hidden_size", "model.num_attention_heads", "model.ffn_hidden_size")
]


def test_model_auto_sizes_from_the_planned_tokens_and_resume_keeps_the_size(root):
    """The default model=auto: a few steps get the smallest size, 4,000 planned steps (2.05M tokens) get 2x64."""
    done = train(root, "sized", "train.steps=3", base=AUTO)
    model = OmegaConf.load(root / "sized" / "checkpoints" / "config.yaml").model
    assert (model.num_layers, model.hidden_size, model.num_attention_heads, model.ffn_hidden_size) == (1, 32, 1, 128)
    assert (
        "model=auto: 1x32 (12,288 block parameters) trains on 1,536 tokens in its planned steps"
        in done.stdout + done.stderr
    )
    done = train(root, "sized", "train.steps=5", "resume=true", base=AUTO)
    assert f"model=auto: 1x32, the size of the checkpoint in {root}/sized/checkpoints" in done.stdout + done.stderr
    assert summary(root, "sized")["end_step"] == 5
    done = train(root, "larger", "train.steps=4000", "train.stop_at=1", "train.lr=auto", base=AUTO)
    saved = OmegaConf.load(root / "larger" / "checkpoints" / "config.yaml")
    assert saved.model.hidden_size == 64
    assert "model=auto: 2x64 (98,304 block parameters) trains on 2,048,000 tokens" in done.stdout + done.stderr
    assert (saved.train.lr, saved.train.min_lr) == (0.5 / 64, 0.1 * 0.5 / 64)  # lr=auto follows the chosen width
    assert "train.lr=auto: 7.81e-03, min_lr 7.81e-04 (model width 64)" in done.stdout + done.stderr


def test_train_leaves_the_callers_config_as_given(root):
    """The auto size, dropout and learning rate are resolved in the run's own copy: the checkpoint holds numbers, the caller's
    config (the Python API's, reused for the next fit) still says auto."""
    from nemo_tabular.config import load_stage_config
    from nemo_tabular.training.loop import leave_process_group
    from nemo_tabular.training.loop import train as train_here

    cfg = load_stage_config(
        "train",
        [
            "dataset=diamonds",
            f"paths.root={root}",
            f"paths.run_dir={root}/in-process",
            f"paths.data_dir={root}/data",
            "train.steps=2",
            *AUTO,
            "train.lr=auto",
        ],
    )
    given = OmegaConf.to_yaml(cfg)
    leave_process_group()  # an earlier test in this process may have set up a one-process group of its own
    try:
        train_here(cfg)
    finally:
        leave_process_group()
    assert OmegaConf.to_yaml(cfg) == given
    assert (cfg.model.hidden_size, cfg.model.dropout, cfg.train.lr) == ("auto", "auto", "auto")
    saved = OmegaConf.load(root / "in-process" / "checkpoints" / "config.yaml").model
    assert (saved.hidden_size, saved.dropout) == (32, 0.0)


def test_auto_length_and_time_budget(root):
    """steps=auto covers train.epochs; a budget shortens the run so the schedule ends and a checkpoint is left."""
    meta = json.loads((root / "data" / "meta.json").read_text())
    tokens_per_step = 8 * 64  # global batch x seq_length in SMALL
    train(root, "auto", "train.steps=auto", "train.epochs=0.05", "train.min_steps=1")
    epoch_steps = -(-0.05 * meta["splits"]["train"]["tokens"] // tokens_per_step)
    assert summary(root, "auto")["steps"] == epoch_steps
    assert OmegaConf.load(root / "auto" / "checkpoints" / "config.yaml").model.dropout == 0.0  # model.dropout=auto
    done = train(root, "lifted", "train.steps=auto", "train.epochs=0.05", f"train.min_steps={int(epoch_steps) + 2}")
    assert summary(root, "lifted")["steps"] == epoch_steps + 2
    assert OmegaConf.load(root / "lifted" / "checkpoints" / "config.yaml").model.dropout == 0.1
    assert "model.dropout=auto: 0.10" in done.stdout + done.stderr
    planned = -(-20 * meta["splits"]["train"]["tokens"] // tokens_per_step)
    train(root, "budget", "train.steps=auto", "train.epochs=20", "train.max_minutes=0.05", "train.eval_every=50")
    budgeted = summary(root, "budget")
    assert 20 < budgeted["steps"] < planned and budgeted["end_step"] <= budgeted["steps"]
    assert len(budgeted["losses"]) == budgeted["end_step"] and budgeted["final_valid_loss"] is not None
    checkpoints = root / "budget" / "checkpoints"
    assert (checkpoints / "latest_checkpointed_iteration.txt").read_text() == str(budgeted["end_step"])


def test_patience_stops_when_validation_stalls(root):
    """With a zero learning rate validation never improves on the first one: two more and the run stops."""
    train(root, "patience", "train.steps=60", "train.eval_every=5", "train.patience=2", "train.lr=0", "train.min_lr=0")
    result = summary(root, "patience")
    assert (result["best_step"], result["end_step"]) == (5, 15)
    assert (root / "patience" / "checkpoints" / "latest_checkpointed_iteration.txt").read_text() == "15"


def test_patience_leaves_the_best_validated_weights(root):
    """A constant, high learning rate makes validation swing; the last checkpoint validates as the best did."""
    train(
        root, "best", "train.steps=30", "train.eval_every=3", "train.patience=100", "train.lr=0.05", "train.min_lr=0.05"
    )
    result = summary(root, "best")
    assert result["best_step"] < result["end_step"] == 30
    assert result["final_valid_loss"] > result["best_valid_loss"]
    train(root, "best-reloaded", "train.steps=0", f"init_from={root}/best/checkpoints")
    assert summary(root, "best-reloaded")["final_valid_loss"] == pytest.approx(result["best_valid_loss"], abs=1e-5)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["parallel.tensor=3"], "world size 1 is not a multiple of tensor x pipeline = 3 x 1"),
        (["model.num_attention_heads=3"], "model.hidden_size=32 is not divisible by model.num_attention_heads=3"),
        (
            ["train.global_batch=7"],
            "train.global_batch=7 is not divisible by train.micro_batch x data parallel = 2 x 1",
        ),
        (["precision=bf16"], "precision=bf16 needs a GPU"),
    ],
)
def test_configuration_errors_are_caught_up_front(root, overrides, message):
    done = train(root, "bad", "train.steps=1", *overrides, check=False)
    assert done.returncode == 1
    assert message in done.stdout + done.stderr
