"""The training loop: megatron-core GPT, schedules, DDP and optimizer, read in one sitting in `train`.

Launch with torchrun for several processes (gloo on CPU, NCCL on GPU) or plain python for one.
global batch = micro batch x gradient accumulation x data parallel size.
What the run builds before its first step is in setup.py; what one step runs and the decisions between
steps (time budget, validation, patience, saving) are in steps.py.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import torch
import torch.distributed as dist
from megatron.core import parallel_state
from omegaconf import DictConfig
from tqdm.auto import tqdm

from nemo_tabular.io import write_text

from .checkpoint import latest_checkpoint
from .metrics import MetricsWriter
from .setup import TrainingRun, set_up
from .steps import agreed_seconds


def init_distributed() -> torch.device:
    """Join the torchrun group (or make a one-process one): NCCL with GPUs, gloo without."""
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        if "RANK" in os.environ:  # under torchrun
            dist.init_process_group("nccl" if cuda else "gloo")
        else:  # plain `python scripts/train.py`: one process, no network rendezvous needed
            dist.init_process_group("nccl" if cuda else "gloo", store=dist.HashStore(), rank=0, world_size=1)
    return torch.device("cuda", torch.cuda.current_device()) if cuda else torch.device("cpu")


def leave_process_group() -> None:
    """Undo init_distributed and megatron's parallel state, so one process can train again (the Python API)."""
    if parallel_state.model_parallel_is_initialized():
        parallel_state.destroy_model_parallel()
    if dist.is_initialized():
        dist.destroy_process_group()


def train(cfg: DictConfig) -> dict:
    """Train (or resume) the configured model on the prepared dataset; return the run summary.

    The caller's cfg is left as given; the run's resolved config (auto sizes and dropout) goes to the checkpoint.
    """
    logging.getLogger("megatron").setLevel(logging.WARNING)  # its INFO lines repeat every config
    run = set_up(cfg, init_distributed())
    plan, policy, rank = run.plan, run.policy, dist.get_rank()
    metrics = MetricsWriter(Path(plan.cfg.paths.run_dir) / "tensorboard", enabled=rank == 0)
    history, valid_loss, started = [], None, time.perf_counter()
    bar = tqdm(initial=run.start, total=policy.steps, desc="train", disable=rank != 0, unit="step")
    run.model.train()
    done = run.start
    while done < policy.stop:
        tick = time.perf_counter()
        loss, grad_norm = run.train_step()
        tokens_per_second = plan.tokens_per_step / (time.perf_counter() - tick)
        lr = run.optimizer.param_groups[0]["lr"]
        history.append(loss)
        done += 1
        bar.update()
        bar.set_postfix(loss=f"{loss:.4f}", lr=f"{lr:.2e}", tok_s=f"{tokens_per_second:,.0f}")
        metrics.scalars(
            done,
            {
                "train/loss": loss,
                "train/lr": lr,
                "train/tokens_per_s": tokens_per_second,
                **({"train/grad_norm": float(grad_norm)} if grad_norm is not None else {}),
            },
        )
        if policy.budget.minutes is not None:  # agreed_seconds is collective: every rank calls it, or none
            seconds = agreed_seconds(started, run.device)
            if policy.follow_budget(done, done - run.start, seconds, run.scheduler):
                bar.total = policy.steps
        if policy.validates(done):
            valid_loss = run.validate()
            metrics.scalars(done, {"valid/loss": valid_loss})
            policy.record_validation(done, valid_loss, run.model)
        if done == policy.stop:
            policy.restore_best(done, run.model)  # with patience, the last checkpoint holds the best weights
        if policy.saves(done):
            run.save(done)
    bar.close()
    if policy.steps == 0:  # initialize (or load init_from), evaluate and save: a starting point in any layout
        valid_loss = run.validate()
        run.save(0)
    metrics.close()
    summary = run_summary(run, done, history, valid_loss, time.perf_counter() - started)
    if rank == 0:
        write_text(Path(plan.cfg.paths.run_dir) / "train_summary.json", json.dumps(summary, indent=1))
    dist.barrier()
    return summary


def run_summary(run: TrainingRun, done: int, history: list[float], valid_loss: float | None, seconds: float) -> dict:
    """What train() returns and writes to train_summary.json, after `done` steps (`history` this process's)."""
    plan, stopping = run.plan, run.policy.stopping
    return {
        "steps": run.policy.steps,
        "end_step": done,
        "start_step": run.start,
        "losses": history,
        "final_train_loss": history[-1] if history else None,
        "final_valid_loss": valid_loss,
        "best_step": stopping.best_step,
        "best_valid_loss": stopping.best_loss if stopping.best_step is not None else None,
        "tokens_per_s": plan.tokens_per_step * len(history) / max(seconds, 1e-9),
        "seconds": seconds,
        "world_size": dist.get_world_size(),
        "tensor": plan.tensor,
        "pipeline": plan.pipeline,
        "data": plan.data,
        "precision": "bf16" if plan.bf16 else "fp32",
        "checkpoint": str(latest_checkpoint(plan.checkpoint_dir)),
    }
