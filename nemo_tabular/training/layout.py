"""Up-front checks of a parallel layout, so a bad one fails in a second with a clear message, not in the queue."""

from __future__ import annotations

from omegaconf import DictConfig

from nemo_tabular.errors import ConfigError
from nemo_tabular.model.sizing import is_auto, layout_candidates


def validate_parallel_layout(cfg: DictConfig, world_size: int, gpus_per_node: int | None = None) -> int:
    """Check TP/PP/DP against the world size, model shape and batch sizes; return the data-parallel size."""
    tp, pp = int(cfg.parallel.tensor), int(cfg.parallel.pipeline)
    model, train = cfg.model, cfg.train
    problems = []
    if tp < 1 or pp < 1:
        problems.append(f"parallel.tensor={tp} and parallel.pipeline={pp} must be at least 1")
    elif world_size % (tp * pp):
        problems.append(f"world size {world_size} is not a multiple of tensor x pipeline = {tp} x {pp} = {tp * pp}")
    if gpus_per_node is not None and tp > gpus_per_node:
        problems.append(
            f"parallel.tensor={tp} exceeds the {gpus_per_node} GPUs of a node "
            f"(tensor parallelism needs the fast links inside one node)"
        )
    if is_auto(model):  # the sizing rule only picks sizes the layout can split
        if tp >= 1 and pp >= 1 and not layout_candidates(tp, pp):
            problems.append(
                f"model=auto: no size of the ladder splits over parallel.tensor={tp} and parallel.pipeline={pp}"
            )
    else:
        problems += model_shape_problems(model, tp, pp)
    dp = world_size // (tp * pp) if tp >= 1 and pp >= 1 and world_size % (tp * pp) == 0 else 0
    if dp and train.global_batch % (train.micro_batch * dp):
        problems.append(
            f"train.global_batch={train.global_batch} is not divisible by train.micro_batch x "
            f"data parallel = {train.micro_batch} x {dp}"
        )
    if problems:
        raise ConfigError("invalid parallel layout: " + "; ".join(problems))
    return dp


def model_shape_problems(model: DictConfig, tp: int, pp: int) -> list[str]:
    """What keeps a fixed model size from splitting over the layout (heads by TP, layers by PP)."""
    problems = []
    if tp >= 1 and model.num_attention_heads % tp:
        problems.append(
            f"model.num_attention_heads={model.num_attention_heads} is not divisible by parallel.tensor={tp}"
        )
    groups = model.num_query_groups or model.num_attention_heads
    if tp >= 1 and groups % tp:
        problems.append(f"model.num_query_groups={groups} is not divisible by parallel.tensor={tp}")
    if model.num_attention_heads % groups:
        problems.append(
            f"model.num_attention_heads={model.num_attention_heads} is not divisible by model.num_query_groups={groups}"
        )
    if pp >= 1 and model.num_layers % pp:
        problems.append(f"model.num_layers={model.num_layers} is not divisible by parallel.pipeline={pp}")
    if model.hidden_size % model.num_attention_heads:
        problems.append(
            f"model.hidden_size={model.hidden_size} is not divisible by "
            f"model.num_attention_heads={model.num_attention_heads}"
        )
    return problems
