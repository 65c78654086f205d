"""Checkpoints in megatron.core's distributed format, saved atomically, resumable and reshardable.

Layout of `paths.checkpoint_dir` (checkpoint_layout has every file, named as Megatron-LM/Bridge name theirs):
  tokenizer.json, config.yaml         the tokenizer and the resolved training config (for sampling/export)
  iter_0000300/                       a dist checkpoint: model, optimizer, scheduler, step and each rank's RNG
                                      states; run_config.yaml, train_state.pt and tokenizer/ beside it
  latest_checkpointed_iteration.txt   the step of the newest complete iter_* directory (and latest_train_state.pt)
A save goes to a temp directory that is renamed only when every rank has written its shards.
Every load goes through `read_checkpoint`, which checks the files as data (checkpoint_guard) first.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import torch
import torch.distributed as dist
from megatron.core import dist_checkpointing, parallel_state
from megatron.core.dist_checkpointing.mapping import ShardedObject
from omegaconf import DictConfig, OmegaConf

from nemo_tabular.io import swap_directory
from nemo_tabular.tokenizer import TabularTokenizer

from .checkpoint_guard import verify_checkpoint
from .checkpoint_layout import (
    CONFIG_FILE,
    TOKENIZER_FILE,
    TRACKER_FILE,
    iteration_dir,
    latest_checkpoint,
    publish,
    write_iteration_files,
)


def unwrap(model):
    """The GPTModel inside megatron's DDP wrapper: checkpoints hold its keys, so any loader can read them."""
    return getattr(model, "module", model)


def save_checkpoint(
    checkpoint_dir: str | os.PathLike,
    step: int,
    model,
    optimizer,
    scheduler,
    cfg: DictConfig,
    tokenizer: TabularTokenizer,
) -> Path:
    """Write iteration `step` on every rank (collective), then publish it atomically from rank 0."""
    checkpoint_dir = Path(checkpoint_dir)
    final = iteration_dir(checkpoint_dir, step)
    tmp = checkpoint_dir / f".{final.name}.partial"
    if dist.get_rank() == 0:
        checkpoint_dir.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
    dist.barrier()
    model_state = unwrap(model).sharded_state_dict()
    state = {
        "model": model_state,
        "optimizer": optimizer.sharded_state_dict(model_state),
        "scheduler": scheduler.state_dict(),
        "step": step,
        "rng": rng_object(rng_state()),
    }
    dist_checkpointing.save(state, str(tmp))
    dist.barrier()
    if dist.get_rank() == 0:
        tokenizer.save(checkpoint_dir / TOKENIZER_FILE)
        OmegaConf.save(cfg, checkpoint_dir / CONFIG_FILE, resolve=True)
        write_iteration_files(tmp, step, cfg, tokenizer)
        swap_directory(tmp, final)  # a re-saved step replaces its old directory without a moment of none
        publish(checkpoint_dir, final, step)
    dist.barrier()
    return final


def load_training_state(path: Path, model, optimizer, scheduler, trust: bool = False) -> int:
    """Restore model, optimizer and scheduler from checkpoint `path`; return its step (trust: see read_checkpoint)."""
    model_state = unwrap(model).sharded_state_dict()
    template = {
        "model": model_state,
        "optimizer": optimizer.sharded_state_dict(model_state, is_loading=True),
        "scheduler": None,
        "step": None,
        "rng": rng_object(None),
    }
    state = read_checkpoint(template, path, trust)
    unwrap(model).load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    restore_rng_state(state["rng"])
    return int(state["step"])


def read_checkpoint(template: dict, path: str | os.PathLike, trust: bool = False) -> dict:
    """`template` filled from dist checkpoint `path`, once its files are checked to hold data only.

    The one place a checkpoint is read: resume, init_from and load_gpt_for_inference (sampling,
    export, embed, search) all come here. A file that would unpickle code, or a truncated or missing
    shard, raises CheckpointError (a ValueError naming the file) before torch or megatron opens it.
    trust=True (`trust_checkpoint=true`) opens a foreign checkpoint whose pickles hold other classes.
    """
    verify_checkpoint(path, trust)
    return dist_checkpointing.load(template, str(path))


def rng_object(data):
    """This rank's RNG states as one shard of a per-rank object, so dropout resumes where it was."""
    world, rank = dist.get_world_size(), dist.get_rank()
    return ShardedObject("rng_state", data, (world,), (rank,), replica_id=0)


def rng_state() -> dict:
    """Every random generator that training draws from on this rank."""
    from megatron.core import tensor_parallel

    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state()
        state["tracker"] = tensor_parallel.get_cuda_rng_tracker().get_states()
    return state


def restore_rng_state(state: dict) -> None:
    from megatron.core import tensor_parallel

    torch.set_rng_state(state["torch"])
    if torch.cuda.is_available() and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"])
        tensor_parallel.get_cuda_rng_tracker().set_states(state["tracker"])


def load_model_weights(path: Path, model, trust: bool = False) -> None:
    """Load only the weights into `model`, whatever TP/PP layout the checkpoint was saved with."""
    state = read_checkpoint({"model": unwrap(model).sharded_state_dict()}, path, trust)
    unwrap(model).load_state_dict(state["model"])


def load_gpt_for_inference(checkpoint_dir: str | os.PathLike, trust: bool = False):
    """The newest checkpoint as one TP=1/PP=1 GPTModel in eval mode, in this single process (trust: see
    read_checkpoint)."""
    from nemo_tabular.cpu_compat import enable_cpu_support, seed_model_parallel
    from nemo_tabular.model import build_gpt, padded_vocab_size, transformer_config

    checkpoint_dir = Path(checkpoint_dir)
    path = latest_checkpoint(checkpoint_dir)
    if path is None:
        raise FileNotFoundError(f"{checkpoint_dir}: no checkpoint there (no {TRACKER_FILE}); train first")
    cfg = OmegaConf.load(checkpoint_dir / CONFIG_FILE)
    tokenizer = TabularTokenizer.load(checkpoint_dir / TOKENIZER_FILE)
    ensure_single_process_group()
    enable_cpu_support()
    seed_model_parallel(int(cfg.train.seed))
    config = transformer_config(cfg.model, 1, 1, bf16=False)
    vocab = padded_vocab_size(tokenizer.vocab_size, int(cfg.model.vocab_multiple), int(cfg.parallel.tensor))
    model = build_gpt(config, vocab, int(cfg.model.seq_length))
    load_model_weights(path, model, trust)
    return model.eval()


def ensure_single_process_group() -> None:
    """A one-process gloo group and TP=PP=1 model parallel state, unless some are already set up."""
    if not dist.is_initialized():
        dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    if not parallel_state.model_parallel_is_initialized():
        parallel_state.initialize_model_parallel(1, 1)
    torch.manual_seed(0)
