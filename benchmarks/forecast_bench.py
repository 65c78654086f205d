"""Forecasting benchmark (issue 19): our forecasts against SeasonalNaive, AutoETS and AutoARIMA by MASE and CRPS.

For each dataset, as a user runs the stages (`python -m nemo_tabular.cli STAGE`, one process each):

1. prepare the demo table under <root> (the tokenizer is fitted on the training split only);
2. train a model (default model=tiny) for a fixed number of steps, on one thread;
3. cut the holdout into history and future:
   - txhousing (grouped, split by city): every test-split city is a series the model never saw; its
     last `horizon` months are the future, the months before them its history;
   - macrodata (one series, split in time): the history is train + valid, the future the first
     `horizon` quarters of the test split (years past the training split: the tokenizer's
     order_headroom lets the forecast force them);
4. forecast the horizon with `sample mode=forecast` (n_paths sample paths per entity);
5. score ours and every baseline with nemo_tabular.evaluation.forecast_metrics: MASE, CRPS, scaled CRPS
   and 90% interval coverage per column and overall (definitions in nemo_tabular/evaluation/README.md).

The real run (minutes of training per dataset; run it when nobody else needs the cores):
    .venv/bin/python benchmarks/forecast_bench.py --steps 3000 --n-paths 100 --out outputs/forecast_bench
and, for another model size, add e.g. `--model small`. Results go to <out>/results.json and a Markdown table
to stdout; the prepared runs, checkpoints and forecasts stay under <out>/runs (`--reuse` skips the stages
whose outputs are already there, e.g. to rescore).

The end-to-end check of this script (seconds of training, numbers meaningless):
    .venv/bin/python benchmarks/forecast_bench.py --steps 5 --n-paths 4 --out /tmp/forecast_bench_check
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

from nemo_tabular.evaluation.forecast import BASELINES, MODEL, forecast_metrics
from nemo_tabular.evaluation.report import json_safe
from nemo_tabular.run_dir import PreparedData

DATASETS = {  # name -> (group_by, order_by, default horizon: two seasons is common, one year of months here)
    "txhousing": (["city"], ["year", "month"], 12),
    "macrodata": ([], ["year", "quarter"], 8),
}
NAMES = {MODEL: "ours", "seasonal_naive": "SeasonalNaive", "auto_ets": "AutoETS", "auto_arima": "AutoARIMA"}


def stage(name: str, *overrides: str) -> float:
    """Run one pipeline stage in a fresh process, as a user's shell would; its wall-clock seconds."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "nemo_tabular.cli", name, *overrides], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{name} {' '.join(overrides)} failed:\n{(done.stdout + done.stderr)[-3000:]}")
    return time.perf_counter() - started


def history_and_future(
    data_dir: Path, group_by: list[str], order_by: list[str], horizon: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The rows the forecast starts from and the truth it is scored on (see the module docstring)."""
    test = pd.read_parquet(data_dir / "test.parquet")
    if not group_by:  # one series cut in time: everything before the test split is its history
        history = pd.concat([pd.read_parquet(data_dir / f"{split}.parquet") for split in ("train", "valid")])
        return history.sort_values(order_by).reset_index(drop=True), test.sort_values(order_by).head(horizon)
    test = test.sort_values(group_by + order_by, kind="stable")
    future = test.groupby(group_by, sort=False).tail(horizon)
    return test.drop(index=future.index).reset_index(drop=True), future.reset_index(drop=True)


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
    data_dir, work = run_dir / "data", run_dir / "forecast_bench"
    common = [f"dataset={dataset}", f"paths.root={root}"]
    seconds = {}
    if not (args.reuse and PreparedData(data_dir).is_prepared()):
        seconds["prepare"] = stage("prepare", *common, "workers=1")
    if not (args.reuse and (run_dir / "checkpoints").is_dir()):
        seconds["train"] = stage(
            "train",
            *common,
            f"model={args.model}",
            f"train.steps={args.steps}",
            f"threads={args.threads}",
            *args.train_overrides,
        )
    history, future = history_and_future(data_dir, group_by, order_by, horizon)
    work.mkdir(parents=True, exist_ok=True)
    history.to_parquet(work / "history.parquet", index=False)
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
    parser.add_argument("--steps", type=int, required=True, help="training steps (fixed, so runs compare)")
    parser.add_argument("--model", default="tiny", help="model config (conf/model/)")
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
