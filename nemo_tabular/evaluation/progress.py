"""Evaluation stages under one progress bar, each stage's wall-clock seconds recorded for metrics.json."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from tqdm.auto import tqdm


class StageClock:
    """A tqdm bar over the named stages; `seconds` holds each finished stage's wall-clock time (3 decimals)."""

    def __init__(self, stages: Sequence[str], progress: bool = True):
        """Start the bar over `stages`, the order evaluate runs them in."""
        self.seconds: dict[str, float] = {}
        self._bar = tqdm(total=len(stages), desc="evaluate", unit="stage", disable=not progress)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the enclosed block as stage `name`, showing it on the bar while it runs."""
        self._bar.set_postfix_str(name)
        started = time.perf_counter()
        yield
        self.seconds[name] = round(time.perf_counter() - started, 3)
        self._bar.update()

    def close(self) -> None:
        """Finish the bar."""
        self._bar.close()
