"""TensorBoard scalars for the training curves, written by rank 0 only."""

from __future__ import annotations

from pathlib import Path


class MetricsWriter:
    """add_scalar for a dict of values at one step; a no-op on ranks other than 0."""

    def __init__(self, log_dir: Path, enabled: bool):
        self.writer = None
        if enabled:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(log_dir))

    def scalars(self, step: int, values: dict[str, float]) -> None:
        if self.writer is not None:
            for name, value in values.items():
                self.writer.add_scalar(name, value, step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
