"""Monotone float transforms applied before digitizing, so the leading digits carry even information.

Every transform is strictly increasing on the fitted range and knows the smallest gap it leaves
between two neighbouring values of the precision grid; the numeric codec uses that gap as its
step, which is what keeps decode(encode(x)) == round(x, decimals) exact under any transform.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from nemo_tabular.errors import ConfigError

TRANSFORMS = ("none", "log1p", "yeo-johnson", "quantile")
_QUANTILE_KNOTS = 1000


@dataclass
class Transform:
    """A fitted monotone map T on [low, high]; params hold what JSON needs to rebuild it."""

    name: str
    low: float
    high: float
    params: dict = field(default_factory=dict)

    def forward(self, v: np.ndarray) -> np.ndarray:
        """T(v) for values inside [low, high]."""
        if self.name == "none":
            return v
        if self.name == "log1p":
            return np.log1p(v - self.low)
        if self.name == "yeo-johnson":
            return _yeo_johnson(v, self.params["lambda"])
        if self.name == "quantile":
            return np.interp(v, self.params["knots"], self.params["levels"])
        raise AssertionError(self.name)

    def inverse(self, t: np.ndarray) -> np.ndarray:
        """T^-1(t), clipped to [low, high]."""
        if self.name == "none":
            v = t
        elif self.name == "log1p":
            v = np.expm1(t) + self.low
        elif self.name == "yeo-johnson":
            v = _yeo_johnson_inverse(t, self.params["lambda"])
        elif self.name == "quantile":
            v = np.interp(t, self.params["levels"], self.params["knots"])
        else:
            raise AssertionError(self.name)
        return np.clip(v, self.low, self.high)

    def min_gap(self, unit: float) -> float:
        """Smallest T(v + unit) - T(v) over grid points v in [low, high - unit]."""
        if self.high - self.low < unit:
            return 1.0
        if self.name == "quantile":
            knots = np.asarray(self.params["knots"])
            levels = np.asarray(self.params["levels"])
            slope = np.diff(levels) / np.diff(knots)
            return float(slope.min() * unit)
        # log1p and yeo-johnson have a monotone derivative on each side of 0: the minimum
        # slope is at an end of the range or next to 0.
        probes = np.array([self.low, self.high - unit, -unit, 0.0])
        probes = probes[(probes >= self.low) & (probes <= self.high - unit)]
        return float(np.min(self.forward(probes + unit) - self.forward(probes)))

    def to_json(self) -> dict:
        return {"name": self.name, "low": self.low, "high": self.high, "params": self.params}

    @classmethod
    def from_json(cls, data: dict) -> Transform:
        return cls(data["name"], data["low"], data["high"], data.get("params", {}))


def fit_transform(name: str, sample: np.ndarray, low: float, high: float) -> Transform:
    """Fit transform `name` on a sample of a column whose grid range is [low, high]."""
    if name not in TRANSFORMS:
        raise ConfigError(f"unknown transform {name!r}; choose one of {', '.join(TRANSFORMS)}")
    if name in ("none", "log1p") or high <= low:
        return Transform(name if high > low else "none", low, high)
    if name == "yeo-johnson":
        lam = float(stats.yeojohnson_normmax(sample)) if np.ptp(sample) > 0 else 1.0
        return Transform(name, low, high, {"lambda": float(np.clip(lam, -3.0, 3.0))})
    knots = np.unique(np.quantile(sample, np.linspace(0.0, 1.0, _QUANTILE_KNOTS + 1)))
    knots = np.unique(np.concatenate([[low], knots[(knots > low) & (knots < high)], [high]]))
    levels = np.linspace(0.0, 1.0, len(knots)) if len(knots) > 2 else np.array([0.0, 1.0])
    # The empirical CDF at each knot would leave flat pieces on ties; evenly spaced levels over
    # unique knots keep T strictly increasing while still spreading dense regions out.
    cdf = np.searchsorted(np.sort(sample), knots, side="right") / max(len(sample), 1)
    levels = 0.5 * levels + 0.5 * cdf
    levels = np.maximum.accumulate(levels + np.arange(len(levels)) * 1e-9)
    levels = (levels - levels[0]) / (levels[-1] - levels[0])
    return Transform(name, low, high, {"knots": knots.tolist(), "levels": levels.tolist()})


def _yeo_johnson(v: np.ndarray, lam: float) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    out = np.empty_like(v)
    pos = v >= 0
    if abs(lam) > 1e-12:
        out[pos] = ((v[pos] + 1.0) ** lam - 1.0) / lam
    else:
        out[pos] = np.log1p(v[pos])
    if abs(lam - 2.0) > 1e-12:
        out[~pos] = -((1.0 - v[~pos]) ** (2.0 - lam) - 1.0) / (2.0 - lam)
    else:
        out[~pos] = -np.log1p(-v[~pos])
    return out


def _yeo_johnson_inverse(t: np.ndarray, lam: float) -> np.ndarray:
    t = np.asarray(t, dtype=np.float64)
    out = np.empty_like(t)
    pos = t >= 0
    if abs(lam) > 1e-12:
        out[pos] = np.maximum(t[pos] * lam + 1.0, 0.0) ** (1.0 / lam) - 1.0
    else:
        out[pos] = np.expm1(t[pos])
    if abs(lam - 2.0) > 1e-12:
        out[~pos] = 1.0 - np.maximum(1.0 - (2.0 - lam) * t[~pos], 0.0) ** (1.0 / (2.0 - lam))
    else:
        out[~pos] = -np.expm1(-t[~pos])
    return out
