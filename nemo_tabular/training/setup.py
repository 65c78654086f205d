"""Everything a training run builds before its first step, in the order the random generators need.

`plan_run` is the one place the caller's config is copied and resolved: the planned steps, the parallel
layout, the model size, dropout and learning rates for `auto`, and the precision. `set_up` then builds on that plan the
model (initialized, or loaded from init_from), DDP, optimizer and scheduler, restores a resumed run, and
makes the datasets: a `TrainingRun`, whose `train_step`, `validate` and `save` are what the loop calls.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
import torch.distributed as dist
from megatron.core import parallel_state
from megatron.core.datasets.gpt_dataset import GPTDataset
from megatron.core.distributed import DistributedDataParallel, DistributedDataParallelConfig, finalize_model_grads
from megatron.core.models.gpt import GPTModel
from megatron.core.optimizer import MegatronOptimizer, OptimizerConfig, get_megatron_optimizer
from megatron.core.optimizer_param_scheduler import OptimizerParamScheduler
from megatron.core.pipeline_parallel import get_forward_backward_func
from megatron.core.transformer import TransformerConfig
from omegaconf import DictConfig, OmegaConf

from nemo_tabular.cpu_compat import enable_cpu_support, seed_model_parallel
from nemo_tabular.errors import ConfigError
from nemo_tabular.model import build_gpt, padded_vocab_size, transformer_config
from nemo_tabular.model.sizing import REFERENCE, SHAPE_KEYS, choose_size, is_auto, layout_candidates, machine_throughput
from nemo_tabular.run_dir import PreparedData
from nemo_tabular.tokenizer import TabularTokenizer

from .checkpoint import CONFIG_FILE, latest_checkpoint, load_model_weights, load_training_state, save_checkpoint
from .data import DocumentAligned, batches, build_datasets
from .layout import validate_parallel_layout
from .plan import TimeBudget, planned_dropout, planned_lr, planned_steps, train_split_tokens
from .steps import StepPolicy, forward_step, mean_loss

log = logging.getLogger(__package__ + ".loop")  # the run's one logger, so its lines keep the name they always had


@dataclass(frozen=True)
class RunPlan:
    """The run as configured, once every `auto` is decided.

    `cfg` is a resolved copy of the caller's config (model size, dropout and learning rates filled in): the config the
    checkpoints save, and the only one the run reads after planning.
    """

    cfg: DictConfig
    steps: int  # as planned; a resumed run under a time budget continues with the length the budget chose
    tensor: int
    pipeline: int
    data: int  # data-parallel size
    bf16: bool

    @property
    def micro_batch(self) -> int:
        return int(self.cfg.train.micro_batch)

    @property
    def global_batch(self) -> int:
        return int(self.cfg.train.global_batch)

    @property
    def seq_length(self) -> int:
        return int(self.cfg.model.seq_length)

    @property
    def tokens_per_step(self) -> int:
        return self.global_batch * self.seq_length

    @property
    def accumulation(self) -> int:
        """Micro batches per step on each data-parallel rank."""
        return self.global_batch // (self.micro_batch * self.data)

    @property
    def eval_iters(self) -> int:
        return int(self.cfg.train.eval_iters)

    @property
    def checkpoint_dir(self) -> Path:
        return Path(self.cfg.paths.checkpoint_dir)


def resolve_precision(precision: str) -> bool:
    """True for bf16: 'auto' means bf16 on GPUs that support it, fp32 on CPU."""
    if precision == "auto":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if precision not in ("bf16", "fp32"):
        raise ConfigError(f"precision={precision!r}: expected auto, bf16 or fp32")
    if precision == "bf16" and not torch.cuda.is_available():
        raise ConfigError("precision=bf16 needs a GPU; use precision=fp32 or auto on CPU")
    return precision == "bf16"


def resolve_model_size(cfg: DictConfig, steps: int, tokens_per_step: int, vocab: int, device: torch.device) -> None:
    """model=auto: set cfg.model's shape by the sizing rule (nemo_tabular/model/sizing.py), alike on every rank."""
    if not is_auto(cfg.model):
        return
    trained = Path(cfg.paths.checkpoint_dir) if cfg.resume and latest_checkpoint(cfg.paths.checkpoint_dir) else None
    if trained or cfg.init_from:  # the weights to load fix the size
        source = trained or Path(cfg.init_from)
        saved = OmegaConf.load(source / CONFIG_FILE).model
        cfg.model.update({key: int(saved[key]) for key in SHAPE_KEYS})
        if dist.get_rank() == 0:
            log.info("model=auto: %dx%d, the size of the checkpoint in %s", saved.num_layers, saved.hidden_size, source)
        return
    candidates = layout_candidates(int(cfg.parallel.tensor), int(cfg.parallel.pipeline))
    seconds = TimeBudget(cfg.train.max_minutes).usable_seconds
    throughput = machine_throughput() if seconds is not None else REFERENCE  # only a time budget needs the probe
    choice = choose_size(steps * tokens_per_step, seconds, throughput, int(cfg.model.seq_length), vocab, candidates)
    index = torch.tensor([candidates.index(choice.size)], device=device)
    dist.broadcast(index, 0)  # the probe's timing differs between ranks; rank 0's choice holds for all
    size = candidates[int(index.item())]
    cfg.model.update(size.config())
    if dist.get_rank() == 0:
        log.info("model=auto: %s", choice.reason)


