"""Plot benchmarks/frontier.csv and fit model=auto's rule on it (`python benchmarks/frontier.py --plot`).

The rule (nemo_tabular/model/sizing.py): the largest ladder size that trains on at least k tokens per block
parameter within the run. For every (table, CPU, budget) cell the fit compares the size the rule picks with
the cell's best measured size; of the k that lose the least quality summed over the cells it takes the
largest, which picks the smallest models (fastest to sample) at the same measured quality.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from nemo_tabular.model.sizing import ModelSize  # noqa: E402

METRICS = (("quality", "SDMetrics quality"), ("tstr_trtr", "TSTR / TRTR"), ("dcr_share", "DCR share"))
CANDIDATE_K = [round(2 ** (i / 4), 2) for i in range(8, 33)]  # 4 ... 256 tokens per parameter


def as_number(value: str) -> float:
    return float(value) if value not in ("", "None", None) else math.nan


def cells(rows: list[dict]) -> dict[tuple, list[dict]]:
    """Points grouped by (table, cpu, budget): the sizes that competed for one budget."""
    grouped = defaultdict(list)
    for row in rows:
        grouped[(row["table"], row["cpu"], float(row["budget_cpu_min"]))].append(row)
    return grouped


def block_params(row: dict) -> int:
    return ModelSize(int(row["layers"]), int(row["width"])).params


def rule_pick(points: list[dict], k: float) -> dict:
    """The point the rule would have trained: the largest size with tokens_seen >= k x block params."""
    ordered = sorted(points, key=block_params)
    chosen = ordered[0]
    for row in ordered:
        if int(row["tokens_seen"]) >= k * block_params(row):
            chosen = row
    return chosen


def fit_k(rows: list[dict]) -> tuple[float, tuple[float, float], list[tuple]]:
    """The largest k with the least summed quality regret, the range of such k, and each cell's (key, best, picked)
    at that k."""
    grouped = {key: points for key, points in cells(rows).items() if len(points) > 1}

    def regret(k: float) -> float:
        return sum(
            max(as_number(p["quality"]) for p in points) - as_number(rule_pick(points, k)["quality"])
            for points in grouped.values()
        )

    least = min(round(regret(k), 6) for k in CANDIDATE_K)
    tied = [k for k in CANDIDATE_K if round(regret(k), 6) == least]
    best_k = tied[-1]
    detail = [
        (key, max(points, key=lambda p: as_number(p["quality"])), rule_pick(points, best_k))
        for key, points in sorted(grouped.items())
    ]
    return best_k, (tied[0], tied[-1]), detail


def plot(rows: list[dict], path: Path) -> None:
    """Quality, TSTR/TRTR and DCR share against training CPU-seconds: one panel column per table, a line per size."""
    tables = sorted({row["table"] for row in rows})
    figure, axes = plt.subplots(len(METRICS), len(tables), figsize=(4.2 * len(tables), 9), squeeze=False)
    for column, table in enumerate(tables):
        by_size = defaultdict(list)
        for row in rows:
            if row["table"] == table:
                by_size[(int(row["layers"]), int(row["width"]))].append(row)
        for (layers, width), points in sorted(by_size.items()):
            points.sort(key=lambda p: as_number(p["train_cpu_s"]))
            for line, (metric, label) in enumerate(METRICS):
                axis = axes[line][column]
                axis.plot(
                    [as_number(p["train_cpu_s"]) for p in points],
                    [as_number(p[metric]) for p in points],
                    marker="o",
                    label=f"{layers}x{width}",
                )
                axis.set_xscale("log")
                axis.set_ylabel(label)
                axis.set_xlabel("training CPU-seconds (one thread)")
                if metric == "dcr_share":
                    axis.axhspan(0.48, 0.52, color="0.9")
                else:
                    axis.set_ylim(0.7, 1.005)
        axes[0][column].set_title(f"{table} ({int(points[0]['train_rows']):,} train rows)")
        axes[0][column].legend(title="layers x width", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)


def report(rows: list[dict], path: Path) -> None:
    """Write the plot and print the fitted k with the rule's pick against the best size per cell."""
    plot(rows, path)
    k, (low, high), detail = fit_k(rows)
    print(
        f"plot: {path}\nfitted rule: the largest size with >= {k:g} training tokens per block parameter "
        f"(every k in [{low:g}, {high:g}] loses the same, least quality)\n"
    )
    print("| table | CPU | budget (CPU-min) | best size (quality) | rule's pick (quality) |\n|---|---|---|---|---|")
    for (table, cpu, budget), best, picked in detail:
        print(
            f"| {table} | {cpu} | {budget:g} | {best['layers']}x{best['width']} ({as_number(best['quality']):.3f}) "
            f"| {picked['layers']}x{picked['width']} ({as_number(picked['quality']):.3f}) |"
        )
