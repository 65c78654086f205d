"""The report's figures as base64 PNGs: a real-vs-synthetic plot per column, the association matrices, a DCR histogram.

Drawn with matplotlib rather than SDMetrics' visuals: those are plotly figures, which a self-contained page
can hold only with plotly.js inlined (megabytes per report) or fetched from a CDN, or as images rendered by
kaleido and a headless Chrome. matplotlib's Agg backend writes the PNGs offline with no extra dependency.

Histograms are drawn over a robust range, the 0.5th to the 99.5th percentile of both sides' values, so a
few outliers do not squeeze the rest into two or three bars; each figure's note says how many values of
each side lie outside it. The DCR histogram keeps its lower end at 0, where exact copies sit.
"""

from __future__ import annotations

import base64
import io
import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.figure import Figure  # renders with Agg, never touching pyplot's global state
from scipy.stats import chi2_contingency

from nemo_tabular.evaluation.metadata import NUMERIC_KINDS, as_labels, as_numbers

BINS = 40
TOP_CATEGORIES = 20
ASSOCIATION_BINS = 10
MAX_ANNOTATED_COLUMNS = 12  # association cells carry their value up to this many columns
SECONDS_PER_DAY = 86_400
ROBUST_PERCENTILES = (0.5, 99.5)
REAL_COLOR, SYNTH_COLOR = "#1f77b4", "#ff7f0e"


@dataclass(frozen=True)
class PlotRange:
    """The range a histogram shows and how many finite values of each side lie outside it."""

    low: float
    high: float
    real_outside: int
    synth_outside: int
    real_count: int
    synth_count: int
    basis: str = f"{ROBUST_PERCENTILES[0]}th-{ROBUST_PERCENTILES[1]}th percentile of both"

    def note(
        self, real_label: str = "real", synth_label: str = "synthetic", show: Callable[[float], str] = "{:.4g}".format
    ) -> str:
        """One sentence for the caption: what was clipped, or that nothing was (`show` formats the bounds)."""
        shown = f"[{show(self.low)}, {show(self.high)}]"
        if not self.real_outside and not self.synth_outside:
            return f"All values shown ({shown})."
        return (
            f"{self.real_outside:,} of {self.real_count:,} {real_label} and {self.synth_outside:,} of "
            f"{self.synth_count:,} {synth_label} values lie outside the plotted range {shown} "
            f"({self.basis}) and are not drawn."
        )


@dataclass(frozen=True)
class ColumnFigure:
    """One column's figure and the caption note that goes with it."""

    png: str
    note: str


@dataclass(frozen=True)
class ReportFigures:
    """Every figure of report.html: per column, the association matrices (None below two columns), the DCR histogram."""

    columns: dict[str, ColumnFigure]
    associations: str | None
    dcr: ColumnFigure


def plain(label: object) -> str:
    """Text as matplotlib should draw it: a "$" in a name or category is a dollar, never mathtext."""
    return str(label).replace("$", r"\$")


