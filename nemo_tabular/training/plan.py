"""How long a run trains: a fixed step count or epochs over the train split, within an optional time budget.

`train.steps=auto` turns `train.epochs` into steps from the prepared split's token count, so the
default adapts to the table's size. `train.max_minutes` fits the run into a wall-clock budget: after
a few timed steps the run is shortened (never lengthened) so that the cosine schedule still ends at
min_lr when the time is up, and the loop stops when the budget is spent whatever the estimate said.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path


def train_split_tokens(data_dir: str | Path) -> int:
    """Tokens of the prepared train split, from meta.json."""
    meta = Path(data_dir) / "meta.json"
    if not meta.is_file():
        raise FileNotFoundError(f"{meta}: not found; run data_prep/prepare.py first")
    return int(json.loads(meta.read_text())["splits"]["train"]["tokens"])


def planned_steps(steps: int | str, epochs: float, train_tokens: int, tokens_per_step: int) -> int:
    """`steps` as given, or for steps='auto' enough steps to pass `epochs` times over the train tokens."""
    if steps != "auto":
        if int(steps) < 0:
            raise ValueError(f"train.steps={steps}: expected a count >= 0 or 'auto'")
        return int(steps)
    if not epochs or float(epochs) <= 0:
        raise ValueError(f"train.steps=auto needs train.epochs > 0, got {epochs}")
    return max(1, math.ceil(float(epochs) * train_tokens / tokens_per_step))


@dataclass
class TimeBudget:
    """A wall-clock budget for the training steps; `minutes=None` means no budget."""

    minutes: float | None
    probe_steps: int = 20   # steps timed before the run's length is re-planned once
    margin: float = 0.95    # share of the budget the re-planned steps may fill (validation, saving)

    def __post_init__(self) -> None:
        if self.minutes is not None and float(self.minutes) <= 0:
            raise ValueError(f"train.max_minutes={self.minutes}: expected minutes > 0 or null")

    def replanned_steps(self, steps: int, done: int, seconds: float, minimum: int = 1) -> int:
        """The run's new length once `done` steps took `seconds`: `steps`, or fewer (>= minimum) that fit."""
        if self.minutes is None or done != self.probe_steps:
            return steps
        fitting = int(float(self.minutes) * 60 * self.margin / (seconds / done))
        return min(steps, max(done + 1, minimum, fitting))

    def spent(self, seconds: float) -> bool:
        """True once the steps have used the whole budget."""
        return self.minutes is not None and seconds >= float(self.minutes) * 60