def resolve_dropout(cfg: DictConfig, train_tokens: int, tokens_per_step: int) -> float:
    """model.dropout as a number: as given, or for 'auto' the one plan.planned_dropout gives this run's length."""
    train = cfg.train
    dropout = planned_dropout(
        cfg.model.dropout, train.steps, train.epochs, train_tokens, tokens_per_step, train.min_steps
    )
    if cfg.model.dropout == "auto" and dropout and dist.get_rank() == 0:
        log.info(
            "model.dropout=auto: %.2f, since train.min_steps=%s lifts the run past train.epochs=%s passes",
            dropout,
            train.min_steps,
            train.epochs,
        )
    return dropout


def resolve_lr(cfg: DictConfig) -> None:
    """train.lr and train.min_lr as numbers (for 'auto', by the model's width: plan.planned_lr), logged."""
    train = cfg.train
    given = (train.lr, train.min_lr)
    train.lr, train.min_lr = planned_lr(train.lr, train.min_lr, int(cfg.model.hidden_size))
    if "auto" in given and dist.get_rank() == 0:
        log.info(
            "train.lr=%s: %.2e, min_lr %.2e (model width %d)", given[0], train.lr, train.min_lr, cfg.model.hidden_size
        )


def plan_run(cfg: DictConfig, tokenizer: TabularTokenizer, world: int, device: torch.device) -> RunPlan:
    """A resolved copy of `cfg` and the numbers the run is built from; `cfg` itself is left as given.

    Raises ConfigError on a length, layout, precision or dropout the run cannot have.
    """
    cfg = copy.deepcopy(cfg)
    tokens_per_step = int(cfg.train.global_batch) * int(cfg.model.seq_length)
    train_tokens = train_split_tokens(cfg.paths.data_dir)
    steps = planned_steps(cfg.train.steps, cfg.train.epochs, train_tokens, tokens_per_step, cfg.train.min_steps)
    data = validate_parallel_layout(cfg, world)
    resolve_model_size(cfg, steps, tokens_per_step, tokenizer.vocab_size, device)
    bf16 = resolve_precision(cfg.precision)
    cfg.model.dropout = resolve_dropout(cfg, train_tokens, tokens_per_step)  # the number the weights train with
    resolve_lr(cfg)
    return RunPlan(cfg, steps, int(cfg.parallel.tensor), int(cfg.parallel.pipeline), data, bf16)