def to_base64_png(figure: Figure) -> str:
    """Encode a figure as a base64 PNG string for an <img src="data:..."> tag."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def robust_range(real: np.ndarray, synth: np.ndarray, floor: float | None = None) -> PlotRange:
    """The 0.5th (or `floor`) to 99.5th percentile of both sides' finite values, and the values outside it
    per side."""
    real, synth = real[np.isfinite(real)], synth[np.isfinite(synth)]
    both = np.concatenate([real, synth])
    if both.size == 0:
        return PlotRange(0.0, 0.0, 0, 0, 0, 0)
    low, high = (float(value) for value in np.percentile(both, ROBUST_PERCENTILES))
    extra = {} if floor is None else {"basis": f"{floor:g} to the {ROBUST_PERCENTILES[1]}th percentile of both"}
    low = low if floor is None else floor

    def outside(values: np.ndarray) -> int:
        return int(np.count_nonzero((values < low) | (values > high)))

    return PlotRange(low, high, outside(real), outside(synth), int(real.size), int(synth.size), **extra)


def _histogram(
    axes, real: np.ndarray, synth: np.ndarray, shown: PlotRange, labels: tuple[str, str], integers: bool = False
) -> None:
    """Overlaid density histograms over shared bins inside the shown range (one bin per integer where
    `integers` and the range holds at most BINS of them)."""
    real, synth = real[np.isfinite(real)], synth[np.isfinite(synth)]
    if shown.real_count + shown.synth_count == 0:
        return
    if integers and shown.high - shown.low < BINS:
        edges = np.arange(np.floor(shown.low), np.ceil(shown.high) + 1) + 0.5
        edges = np.concatenate([[edges[0] - 1], edges])
    else:
        edges = np.histogram_bin_edges([], bins=BINS, range=(shown.low, shown.high))
    for values, color, label in ((real, REAL_COLOR, labels[0]), (synth, SYNTH_COLOR, labels[1])):
        inside = values[(values >= shown.low) & (values <= shown.high)]
        if inside.size:
            axes.hist(inside, bins=edges, density=True, alpha=0.5, color=color, label=label)
    axes.set_ylabel("density")


def _bars(axes, real: pd.Series, synth: pd.Series) -> str:
    """Side-by-side category shares for the most frequent real categories, the rest pooled as 'other'."""
    real_shares = as_labels(real).value_counts(normalize=True)
    synth_shares = as_labels(synth).value_counts(normalize=True)
    shown = list(real_shares.index[:TOP_CATEGORIES])
    real_values = [real_shares.get(name, 0.0) for name in shown]
    synth_values = [synth_shares.get(name, 0.0) for name in shown]
    real_rest, synth_rest = real_shares.drop(shown).sum(), synth_shares.drop(shown, errors="ignore").sum()
    note = f"All {len(real_shares):,} real categories shown."
    if real_rest > 0 or synth_rest > 0:
        note = (
            f"The {len(shown)} most frequent real categories shown; the rest (real {real_rest:.1%}, synthetic "
            f"{synth_rest:.1%} of rows) pooled as 'other'."
        )
        shown, real_values, synth_values = (
            [*shown, "other"],
            [*real_values, real_rest],
            [*synth_values, synth_rest],
        )
    positions = np.arange(len(shown))
    axes.bar(positions - 0.2, real_values, width=0.4, color=REAL_COLOR, label="real")
    axes.bar(positions + 0.2, synth_values, width=0.4, color=SYNTH_COLOR, label="synthetic")
    axes.set_xticks(positions, [plain(label) for label in shown], rotation=45, ha="right")
    axes.set_ylabel("share of rows")
    return note


def _missing_note(real: np.ndarray, synth: np.ndarray) -> str:
    """How many values the histogram cannot place at all (missing), when any are."""
    real_missing, synth_missing = int(np.count_nonzero(~np.isfinite(real))), int(np.count_nonzero(~np.isfinite(synth)))
    if not real_missing and not synth_missing:
        return ""
    return f" Missing (not drawn): {real_missing:,} real, {synth_missing:,} synthetic."


def column_plot(real: pd.Series, synth: pd.Series, kind: str) -> ColumnFigure:
    """One column, real vs synthetic: a clipped histogram for numbers and dates, a bar chart for categories."""
    figure = Figure(figsize=(5, 3.2))
    axes = figure.subplots()
    name = plain(real.name)
    if kind in NUMERIC_KINDS:
        scale = SECONDS_PER_DAY if kind == "datetime" else 1
        real_values, synth_values = as_numbers(real) / scale, as_numbers(synth) / scale
        shown = robust_range(real_values, synth_values)
        _histogram(axes, real_values, synth_values, shown, ("real", "synthetic"), integers=kind == "int")
        if kind == "datetime":
            axes.xaxis_date()
            axes.tick_params(axis="x", labelrotation=30)
            axes.set_xlabel(f"{name} (date)")
            note = shown.note(show=lambda days: str(pd.Timestamp(days * SECONDS_PER_DAY, unit="s").date()))
        else:
            axes.set_xlabel(name)
            note = shown.note()
        note += _missing_note(real_values, synth_values)
    else:
        note = _bars(axes, real, synth)
        axes.set_xlabel(name)
    axes.set_title(name)
    axes.legend()
    return ColumnFigure(to_base64_png(figure), note)


def dcr_plot(synthetic_to_train: np.ndarray, holdout_to_train: np.ndarray) -> ColumnFigure:
    """Histogram of each synthetic and each holdout row's distance to its closest training row.

    Synthetic rows that copy training rows pile up at 0; a generator that memorized nothing draws about
    the holdout's curve. The range runs from 0 to the 99.5th percentile of both.
    """
    figure = Figure(figsize=(6, 3.2))
    axes = figure.subplots()
    shown = robust_range(holdout_to_train, synthetic_to_train, floor=0.0)  # from 0, where copies sit
    labels = ("holdout (real rows never trained on)", "synthetic")
    _histogram(axes, holdout_to_train, synthetic_to_train, shown, labels)
    axes.set_xlabel("distance to the closest training row")
    axes.set_title("distance to closest record (DCR)")
    axes.legend()
    return ColumnFigure(to_base64_png(figure), shown.note(real_label="holdout", synth_label="synthetic"))


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


def association_plot(real: pd.DataFrame, synth: pd.DataFrame, kinds: dict[str, str]) -> str:
    """Real and synthetic association matrices side by side, and their difference (0 = relationships kept)."""
    real_matrix, synth_matrix = association_matrix(real, kinds), association_matrix(synth, kinds)
    panels = (("real", real_matrix), ("synthetic", synth_matrix), ("real - synthetic", real_matrix - synth_matrix))
    size = 1.5 + 0.45 * len(kinds)
    figure = Figure(figsize=(3 * size + 1, size), layout="constrained")
    names = [plain(name) for name in kinds]
    image = None
    for axes, (title, matrix) in zip(figure.subplots(1, 3), panels):
        values = matrix.to_numpy()
        image = axes.imshow(values, cmap="RdBu_r", vmin=-1, vmax=1)
        axes.set_xticks(range(len(names)), names, rotation=45, ha="right")
        axes.set_yticks(range(len(names)), names)
        axes.set_title(title)
        if len(names) <= MAX_ANNOTATED_COLUMNS:
            for (row, column), value in np.ndenumerate(values):
                axes.text(
                    column,
                    row,
                    f"{value:.2f}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if abs(value) > 0.6 else "black",
                )
    figure.colorbar(image, ax=figure.axes, shrink=0.8, label="Pearson r (two numbers) or Cramér's V")
    return to_base64_png(figure)


def report_figures(
    real: pd.DataFrame,
    synth: pd.DataFrame,
    kinds: dict[str, str],
    synthetic_to_train: np.ndarray,
    holdout_to_train: np.ndarray,
) -> ReportFigures:
    """Every figure of the report from the (subsampled) real and synthetic rows and the DCR distances."""
    return ReportFigures(
        columns={name: column_plot(real[name], synth[name], kind) for name, kind in kinds.items()},
        associations=association_plot(real, synth, kinds) if len(kinds) > 1 else None,
        dcr=dcr_plot(synthetic_to_train, holdout_to_train),
    )
