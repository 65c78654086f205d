"""The files around the dist checkpoints, named and filled as Megatron-LM and Megatron-Bridge do.

`paths.checkpoint_dir` after a save of step 300:

    latest_checkpointed_iteration.txt   "300": Megatron-LM's tracker (the step as text); Bridge reads it too
    latest_train_state.pt               a copy of the newest iteration's train_state.pt (Bridge's tracker)
    tokenizer.json, config.yaml         this project's tokenizer and resolved config, read by resume/sample/export
    iter_0000300/                       the megatron-core dist checkpoint (metadata.json, .metadata, common.pt,
                                        __*_*.distcp), and beside it:
        run_config.yaml                 the resolved config of this step, plus the keys Bridge's loader reads
        train_state.pt                  Bridge's TrainState tensors (step, consumed samples, flags)
        tokenizer/                      tokenizer.json, tokenizer_config.json, special_tokens_map.json (an HF
                                        WordLevel tokenizer AutoTokenizer loads) and tabular_tokenizer.json

Names and contents follow Megatron-LM (`iter_{:07d}`, the tracker) and Megatron-Bridge's
checkpointing (training/utils/checkpoint_utils.py: run_config.yaml, train_state.pt with the
`latest_` prefix, the tokenizer/ directory). Bridge's run_config.yaml is its serialized
ConfigContainer (`_target_` classes) and this one is not, so Bridge finds, recognises and
reads these checkpoints but cannot rebuild the model from run_config.yaml alone.

Checkpoints written before this layout have a `latest` file naming the iteration directory
instead of the tracker; `latest_checkpoint` still reads them, and the next save replaces it.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import yaml
from omegaconf import DictConfig, OmegaConf

from nemo_tabular.io import atomic_path, write_text
from nemo_tabular.tokenizer import TabularTokenizer
from nemo_tabular.tokenizer.hf import save_hf_tokenizer

TRACKER_FILE = "latest_checkpointed_iteration.txt"
LEGACY_MARKER = "latest"  # before the tracker: the name of the newest iter_* directory
CONFIG_FILE = "config.yaml"
TOKENIZER_FILE = "tokenizer.json"
RUN_CONFIG_FILE = "run_config.yaml"
TRAIN_STATE_FILE = "train_state.pt"
LATEST_TRAIN_STATE_FILE = f"latest_{TRAIN_STATE_FILE}"
TOKENIZER_DIR = "tokenizer"
TABULAR_TOKENIZER_FILE = "tabular_tokenizer.json"

RUN_CONFIG_HEADER = """\
# This step's resolved nemo-tabular config (the run's config.yaml as it was at this step), plus the keys
# Megatron-Bridge's loader reads: model.tensor_model_parallel_size / pipeline_model_parallel_size (from
# `parallel`) and `checkpoint`. save_optim and save_rng are false because the optimizer, scheduler and RNG
# states are saved under this project's keys (optimizer, scheduler, rng), not Bridge's: Bridge should load
# the model weights only. Not a Bridge ConfigContainer: it has no _target_ classes.
"""


class CheckpointLayoutError(ValueError):
    """A tracker or marker file that does not say which iteration is the newest; the message names it."""


def iteration_dir(checkpoint_dir: str | os.PathLike, step: int) -> Path:
    """`iter_0000300` for step 300, as Megatron-LM and Bridge name iteration directories."""
    return Path(checkpoint_dir) / f"iter_{step:07d}"


def read_tracker(file: Path) -> int:
    """The step in a latest_checkpointed_iteration.txt; anything but a whole number raises naming the file."""
    text = file.read_text().strip()
    if not text.isdigit():
        raise CheckpointLayoutError(f"{file}: expected the newest checkpoint's iteration number, got {text[:40]!r}")
    return int(text)


def latest_checkpoint(checkpoint_dir: str | os.PathLike) -> Path | None:
    """The newest complete checkpoint under `checkpoint_dir`, or None if there is none.

    The tracker names it; a checkpoint directory from before the tracker is read through its `latest` file.
    """
    checkpoint_dir = Path(checkpoint_dir)
    tracker, marker = checkpoint_dir / TRACKER_FILE, checkpoint_dir / LEGACY_MARKER
    if tracker.is_file():
        path = iteration_dir(checkpoint_dir, read_tracker(tracker))
    elif marker.is_file():
        name = marker.read_text().strip()
        if not name.startswith("iter_") or Path(name).name != name:
            raise CheckpointLayoutError(f"{marker}: expected the name of an iter_* directory, got {name[:40]!r}")
        path = checkpoint_dir / name
    else:
        return None
    return path if path.is_dir() else None


def run_config(cfg: DictConfig) -> dict:
    """The resolved config as plain data, with the Bridge-named keys RUN_CONFIG_HEADER explains."""
    config = OmegaConf.to_container(cfg, resolve=True)
    parallel = config.get("parallel") or {}
    model = config.setdefault("model", {})
    model["tensor_model_parallel_size"] = int(parallel.get("tensor", 1))
    model["pipeline_model_parallel_size"] = int(parallel.get("pipeline", 1))
    config["checkpoint"] = {"save_optim": False, "save_rng": False, "fully_parallel_save": False}
    return config


def train_state(step: int, global_batch: int) -> dict[str, torch.Tensor]:
    """Bridge's TrainState.state_dict() for `step`: samples consumed so far; no FLOP count is kept here (0)."""
    return {
        "step": torch.tensor(step, dtype=torch.int64),
        "consumed_train_samples": torch.tensor(step * global_batch, dtype=torch.int64),
        "skipped_train_samples": torch.tensor(0, dtype=torch.int64),
        "consumed_valid_samples": torch.tensor(0, dtype=torch.int64),
        "floating_point_operations_so_far": torch.tensor(0.0, dtype=torch.float64),
        "do_train": torch.tensor(True),
        "do_valid": torch.tensor(False),
        "do_test": torch.tensor(False),
    }


def write_iteration_files(iteration: Path, step: int, cfg: DictConfig, tokenizer: TabularTokenizer) -> None:
    """run_config.yaml, train_state.pt and tokenizer/ into the (not yet published) iteration directory."""
    write_text(
        iteration / RUN_CONFIG_FILE,
        RUN_CONFIG_HEADER + yaml.safe_dump(run_config(cfg), sort_keys=False, allow_unicode=True),
    )
    with atomic_path(iteration / TRAIN_STATE_FILE) as temporary:
        torch.save(train_state(step, int(cfg.train.global_batch)), temporary)
    tokenizer_dir = iteration / TOKENIZER_DIR
    save_hf_tokenizer(tokenizer, tokenizer_dir, model_max_length=int(cfg.model.seq_length))
    tokenizer.save(tokenizer_dir / TABULAR_TOKENIZER_FILE)


def publish(checkpoint_dir: Path, iteration: Path, step: int) -> None:
    """Point the trackers at the published `iteration`: latest_train_state.pt, then the tracker file.

    Each is replaced atomically; the tracker goes last, so whoever reads it finds a complete directory.
    A `latest` file left by an older version is removed once the tracker is written.
    """
    with atomic_path(checkpoint_dir / LATEST_TRAIN_STATE_FILE) as temporary:
        temporary.write_bytes((iteration / TRAIN_STATE_FILE).read_bytes())
    write_text(checkpoint_dir / TRACKER_FILE, str(step))
    (checkpoint_dir / LEGACY_MARKER).unlink(missing_ok=True)
