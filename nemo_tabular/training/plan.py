"""How long a run trains: steps or epochs, a time budget, and early stopping on validation loss.

`train.steps=auto` turns `train.epochs` into steps from the prepared split's token count (at least
`train.min_steps`, so a small table still gets enough updates), so the default adapts to the table's
size; `model.dropout=auto` regularizes exactly the runs that floor lifts. `train.patience` stops a run
whose validation loss has not improved for that many validations. `train.max_minutes` fits the run into
a wall-clock budget: after a few timed steps the run is shortened (never lengthened) so that the cosine
schedule still ends at min_lr when the time is up, and the loop stops when the budget is spent whatever
the estimate said.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from nemo_tabular.errors import ConfigError
from nemo_tabular.run_dir import PreparedData


def train_split_tokens(data_dir: str | Path) -> int:
    """Tokens of the prepared train split, from meta.json."""
    return PreparedData(data_dir).split_count("train", "tokens")


def planned_steps(steps: int | str, epochs: float, train_tokens: int, tokens_per_step: int, min_steps: int = 1) -> int:
    """`steps` as given, or for steps='auto' enough steps to pass `epochs` times over the train tokens."""
    if steps != "auto":
        if int(steps) < 0:
            raise ConfigError(f"train.steps={steps}: expected a count >= 0 or 'auto'")
        return int(steps)
    if not epochs or float(epochs) <= 0:
        raise ConfigError(f"train.steps=auto needs train.epochs > 0, got {epochs}")
    return max(1, int(min_steps or 1), math.ceil(float(epochs) * train_tokens / tokens_per_step))


MANY_PASSES_DROPOUT = 0.1  # macrodata, 173 rows lifted to ~400 passes: DCR share 0.536 -> 0.503, same quality


def planned_dropout(
    dropout: float | str, steps: int | str, epochs: float, train_tokens: int, tokens_per_step: int, min_steps: int = 1
) -> float:
    """`model.dropout` as given, or for 'auto' MANY_PASSES_DROPOUT where `train.min_steps` lifts a steps=auto plan
    past `train.epochs` passes (a small table, read so often that it is memorized), else 0."""
    if dropout != "auto":
        if not 0.0 <= float(dropout) < 1.0:
            raise ConfigError(f"model.dropout={dropout}: expected a probability in [0, 1) or 'auto'")
        return float(dropout)
    if steps != "auto":
        return 0.0
    lifted = planned_steps(steps, epochs, train_tokens, tokens_per_step, min_steps) > planned_steps(
        steps, epochs, train_tokens, tokens_per_step
    )
    return MANY_PASSES_DROPOUT if lifted else 0.0


# Peak learning rate x model width for lr=auto: 3.9e-3 at width 128, 7.8e-3 at 64. On diamonds, txhousing, ISLR
# Default and wa_churn at fixed steps this beat 2e-3 at every ladder width (BENCHMARKS.md, "Learning rate");
# at 768-4096 it lands on GPT-3's published rates (6e-4 at 125M, 2e-4 at 1.3B).
LR_TIMES_WIDTH = 0.5
MIN_LR_FRACTION = 0.1  # min_lr=auto: the cosine decay ends at this fraction of the peak


def planned_lr(lr: float | str, min_lr: float | str, hidden_size: int) -> tuple[float, float]:
    """(train.lr, train.min_lr) as numbers: as given, or for 'auto' LR_TIMES_WIDTH / hidden_size and
    MIN_LR_FRACTION of the peak. A smaller model takes a larger step; a short run needs it most."""
    peak = LR_TIMES_WIDTH / hidden_size if lr == "auto" else float(lr)
    floor = MIN_LR_FRACTION * peak if min_lr == "auto" else float(min_lr)
    if peak < 0 or floor < 0:
        raise ConfigError(f"train.lr={lr}, train.min_lr={min_lr}: expected numbers >= 0 or 'auto'")
    if floor > peak:
        raise ConfigError(f"train.min_lr={floor:g} exceeds train.lr={peak:g}: the cosine decay ends at min_lr")
    return peak, floor


def evaluation_interval(eval_every: int | str, steps: int) -> int:
    """Steps between validations: as given, or for 'auto' about 20 validations over the run."""
    if eval_every == "auto":
        return max(1, steps // 20)
    if int(eval_every) < 0:
        raise ConfigError(f"train.eval_every={eval_every}: expected a count >= 0 or 'auto'")
    return int(eval_every)


@dataclass
class TimeBudget:
    """A wall-clock budget for this process's training steps; `minutes=None` means no budget.

    The run's length is re-planned after `probe_steps` timed steps and again each time the timed steps
    double, from the pace of the steps since the last re-plan: throughput that falls after the first
    steps (a CPU leaving its turbo, a neighbour's load) shortens the run again, so its cosine decay
    still ends inside the budget.
    """

    minutes: float | None
    probe_steps: int = 20  # steps timed before the run's length is first re-planned
    margin: float = 0.95  # share of the budget the re-planned steps may fill (validation, saving)
    last_replan: tuple[int, float] = (0, 0.0)  # (timed steps, seconds) at the latest re-plan

    def __post_init__(self) -> None:
        if self.minutes is not None and float(self.minutes) <= 0:
            raise ConfigError(f"train.max_minutes={self.minutes}: expected minutes > 0 or null")

    @property
    def usable_seconds(self) -> float | None:
        """The seconds the planned steps may fill, the rest left for validation and saving; None without a budget."""
        return None if self.minutes is None else float(self.minutes) * 60 * self.margin

    def replans_at(self, timed: int) -> bool:
        """Whether the length is re-planned after the `timed`-th step: probe_steps, then each doubling."""
        if self.minutes is None or timed < self.probe_steps or timed % self.probe_steps:
            return False
        blocks = timed // self.probe_steps
        return blocks & (blocks - 1) == 0

    def replanned_steps(self, planned: int, done: int, timed: int, seconds: float, minimum: int = 1) -> int | None:
        """The run's new length after step `done`, the `timed`-th of this process, `seconds` in; None when this
        step does not re-plan. At most `planned` (the length before any budget), at least `minimum` and done + 1."""
        if not self.replans_at(timed):
            return None
        last_timed, last_seconds = self.last_replan
        pace = (seconds - last_seconds) / (timed - last_timed)
        self.last_replan = (timed, seconds)
        fitting = done + int(max(0.0, self.usable_seconds - seconds) / pace) if pace > 0 else planned
        return min(planned, max(done + 1, minimum, fitting))

    def spent(self, seconds: float) -> bool:
        """True once the steps have used the whole budget."""
        return self.minutes is not None and seconds >= float(self.minutes) * 60


@dataclass
class EarlyStopping:
    """Stop after `patience` validations without a new best loss; `patience=None` never stops."""

    patience: int | None
    best_loss: float = math.inf
    best_step: int | None = None
    misses: int = 0

    def __post_init__(self) -> None:
        if self.patience is not None and int(self.patience) < 1:
            raise ConfigError(f"train.patience={self.patience}: expected validations >= 1 or null")

    def improved(self, step: int, loss: float) -> bool:
        """Record a validation; True when it is the best so far."""
        if loss < self.best_loss:
            self.best_loss, self.best_step, self.misses = loss, step, 0
            return True
        self.misses += 1
        return False

    @property
    def exhausted(self) -> bool:
        return self.patience is not None and self.misses >= int(self.patience)