def build_model(plan: RunPlan, tokenizer: TabularTokenizer, device: torch.device) -> tuple[TransformerConfig, GPTModel]:
    """This pipeline stage's GPT, freshly initialized or, with init_from (and no resume), with those weights."""
    cfg = plan.cfg
    config = transformer_config(cfg.model, plan.tensor, plan.pipeline, plan.bf16)
    vocab = padded_vocab_size(tokenizer.vocab_size, int(cfg.model.vocab_multiple), plan.tensor)
    model = build_gpt(
        config,
        vocab,
        plan.seq_length,
        parallel_state.is_pipeline_first_stage(),
        parallel_state.is_pipeline_last_stage(),
        document_mask=bool(cfg.train.reset_attention),
    ).to(device)
    if cfg.init_from and not cfg.resume:
        path = latest_checkpoint(cfg.init_from)
        if path is None:
            raise FileNotFoundError(f"init_from={cfg.init_from}: no checkpoint there")
        load_model_weights(path, model, trust=bool(cfg.get("trust_checkpoint", False)))
    return config, model


def build_optimizer(
    plan: RunPlan, config: TransformerConfig, model: GPTModel, cpu: bool
) -> tuple[DistributedDataParallel, MegatronOptimizer]:
    """The model wrapped in megatron's DDP, and its Adam (distributed, with clipping, on GPU only)."""
    train = plan.cfg.train
    model = DistributedDataParallel(
        config, DistributedDataParallelConfig(grad_reduce_in_fp32=True, use_distributed_optimizer=not cpu), model
    )
    clip = float(train.clip_grad) if not cpu else 0.0
    if cpu and train.clip_grad and dist.get_rank() == 0:
        log.info(
            "CPU: gradient clipping and the distributed optimizer are off (megatron implements them for CUDA only)"
        )
    optimizer = get_megatron_optimizer(
        OptimizerConfig(
            optimizer="adam",
            lr=float(train.lr),
            min_lr=float(train.min_lr),
            weight_decay=float(train.weight_decay),
            adam_beta1=0.9,
            adam_beta2=0.95,
            clip_grad=clip,
            bf16=plan.bf16,
            params_dtype=config.params_dtype,
            use_distributed_optimizer=not cpu,
        ),
        [model],
    )
    return model, optimizer


def build_scheduler(plan: RunPlan, optimizer: MegatronOptimizer) -> OptimizerParamScheduler:
    """Linear warmup (capped below the planned steps), then cosine decay to min_lr at the planned end."""
    train, steps = plan.cfg.train, plan.steps
    return OptimizerParamScheduler(
        optimizer,
        init_lr=0.0,
        max_lr=float(train.lr),
        min_lr=float(train.min_lr),
        lr_warmup_steps=min(int(train.warmup), max(steps - 1, 0)),
        lr_decay_steps=max(steps, 1),
        lr_decay_style="cosine",
        start_wd=float(train.weight_decay),
        end_wd=float(train.weight_decay),
        wd_incr_steps=steps,
        wd_incr_style="constant",
    )


def resume_training(
    plan: RunPlan,
    model: DistributedDataParallel,
    optimizer: MegatronOptimizer,
    scheduler: OptimizerParamScheduler,
    budget: TimeBudget,
) -> tuple[int, int]:
    """With resume=true and a checkpoint there, restore it (weights, optimizer, scheduler, RNG states).

    Returns the step to start from and the run's length: under a time budget, the length the budget chose,
    which the checkpoint's scheduler holds; else the planned one.
    """
    if not plan.cfg.resume or (path := latest_checkpoint(plan.checkpoint_dir)) is None:
        return 0, plan.steps
    start = load_training_state(path, model, optimizer, scheduler, trust=bool(plan.cfg.get("trust_checkpoint", False)))
    if dist.get_rank() == 0:
        log.info("resumed from %s at step %d", path, start)
    return start, int(scheduler.lr_decay_steps) if budget.minutes is not None else plan.steps


