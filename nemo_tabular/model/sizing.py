"""model=auto: the GPT size for a table and a training budget, by the rule fitted on the compute frontier.

A run of a fixed budget can spend it on a big model that sees the table a few times or a small one that
sees it many times. benchmarks/frontier.py measured quality against CPU-seconds over sizes, tables and
budgets (BENCHMARKS.md, "Compute frontier"); the rule below is fitted on those points. It needs the
tokens each candidate would train on: the run's planned tokens, or fewer where a time budget ends it
first, from a throughput model (a per-token overhead plus FLOPs at an effective rate) scaled to this
machine by a short matrix-product probe.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from nemo_tabular.errors import ConfigError

HEAD_DIM = 32
FFN_RATIO = 4


@dataclass(frozen=True)
class ModelSize:
    """A GPT-2 layout size: `layers` blocks of `width`, heads of HEAD_DIM, an FFN of FFN_RATIO x width."""

    layers: int
    width: int

    def __post_init__(self) -> None:
        if self.layers < 1 or self.width < HEAD_DIM or self.width % HEAD_DIM:
            raise ConfigError(f"model size {self}: expected layers >= 1 and a width that is a multiple of {HEAD_DIM}")

    @property
    def heads(self) -> int:
        return self.width // HEAD_DIM

    @property
    def name(self) -> str:
        return f"{self.layers}x{self.width}"

    @property
    def params(self) -> int:
        """Parameters of the transformer blocks (no embeddings): what the rule sizes."""
        return 12 * self.layers * self.width**2

    def train_flops_per_token(self, seq_length: int, vocab: int) -> float:
        """Forward + backward FLOPs per token: projections and MLP, attention over the sequence, logits."""
        forward = self.layers * (24 * self.width**2 + 4 * seq_length * self.width) + 2 * vocab * self.width
        return 3.0 * forward

    def fits(self, tensor: int, pipeline: int) -> bool:
        """Whether the parallel layout can split this size (heads by TP, layers by PP)."""
        return self.heads % tensor == 0 and self.layers % pipeline == 0

    def config(self) -> dict:
        """The conf/model keys this size sets."""
        return {
            "num_layers": self.layers,
            "hidden_size": self.width,
            "num_attention_heads": self.heads,
            "ffn_hidden_size": FFN_RATIO * self.width,
        }


# The candidates, small to large: depth and width grow together (widths 32-256, depths 1-8).
LADDER = (ModelSize(1, 32), ModelSize(2, 64), ModelSize(3, 96), ModelSize(4, 128), ModelSize(6, 192), ModelSize(8, 256))

# Fitted on benchmarks/frontier.csv (BENCHMARKS.md, "Compute frontier"): the largest candidate that still
# trains on at least this many tokens per block parameter within the run wins. Every k in [4, 9.5] lost the
# same, least quality over the 7 measured (table, budget) cells; the largest keeps models small (fast sampling).
TOKENS_PER_PARAM = 9.5


@dataclass(frozen=True)
class Throughput:
    """Training cost on a machine: seconds per token = overhead_s + FLOPs per token / flops_per_s."""

    overhead_s: float
    flops_per_s: float

    def tokens_per_s(self, size: ModelSize, seq_length: int, vocab: int) -> float:
        return 1.0 / (self.overhead_s + size.train_flops_per_token(seq_length, vocab) / self.flops_per_s)

    def scaled(self, factor: float) -> Throughput:
        return Throughput(self.overhead_s / factor, self.flops_per_s * factor)


# One thread of the reference machine, an AVX2-only AMD EPYC: a least-squares fit of the four sizes' training
# throughput on diamonds (benchmarks/frontier_calibration.csv, within 12% of each), and its probe result.
REFERENCE = Throughput(overhead_s=15e-6, flops_per_s=29e9)
REFERENCE_PROBE_FLOPS = 49e9
PROBE_SHAPE = (4096, 128, 512)


def probe_flops(windows: int = 5, seconds: float = 0.04) -> float:
    """FLOP/s of a float32 matrix product of training's shapes on this machine's torch threads.

    The best of a few short windows: other processes only ever slow a window down.
    """
    m, k, n = PROBE_SHAPE
    a, b = torch.randn(m, k), torch.randn(k, n)
    torch.mm(a, b)  # first call pays the library's set-up
    best = 0.0
    for _ in range(windows):
        calls, started = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - started) < seconds:
            torch.mm(a, b)
            calls += 1
        best = max(best, 2.0 * m * k * n * calls / elapsed)
    return best


def machine_throughput() -> Throughput:
    """The reference throughput scaled by this machine's probe (threads included)."""
    return REFERENCE.scaled(probe_flops() / REFERENCE_PROBE_FLOPS)


@dataclass(frozen=True)
class SizeChoice:
    """What model=auto chose, with the numbers that decided it (logged, and kept in the checkpoint's config)."""

    size: ModelSize
    tokens: int
    reason: str


def choose_size(
    planned_tokens: int,
    budget_seconds: float | None,
    throughput: Throughput,
    seq_length: int,
    vocab: int,
    candidates: Sequence[ModelSize] = LADDER,
) -> SizeChoice:
    """The largest candidate that trains on >= TOKENS_PER_PARAM tokens per parameter in the run, else the smallest.

    `planned_tokens`: what the run's steps would feed; `budget_seconds`: a time budget that may end it sooner.
    """
    if not candidates:
        raise ConfigError("model=auto: no candidate size fits the parallel layout")

    def tokens(size: ModelSize) -> int:
        if budget_seconds is None:
            return planned_tokens
        return min(planned_tokens, int(budget_seconds * throughput.tokens_per_s(size, seq_length, vocab)))

    chosen = candidates[0]
    for size in candidates:
        if tokens(size) >= TOKENS_PER_PARAM * size.params:
            chosen = size
    seen = tokens(chosen)
    limit = (
        "its planned steps"
        if budget_seconds is None
        else f"{budget_seconds / 60:g} min at ~{throughput.tokens_per_s(chosen, seq_length, vocab):,.0f} tokens/s"
    )
    reason = (
        f"{chosen.name} ({chosen.params:,} block parameters) trains on {seen:,} tokens in {limit}, "
        f"{seen / chosen.params:.0f} per parameter (the rule keeps >= {TOKENS_PER_PARAM:g})"
    )
    return SizeChoice(chosen, seen, reason)


def layout_candidates(tensor: int, pipeline: int) -> list[ModelSize]:
    """The ladder's sizes that the parallel layout can split."""
    return [size for size in LADDER if size.fits(tensor, pipeline)]


SHAPE_KEYS = ("num_layers", "hidden_size", "num_attention_heads", "ffn_hidden_size")


def is_auto(model_cfg) -> bool:
    """model=auto leaves all four shape keys to this module; a mix of 'auto' and numbers is an error."""
    auto = [key for key in SHAPE_KEYS if str(model_cfg.get(key)) == "auto"]
    if auto and len(auto) != len(SHAPE_KEYS):
        fixed = ", ".join(f"model.{key}={model_cfg.get(key)}" for key in SHAPE_KEYS if key not in auto)
        raise ConfigError(
            f"{fixed} with model=auto: model=auto sets {', '.join(SHAPE_KEYS)} together; "
            f"give all four numbers or start from a fixed size (model=tiny)"
        )
    return bool(auto)
