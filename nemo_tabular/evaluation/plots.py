"""Real-vs-synthetic figures as base64 PNG: one per column and an association-difference heatmap."""

from __future__ import annotations

import base64
import io
import itertools

import numpy as np
import pandas as pd
from matplotlib.figure import Figure  # renders with Agg, never touching pyplot's global state
from scipy.stats import chi2_contingency

from nemo_tabular.evaluation.metadata import NUMERIC_KINDS, as_labels, as_numbers

BINS = 40
TOP_CATEGORIES = 20
ASSOCIATION_BINS = 10
SECONDS_PER_DAY = 86_400
REAL_COLOR, SYNTH_COLOR = "#1f77b4", "#ff7f0e"


def to_base64_png(figure: Figure) -> str:
    """Encode a figure as a base64 PNG string for an <img src="data:..."> tag."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _histogram(axes, real: np.ndarray, synth: np.ndarray) -> None:
    """Overlaid density histograms over shared bins."""
    real, synth = real[np.isfinite(real)], synth[np.isfinite(synth)]
    both = np.concatenate([real, synth])
    if both.size == 0:
        return
    edges = np.histogram_bin_edges(both, bins=BINS)
    axes.hist(real, bins=edges, density=True, alpha=0.5, color=REAL_COLOR, label="real")
    axes.hist(synth, bins=edges, density=True, alpha=0.5, color=SYNTH_COLOR, label="synthetic")


def _bars(axes, real: pd.Series, synth: pd.Series) -> None:
    """Side-by-side category shares for the most frequent real categories, the rest pooled as 'other'."""
    real_shares = as_labels(real).value_counts(normalize=True)
    synth_shares = as_labels(synth).value_counts(normalize=True)
    shown = list(real_shares.index[:TOP_CATEGORIES])
    real_values = [real_shares.get(name, 0.0) for name in shown]
    synth_values = [synth_shares.get(name, 0.0) for name in shown]
    real_rest, synth_rest = real_shares.drop(shown).sum(), synth_shares.drop(shown, errors="ignore").sum()
    if real_rest > 0 or synth_rest > 0:
        shown, real_values, synth_values = (
            [*shown, "other"],
            [*real_values, real_rest],
            [*synth_values, synth_rest],
        )
    positions = np.arange(len(shown))
    axes.bar(positions - 0.2, real_values, width=0.4, color=REAL_COLOR, label="real")
    axes.bar(positions + 0.2, synth_values, width=0.4, color=SYNTH_COLOR, label="synthetic")
    axes.set_xticks(positions, shown, rotation=45, ha="right")
    axes.set_ylabel("share of rows")


def column_plot(real: pd.Series, synth: pd.Series, kind: str) -> str:
    """One column, real vs synthetic: histogram for numbers and dates, bar chart for categories."""
    figure = Figure(figsize=(5, 3.2))
    axes = figure.subplots()
    if kind == "datetime":
        _histogram(axes, as_numbers(real) / SECONDS_PER_DAY, as_numbers(synth) / SECONDS_PER_DAY)
        axes.xaxis_date()
        axes.tick_params(axis="x", labelrotation=30)
    elif kind in NUMERIC_KINDS:
        _histogram(axes, as_numbers(real), as_numbers(synth))
    else:
        _bars(axes, real, synth)
    axes.set_title(str(real.name))
    axes.legend()
    return to_base64_png(figure)


def _discrete(series: pd.Series, kind: str) -> np.ndarray:
    """Labels for a contingency table: categories as is, numbers in quantile bins."""
    if kind not in NUMERIC_KINDS:
        return as_labels(series).to_numpy()
    return np.asarray(pd.qcut(as_numbers(series), ASSOCIATION_BINS, duplicates="drop").astype(str))


def cramers_v(first: np.ndarray, second: np.ndarray) -> float:
    """Cramér's V of two discrete columns (0 = independent, 1 = one determines the other)."""
    table = pd.crosstab(first, second)
    smaller = min(table.shape) - 1
    if smaller < 1:
        return 0.0
    statistic = chi2_contingency(table, correction=False)[0]
    return float(np.sqrt(statistic / (table.to_numpy().sum() * smaller)))


def association_matrix(frame: pd.DataFrame, kinds: dict[str, str]) -> pd.DataFrame:
    """Pairwise association: Pearson for two numeric columns, Cramér's V for a pair with a category."""
    names = list(kinds)
    matrix = pd.DataFrame(np.eye(len(names)), index=names, columns=names)
    for first, second in itertools.combinations(names, 2):
        if kinds[first] in NUMERIC_KINDS and kinds[second] in NUMERIC_KINDS:
            value = pd.Series(as_numbers(frame[first])).corr(pd.Series(as_numbers(frame[second])))
        else:
            value = cramers_v(_discrete(frame[first], kinds[first]), _discrete(frame[second], kinds[second]))
        matrix.loc[first, second] = matrix.loc[second, first] = 0.0 if pd.isna(value) else value
    return matrix


def association_difference_plot(real: pd.DataFrame, synth: pd.DataFrame, kinds: dict[str, str]) -> str:
    """Heatmap of real minus synthetic association per column pair (0 everywhere = relationships kept)."""
    difference = association_matrix(real, kinds) - association_matrix(synth, kinds)
    size = 1.5 + 0.45 * len(kinds)
    figure = Figure(figsize=(size + 1, size))
    axes = figure.subplots()
    image = axes.imshow(difference.to_numpy(), cmap="RdBu_r", vmin=-1, vmax=1)
    axes.set_xticks(range(len(kinds)), difference.columns, rotation=45, ha="right")
    axes.set_yticks(range(len(kinds)), difference.index)
    axes.set_title("association: real - synthetic")
    figure.colorbar(image, ax=axes)
    return to_base64_png(figure)