@dataclass
class TrainingRun:
    """What the loop steps: the plan, the model, optimizer and scheduler, the batches and the step to start at."""

    plan: RunPlan
    policy: StepPolicy
    tokenizer: TabularTokenizer
    device: torch.device
    model: DistributedDataParallel
    optimizer: MegatronOptimizer
    scheduler: OptimizerParamScheduler
    train_batches: Iterator[dict]
    valid_set: GPTDataset | DocumentAligned
    start: int
    schedule: Callable  # megatron's forward-backward schedule for this layout

    def _run_schedule(self, iterator: Iterator[dict], microbatches: int, forward_only: bool) -> float:
        losses = self.schedule(
            forward_step_func=partial(forward_step, device=self.device),
            data_iterator=iterator,
            model=[self.model],
            num_microbatches=microbatches,
            seq_length=self.plan.seq_length,
            micro_batch_size=self.plan.micro_batch,
            forward_only=forward_only,
        )
        return mean_loss(losses, self.device)

    def train_step(self) -> tuple[float, float | None]:
        """One optimizer step over the next global batch: its mean loss and gradient norm (None without one)."""
        self.model.zero_grad_buffer()
        self.optimizer.zero_grad()
        loss = self._run_schedule(self.train_batches, self.plan.accumulation, forward_only=False)
        _, grad_norm, _ = self.optimizer.step()
        self.scheduler.step(increment=1)
        return loss, grad_norm

    def validate(self) -> float:
        """The mean loss over the first eval_iters micro batches of the valid split (the same ones every time)."""
        valid = batches(
            self.valid_set, self.plan.micro_batch, 0, parallel_state.get_data_parallel_rank(), self.plan.data
        )
        self.model.eval()
        with torch.no_grad():
            loss = self._run_schedule(valid, self.plan.eval_iters, forward_only=True)
        self.model.train()
        return loss

    def save(self, step: int) -> None:
        """Checkpoint step `step` with the resolved config and the tokenizer (collective)."""
        save_checkpoint(
            self.plan.checkpoint_dir, step, self.model, self.optimizer, self.scheduler, self.plan.cfg, self.tokenizer
        )


def set_up(cfg: DictConfig, device: torch.device) -> TrainingRun:
    """Plan the run from `cfg` (which is left as given) and build it, ready for its first step.

    Needs the process group (loop.init_distributed). The order is the random generators': seed, build
    the model, load init_from, then a resume restores the generators' states from the checkpoint.
    """
    cpu = enable_cpu_support()
    if cfg.threads:
        torch.set_num_threads(int(cfg.threads))
    tokenizer = TabularTokenizer.load(PreparedData(cfg.paths.data_dir).tokenizer_path)
    plan = plan_run(cfg, tokenizer, dist.get_world_size(), device)
    parallel_state.initialize_model_parallel(plan.tensor, plan.pipeline)
    seed = int(plan.cfg.train.seed)
    torch.manual_seed(seed)
    seed_model_parallel(seed)
    config, model = build_model(plan, tokenizer, device)
    model, optimizer = build_optimizer(plan, config, model, cpu)
    budget = TimeBudget(plan.cfg.train.max_minutes)
    scheduler = build_scheduler(plan, optimizer)
    config.finalize_model_grads_func = finalize_model_grads
    config.no_sync_func = model.no_sync
    start, steps = resume_training(plan, model, optimizer, scheduler, budget)
    policy = StepPolicy.from_config(plan.cfg.train, steps, budget)
    train_set, valid_set = build_datasets(
        plan.cfg.paths.data_dir,
        tokenizer,
        plan.seq_length,
        seed,
        train_samples=steps * plan.global_batch,
        valid_samples=max(plan.eval_iters * plan.micro_batch * plan.data, 1),
        reset_attention=bool(plan.cfg.train.reset_attention),
    )
    train_batches = batches(
        train_set, plan.micro_batch, start * plan.global_batch, parallel_state.get_data_parallel_rank(), plan.data
    )
    return TrainingRun(
        plan,
        policy,
        tokenizer,
        device,
        model,
        optimizer,
        scheduler,
        train_batches,
        valid_set,
        start,
        get_forward_backward_func(),
    )
