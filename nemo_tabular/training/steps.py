"""What one training step runs, and what the loop decides after it.

`forward_step` and `mean_loss` are the pieces megatron's pipeline schedule calls and returns. `StepPolicy`
holds every decision the loop takes between steps: whether a time budget shortens the run, when to
validate, when patience ends it (keeping the weights that validated best) and when to save, so the loop
in loop.py only asks it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import torch
import torch.distributed as dist
from megatron.core import parallel_state
from omegaconf import DictConfig

from .checkpoint import unwrap
from .plan import EarlyStopping, TimeBudget, evaluation_interval

log = logging.getLogger(__package__ + ".loop")  # the run's one logger, so its lines keep the name they always had


def forward_step(data_iterator, model, device: torch.device):
    """One micro batch through this pipeline stage; the loss is the mean over its tokens."""
    batch = {key: value.to(device, non_blocking=True) for key, value in next(data_iterator).items()}
    output = model(batch["tokens"], batch["position_ids"], batch.get("attention_mask"), labels=batch["labels"])

    def loss_func(output_tensor):
        mask = batch["loss_mask"].float()
        loss = (output_tensor.float() * mask).sum() / mask.sum()
        return loss, {"loss": loss.detach().clone()}  # the schedule scales `loss` in place

    return output, loss_func


def mean_loss(losses: list[dict], device: torch.device) -> float:
    """The step's loss, averaged over micro batches and data-parallel ranks, known on every rank."""
    value = torch.zeros(1, device=device)
    if parallel_state.is_pipeline_last_stage() and parallel_state.get_tensor_model_parallel_rank() == 0:
        value += torch.stack([item["loss"] for item in losses]).mean()
    dist.all_reduce(value)
    return value.item() / parallel_state.get_data_parallel_world_size()


def agreed_seconds(started: float, device: torch.device) -> float:
    """Seconds since `started` as the slowest rank counts them, so every rank decides alike (collective)."""
    value = torch.tensor([time.perf_counter() - started], dtype=torch.float64, device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return value.item()


@dataclass
class StepPolicy:
    """The loop's decisions after each step, alike on every rank.

    `steps` is the run's length, which a time budget may shorten (and lengthen back, up to `planned`);
    `stop` is the step this process leaves after: `steps`, or sooner by train.stop_at, a spent budget or
    exhausted patience.
    """

    planned: int  # the length before any budget
    steps: int
    stop: int
    stop_at: int | None  # train.stop_at
    eval_every: int  # 0 = never validate
    configured_eval_every: int | str  # train.eval_every as given ('auto' is re-read when the length changes)
    save_every: int  # 0 = save at the end only
    budget: TimeBudget
    stopping: EarlyStopping
    best_weights: dict[str, torch.Tensor] | None = None  # with patience: a copy of the best-validated weights

    @classmethod
    def from_config(cls, train: DictConfig, steps: int, budget: TimeBudget) -> StepPolicy:
        """The policy for a run of `steps` under the `train` settings (raises ConfigError on a bad value)."""
        stop_at = int(train.stop_at) if train.stop_at else None
        return cls(
            planned=steps,
            steps=steps,
            stop=min(steps, stop_at or steps),
            stop_at=stop_at,
            eval_every=evaluation_interval(train.eval_every, steps),
            configured_eval_every=train.eval_every,
            save_every=int(train.save_every or 0),
            budget=budget,
            stopping=EarlyStopping(train.patience),
        )

    def follow_budget(self, done: int, timed: int, seconds: float, scheduler) -> bool:
        """Under train.max_minutes, after step `done` (the `timed`-th of this process, `seconds` in): re-plan the
        run's length when the budget says so, with the scheduler's cosine decay ending where the budget does,
        and stop here once the budget is spent. True when the run's length changed."""
        replanned = self.budget.replanned_steps(self.planned, done, timed, seconds, scheduler.lr_warmup_steps + 1)
        changed = replanned is not None and replanned != self.steps
        if changed:
            self.steps, self.stop = replanned, min(replanned, self.stop_at or replanned)
            scheduler.lr_decay_steps = replanned
            self.eval_every = evaluation_interval(self.configured_eval_every, replanned)
            if dist.get_rank() == 0:
                log.info("train.max_minutes=%s: %d steps fit the budget", self.budget.minutes, replanned)
        if self.budget.spent(seconds):
            self.stop = done
        return changed

    def validates(self, done: int) -> bool:
        """Whether step `done` ends with a validation: every eval_every steps, and at the last step."""
        return bool(self.eval_every) and (done % self.eval_every == 0 or done == self.stop)

    def record_validation(self, done: int, loss: float, model) -> None:
        """Note step `done`'s validation loss: with patience, copy the weights when they are the best so far,
        and stop here once patience is exhausted."""
        if self.stopping.improved(done, loss) and self.stopping.patience is not None:
            self.best_weights = {
                key: value.detach().clone()
                for key, value in unwrap(model).state_dict().items()
                if torch.is_tensor(value)
            }
        if self.stopping.exhausted:
            self.stop = done
            if dist.get_rank() == 0:
                log.info(
                    "train.patience=%s: no better validation loss since step %d; stopping",
                    self.stopping.patience,
                    self.stopping.best_step,
                )

    def restore_best(self, done: int, model) -> None:
        """At the last step `done`: put back the weights that validated best, so the last checkpoint holds them."""
        if self.best_weights is not None and self.stopping.best_step != done:
            unwrap(model).load_state_dict(self.best_weights, strict=False)
            if dist.get_rank() == 0:
                log.info("train.patience: the checkpoint holds the weights of step %d", self.stopping.best_step)

    def saves(self, done: int) -> bool:
        """Whether step `done` ends with a checkpoint: every save_every steps, and at the last step."""
        return done == self.stop or bool(self.save_every and done % self.save_every == 0)
