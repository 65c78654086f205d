"""Draw the next token from masked logits: temperature, top-k, top-p, with a seeded generator."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from nemo_tabular.errors import ConfigError


@dataclass
class SamplingSettings:
    """temperature 0 = greedy; top_k 0 and top_p 1.0 = off."""

    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0

    def __post_init__(self):
        if self.temperature < 0:
            raise ConfigError(f"temperature must be >= 0, got {self.temperature}")
        if self.top_k < 0:
            raise ConfigError(f"top_k must be >= 0, got {self.top_k}")
        if not 0.0 < self.top_p <= 1.0:
            raise ConfigError(f"top_p must be in (0, 1], got {self.top_p}")


def choose_tokens(
    logits: torch.Tensor, allowed: torch.Tensor | None, settings: SamplingSettings, generator: torch.Generator
) -> torch.Tensor:
    """One column index per row of `logits` (batch, n), drawn only where `allowed` (n,) is true (None: all)."""
    logits = logits.float()
    if allowed is not None:
        logits = logits.masked_fill(~allowed, float("-inf"))
    if settings.temperature == 0:
        return logits.argmax(dim=-1)
    if settings.temperature != 1.0:
        logits = logits / settings.temperature
    if settings.top_k:
        kth = logits.topk(min(settings.top_k, logits.shape[-1]), dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if settings.top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        probs = sorted_logits.softmax(dim=-1)
        before = probs.cumsum(dim=-1) - probs  # mass of the more likely tokens: keep while < top_p
        sorted_logits = sorted_logits.masked_fill(before >= settings.top_p, float("-inf"))
        logits = torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)
    return draw_from(logits.softmax(dim=-1), generator)


def draw_from(probs: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One index per row of `probs` (batch, n) by inverse CDF: one uniform number per row.

    torch.multinomial draws an exponential number for every entry (batch x n); this draws batch.
    An index with probability 0 is never returned: the first index whose cumulative sum exceeds
    u * total, capped at the last index with a positive probability (rounding may reach the total).
    That cap costs three passes over `probs`, so it is computed only for a batch where a draw needs it.
    """
    cdf = probs.cumsum(dim=-1)
    u = torch.rand(probs.shape[0], 1, generator=generator, device=probs.device, dtype=cdf.dtype)
    index = torch.searchsorted(cdf, u * cdf[:, -1:], right=True).squeeze(-1).clamp_(max=probs.shape[-1] - 1)
    if bool((probs.gather(1, index[:, None]) > 0).all()):
        return index
    last = probs.shape[-1] - 1 - (probs > 0).flip(-1).to(torch.uint8).argmax(dim=-1)
    return torch.minimum(index, last)
