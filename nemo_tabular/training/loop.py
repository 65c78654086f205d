"""The training loop: megatron-core GPT, schedules, DDP and optimizer, in one readable function.

Launch with torchrun for several processes (gloo on CPU, NCCL on GPU) or plain python for one.
global batch = micro batch x gradient accumulation x data parallel size.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import time
from functools import partial
from pathlib import Path

import torch
import torch.distributed as dist
from megatron.core import parallel_state
from megatron.core.distributed import DistributedDataParallel, DistributedDataParallelConfig, finalize_model_grads
from megatron.core.optimizer import OptimizerConfig, get_megatron_optimizer
from megatron.core.optimizer_param_scheduler import OptimizerParamScheduler
from megatron.core.pipeline_parallel import get_forward_backward_func
from omegaconf import DictConfig, OmegaConf
from tqdm.auto import tqdm

from nemo_tabular.cpu_compat import enable_cpu_support, seed_model_parallel
from nemo_tabular.io import write_text
from nemo_tabular.model import build_gpt, padded_vocab_size, transformer_config
from nemo_tabular.model.sizing import (REFERENCE, SHAPE_KEYS, choose_size, is_auto, layout_candidates,
                                      machine_throughput)
from nemo_tabular.run_dir import PreparedData
from nemo_tabular.tokenizer import TabularTokenizer
from nemo_tabular.errors import ConfigError

from .checkpoint import CONFIG_FILE, latest_checkpoint, load_model_weights, load_training_state, save_checkpoint, unwrap
from .data import batches, build_datasets
from .layout import validate_parallel_layout
from .metrics import MetricsWriter
from .plan import (EarlyStopping, TimeBudget, evaluation_interval, planned_dropout, planned_steps,
                   train_split_tokens)

log = logging.getLogger(__name__)


def init_distributed() -> torch.device:
    """Join the torchrun group (or make a one-process one): NCCL with GPUs, gloo without."""
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
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


def resolve_precision(precision: str) -> bool:
    """True for bf16: 'auto' means bf16 on GPUs that support it, fp32 on CPU."""
    if precision == "auto":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if precision not in ("bf16", "fp32"):
        raise ConfigError(f"precision={precision!r}: expected auto, bf16 or fp32")
    if precision == "bf16" and not torch.cuda.is_available():
        raise ConfigError("precision=bf16 needs a GPU; use precision=fp32 or auto on CPU")
    return precision == "bf16"


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


def train(cfg: DictConfig) -> dict:
    """Train (or resume) the configured model on the prepared dataset; return the run summary.

    The caller's cfg is left as given; the run's resolved config (auto sizes and dropout) goes to the checkpoint.
    """
    cfg = copy.deepcopy(cfg)
    logging.getLogger("megatron").setLevel(logging.WARNING)  # its INFO lines repeat every config
    device = init_distributed()
    cpu = enable_cpu_support()
    rank, world = dist.get_rank(), dist.get_world_size()
    if cfg.threads:
        torch.set_num_threads(int(cfg.threads))
    tokenizer = TabularTokenizer.load(PreparedData(cfg.paths.data_dir).tokenizer_path)
    micro, global_batch = int(cfg.train.micro_batch), int(cfg.train.global_batch)
    seq_length = int(cfg.model.seq_length)
    tokens_per_step = global_batch * seq_length
    train_tokens = train_split_tokens(cfg.paths.data_dir)
    steps = planned_steps(cfg.train.steps, cfg.train.epochs, train_tokens, tokens_per_step, cfg.train.min_steps)
    dp = validate_parallel_layout(cfg, world)
    resolve_model_size(cfg, steps, tokens_per_step, tokenizer.vocab_size, device)
    tp, pp = int(cfg.parallel.tensor), int(cfg.parallel.pipeline)
    parallel_state.initialize_model_parallel(tp, pp)
    seed = int(cfg.train.seed)
    torch.manual_seed(seed)
    seed_model_parallel(seed)
    bf16 = resolve_precision(cfg.precision)
    dropout = planned_dropout(cfg.model.dropout, cfg.train.steps, cfg.train.epochs, train_tokens, tokens_per_step,
                              cfg.train.min_steps)
    if cfg.model.dropout == "auto" and dropout and rank == 0:
        log.info("model.dropout=auto: %.2f, since train.min_steps=%s lifts the run past train.epochs=%s passes",
                 dropout, cfg.train.min_steps, cfg.train.epochs)
    cfg.model.dropout = dropout  # the checkpoint's config holds the number the weights were trained with
    config = transformer_config(cfg.model, tp, pp, bf16)
    vocab = padded_vocab_size(tokenizer.vocab_size, int(cfg.model.vocab_multiple), tp)
    model = build_gpt(config, vocab, seq_length, parallel_state.is_pipeline_first_stage(),
                      parallel_state.is_pipeline_last_stage(),
                      document_mask=bool(cfg.train.reset_attention)).to(device)
    if cfg.init_from and not cfg.resume:
        path = latest_checkpoint(cfg.init_from)
        if path is None:
            raise FileNotFoundError(f"init_from={cfg.init_from}: no checkpoint there")
        load_model_weights(path, model)
    model = DistributedDataParallel(
        config, DistributedDataParallelConfig(grad_reduce_in_fp32=True, use_distributed_optimizer=not cpu), model)
    clip = float(cfg.train.clip_grad) if not cpu else 0.0
    if cpu and cfg.train.clip_grad and rank == 0:
        log.info("CPU: gradient clipping and the distributed optimizer are off (megatron implements them for CUDA only)")
    optimizer = get_megatron_optimizer(OptimizerConfig(
        optimizer="adam", lr=float(cfg.train.lr), min_lr=float(cfg.train.min_lr),
        weight_decay=float(cfg.train.weight_decay), adam_beta1=0.9, adam_beta2=0.95, clip_grad=clip,
        bf16=bf16, params_dtype=config.params_dtype, use_distributed_optimizer=not cpu), [model])
    budget = TimeBudget(cfg.train.max_minutes)
    scheduler = OptimizerParamScheduler(
        optimizer, init_lr=0.0, max_lr=float(cfg.train.lr), min_lr=float(cfg.train.min_lr),
        lr_warmup_steps=min(int(cfg.train.warmup), max(steps - 1, 0)), lr_decay_steps=max(steps, 1), lr_decay_style="cosine",
        start_wd=float(cfg.train.weight_decay), end_wd=float(cfg.train.weight_decay), wd_incr_steps=steps,
        wd_incr_style="constant")
    config.finalize_model_grads_func = finalize_model_grads
    config.no_sync_func = model.no_sync

    checkpoint_dir = Path(cfg.paths.checkpoint_dir)
    start = 0
    if cfg.resume and (path := latest_checkpoint(checkpoint_dir)) is not None:
        start = load_training_state(path, model, optimizer, scheduler)
        if rank == 0:
            log.info("resumed from %s at step %d", path, start)
        if budget.minutes is not None:  # the checkpoint holds the length the budget chose
            steps = int(scheduler.lr_decay_steps)

    accumulation = global_batch // (micro * dp)
    eval_every, eval_iters = evaluation_interval(cfg.train.eval_every, steps), int(cfg.train.eval_iters)
    stopping = EarlyStopping(cfg.train.patience)
    best_weights = None  # with patience: a copy of the weights that validated best, restored before the last save
    train_set, valid_set = build_datasets(
        cfg.paths.data_dir, tokenizer, seq_length, seed, train_samples=steps * global_batch,
        valid_samples=max(eval_iters * micro * dp, 1), reset_attention=bool(cfg.train.reset_attention))
    dp_rank = parallel_state.get_data_parallel_rank()
    train_iter = batches(train_set, micro, start * global_batch, dp_rank, dp)
    schedule = get_forward_backward_func()
    step_fn = partial(forward_step, device=device)

    def run_schedule(iterator, microbatches: int, forward_only: bool) -> float:
        losses = schedule(forward_step_func=step_fn, data_iterator=iterator, model=[model],
                          num_microbatches=microbatches, seq_length=seq_length, micro_batch_size=micro,
                          forward_only=forward_only)
        return mean_loss(losses, device)

    def validate() -> float:
        model.eval()
        with torch.no_grad():
            loss = run_schedule(batches(valid_set, micro, 0, dp_rank, dp), eval_iters, forward_only=True)
        model.train()
        return loss

    def agreed_seconds() -> float:
        """Seconds since the steps began as the slowest rank counts them, so every rank decides alike."""
        value = torch.tensor([time.perf_counter() - started], dtype=torch.float64, device=device)
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return value.item()

    metrics = MetricsWriter(Path(cfg.paths.run_dir) / "tensorboard", enabled=rank == 0)
    history, valid_loss, started = [], None, time.perf_counter()
    stop = min(steps, int(cfg.train.stop_at)) if cfg.train.stop_at else steps
    bar = tqdm(initial=start, total=steps, desc="train", disable=rank != 0, unit="step")
    model.train()
    done = start
    while done < stop:
        tick = time.perf_counter()
        model.zero_grad_buffer()
        optimizer.zero_grad()
        loss = run_schedule(train_iter, accumulation, forward_only=False)
        _, grad_norm, _ = optimizer.step()
        scheduler.step(increment=1)
        tokens_per_second = tokens_per_step / (time.perf_counter() - tick)
        lr = optimizer.param_groups[0]["lr"]
        history.append(loss)
        done += 1
        bar.update()
        bar.set_postfix(loss=f"{loss:.4f}", lr=f"{lr:.2e}", tok_s=f"{tokens_per_second:,.0f}")
        metrics.scalars(done, {"train/loss": loss, "train/lr": lr, "train/tokens_per_s": tokens_per_second,
                               **({"train/grad_norm": float(grad_norm)} if grad_norm is not None else {})})
        if budget.minutes is not None:
            seconds = agreed_seconds()
            replanned = budget.replanned_steps(steps, done - start, seconds, scheduler.lr_warmup_steps + 1)
            if replanned != steps:
                steps, stop, bar.total = replanned, min(stop, replanned), replanned
                scheduler.lr_decay_steps = replanned  # the cosine decay now ends where the budget does
                eval_every = evaluation_interval(cfg.train.eval_every, steps)
                if rank == 0:
                    log.info("train.max_minutes=%s: %d steps fit the budget", budget.minutes, steps)
            if budget.spent(seconds):
                stop = done
        if eval_every and (done % eval_every == 0 or done == stop):
            valid_loss = validate()
            metrics.scalars(done, {"valid/loss": valid_loss})
            if stopping.improved(done, valid_loss) and stopping.patience is not None:
                best_weights = {key: value.detach().clone() for key, value in unwrap(model).state_dict().items()
                                if torch.is_tensor(value)}
            if stopping.exhausted:
                stop = done
                if rank == 0:
                    log.info("train.patience=%s: no better validation loss since step %d; stopping",
                             stopping.patience, stopping.best_step)
        if done == stop and best_weights is not None and stopping.best_step != done:
            unwrap(model).load_state_dict(best_weights, strict=False)  # the last checkpoint holds the best model
            if rank == 0:
                log.info("train.patience: the checkpoint holds the weights of step %d", stopping.best_step)
        if done == stop or (cfg.train.save_every and done % int(cfg.train.save_every) == 0):
            save_checkpoint(checkpoint_dir, done, model, optimizer, scheduler, cfg, tokenizer)
    bar.close()
    if steps == 0:  # initialize (or load init_from), evaluate and save: a starting point in any layout
        valid_loss = validate()
        save_checkpoint(checkpoint_dir, 0, model, optimizer, scheduler, cfg, tokenizer)
    metrics.close()
    seconds = time.perf_counter() - started
    summary = {"steps": steps, "end_step": done, "start_step": start, "losses": history,
               "final_train_loss": history[-1] if history else None, "final_valid_loss": valid_loss,
               "best_step": stopping.best_step, "best_valid_loss": stopping.best_loss if stopping.best_step is not None else None,
               "tokens_per_s": tokens_per_step * len(history) / max(seconds, 1e-9), "seconds": seconds,
               "world_size": world, "tensor": tp, "pipeline": pp, "data": dp, "precision": "bf16" if bf16 else "fp32",
               "checkpoint": str(latest_checkpoint(checkpoint_dir))}
    if rank == 0:
        write_text(Path(cfg.paths.run_dir) / "train_summary.json", json.dumps(summary, indent=1))
    dist.barrier()
    return summary


