"""Quality benchmark (issue 8): this project against SDV and TabularARGN on the demo tables, one budget each.

Every dataset is prepared once as a flat table (each row a document; train / valid / test = holdout
split by the project's prep). Every generator fits on the train split within the same wall-clock
budget, samples as many rows as the train split, and is scored by nemo_tabular.evaluation against
the holdout with the same settings. Ours trains through scripts/train.py (train.steps=auto,
train.max_minutes=budget) and samples through scripts/sample.py, as a user runs them; SDV's
GaussianCopula keeps its library defaults, TVAE its defaults but with fewer than its 300 epochs where
the budget holds fewer. Extra Hydra overrides after the options make an ablation of ours, reported
under its own name ("nemo-tiny train.epochs=60") next to the default.

Needs the benchmark environment (`make bench-env`: sdv and mostlyai-engine beside the project):
    .venv-bench/bin/python benchmarks/quality.py --budget-minutes 15
Writes <out>/<dataset>/<generator>/{synth.parquet,report/}, <out>/results.json and <out>/results.md.
After a change to the evaluation, `--rescore` scores the synthetic tables already under --out again
(fit seconds and sampling rows/s are kept from the run that made them).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import torch
from tables import DEMO, TABLES, table_overrides

from nemo_tabular.evaluation import EvaluationSettings, evaluate
from nemo_tabular.evaluation.metadata import column_kinds, sdmetrics_metadata
from nemo_tabular.io import read_table, write_text
from nemo_tabular.run_dir import PreparedData
from nemo_tabular.tokenizer import TabularTokenizer

REPO = Path(__file__).resolve().parents[1]
GENERATORS = ("gaussian-copula", "tvae", "tabular-argn", "nemo-auto", "nemo-tiny", "nemo-small")
FLAT = ["dataset.group_by=null", "dataset.order_by=null"]  # every generator sees the same independent rows


def run_script(script: str, *overrides: str) -> None:
    """One of the project's Hydra entry points, in a fresh process like a user's shell."""
    done = subprocess.run([sys.executable, str(REPO / script), *overrides], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{script} failed:\n{(done.stdout + done.stderr)[-3000:]}")


def prepare(dataset: str, root: Path, overrides: list[str]) -> Path:
    """The dataset's flat train/valid/test split under <root>/<dataset>/data (the same rows whatever the tokenizer)."""
    data_dir = root / dataset / "data"
    if not PreparedData(data_dir).is_prepared():
        run_script(
            "data_prep/prepare.py",
            *table_overrides(dataset, root / "sources"),
            *FLAT,
            f"paths.root={root}",
            f"paths.data_dir={data_dir}",
            *overrides,
        )
    return data_dir


def sdv_metadata(train: pd.DataFrame, tokenizer: TabularTokenizer):
    """SDV metadata with the column kinds the project's evaluation uses, so nothing is guessed differently."""
    from sdv.metadata import Metadata

    layout = sdmetrics_metadata(column_kinds(train, tokenizer), "table")
    return Metadata.load_from_dict({**layout, "METADATA_SPEC_VERSION": "V1"})


TVAE_DEFAULT_EPOCHS = 300
TVAE_PROBE_EPOCHS = (1, 1, 5)  # the first fit pays one-time start-up costs and is not used


def fit_sdv(
    name: str, train: pd.DataFrame, tokenizer: TabularTokenizer, rows: int, budget_minutes: float
) -> tuple[pd.DataFrame, float, float]:
    """Fit GaussianCopula (library defaults) or TVAE; the synthetic rows, fit and sample seconds.

    TVAE has no time limit of its own: after a warm-up fit, two short probe fits (1 and 5 epochs) separate
    the time per epoch from the fixed preprocessing time, then TVAE refits from scratch with its default 300 epochs or as
    many as the rest of the budget holds, whichever is fewer.
    """
    from sdv.single_table import GaussianCopulaSynthesizer, TVAESynthesizer

    metadata = sdv_metadata(train, tokenizer)
    started = time.perf_counter()
    if name == "gaussian-copula":
        model = GaussianCopulaSynthesizer(metadata)
    else:
        seconds = []
        for epochs in TVAE_PROBE_EPOCHS:
            probe_started = time.perf_counter()
            TVAESynthesizer(metadata, enable_gpu=False, epochs=epochs).fit({"table": train})
            seconds.append(time.perf_counter() - probe_started)
        per_epoch = max((seconds[2] - seconds[1]) / (TVAE_PROBE_EPOCHS[2] - TVAE_PROBE_EPOCHS[1]), 1e-3)
        fixed = max(seconds[1] - per_epoch * TVAE_PROBE_EPOCHS[1], 0.0)
        left = budget_minutes * 60 - (time.perf_counter() - started) - fixed
        epochs = max(1, min(TVAE_DEFAULT_EPOCHS, int(left / per_epoch)))
        print(f"tvae: {per_epoch:.2f} s/epoch + {fixed:.1f} s fixed, fitting {epochs} epochs", flush=True)
        model = TVAESynthesizer(metadata, enable_gpu=False, epochs=epochs)
    model.fit({"table": train})  # SDV 2 takes a {table name: frame} mapping even for one table
    fitted = time.perf_counter()
    synth = model.sample(rows)
    synth = synth["table"] if isinstance(synth, dict) else synth
    return synth, fitted - started, time.perf_counter() - fitted


def fit_argn(
    train: pd.DataFrame, rows: int, workspace: Path, budget_minutes: float
) -> tuple[pd.DataFrame, float, float]:
    """mostlyai-engine's TabularARGN: split, analyze, encode and train within the budget, then generate."""
    from mostlyai import engine

    started = time.perf_counter()
    engine.split(tgt_data=train, model_type="TABULAR", workspace_dir=workspace)
    engine.analyze(workspace_dir=workspace)
    engine.encode(workspace_dir=workspace)
    left = budget_minutes - (time.perf_counter() - started) / 60
    engine.train(max_training_time=max(left, 0.1), device="cpu", workspace_dir=workspace)
    fitted = time.perf_counter()
    engine.generate(sample_size=rows, device="cpu", workspace_dir=workspace)
    sampled = time.perf_counter()
    synth = pd.concat([pd.read_parquet(path) for path in sorted((workspace / "SyntheticData").glob("*.parquet"))])
    return synth[train.columns], fitted - started, sampled - fitted


def fit_ours(
    model: str, dataset: str, data_dir: Path, run_dir: Path, budget_minutes: float, threads: int, overrides: list[str]
) -> tuple[pd.DataFrame, float, float]:
    """scripts/train.py with steps=auto inside the budget, then scripts/sample.py for the train split's rows."""
    table = [f"dataset={dataset}", *FLAT] if dataset in DEMO else [f"run={data_dir.parent}"]  # meta.json: flat
    common = [
        *table,
        f"paths.root={run_dir.parent}",
        f"paths.run_dir={run_dir}",
        f"paths.data_dir={data_dir}",
    ]
    started = time.perf_counter()
    run_script(
        "scripts/train.py",
        *common,
        f"model={model}",
        "train.steps=auto",
        f"train.max_minutes={budget_minutes}",
        f"threads={threads}",
        *overrides,
    )
    fitted = time.perf_counter()
    run_script("scripts/sample.py", *common, f"out={run_dir / 'synth.parquet'}")
    sampled = time.perf_counter()
    return pd.read_parquet(run_dir / "synth.parquet"), fitted - started, sampled - fitted


def headline(metrics: dict) -> dict:
    """The evaluation's figures one table row shows (the timings are added by the caller)."""
    fidelity, privacy, utility = metrics["fidelity"], metrics["privacy"], metrics.get("utility") or {}
    ratio = next(iter((utility.get("ratio") or {}).values()), None)
    detection = metrics.get("detection") or {}  # absent from metrics.json before schema version 2
    return {
        "quality": fidelity["overall"],
        "column_shapes": fidelity["column_shapes"],
        "pair_trends": fidelity["column_pair_trends"],
        "tstr_trtr": ratio,
        "dcr_share": privacy["dcr_share_closer_to_train"],
        "exact_copies": privacy["exact_copy_rate"]["synthetic"],
        "holdout_copies": privacy["exact_copy_rate"]["holdout"],
        "validity": metrics["validity"]["valid_share"],
        "detection": detection.get("score"),
        "detection_auc": detection.get("roc_auc"),
    }


def run_generator(
    name: str,
    dataset: str,
    data_dir: Path,
    train: pd.DataFrame,
    tokenizer: TabularTokenizer,
    out: Path,
    args: argparse.Namespace,
    budget_minutes: float,
) -> dict:
    """Fit, sample and evaluate one generator on one dataset's train split within `budget_minutes`; its figures."""
    run_dir = generator_dir(out, dataset, result_key(name, args.overrides))
    run_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(args.threads)
    if name in ("gaussian-copula", "tvae"):
        synth, fit_s, sample_s = fit_sdv(name, train, tokenizer, len(train), budget_minutes)
    elif name == "tabular-argn":
        synth, fit_s, sample_s = fit_argn(train, len(train), run_dir / "workspace", budget_minutes)
    else:
        synth, fit_s, sample_s = fit_ours(
            name.removeprefix("nemo-"), dataset, data_dir, run_dir, budget_minutes, args.threads, args.overrides
        )
    synth.to_parquet(run_dir / "synth.parquet", index=False)
    return {
        **headline(score(data_dir, run_dir, tokenizer, args.threads)),
        "budget_min": budget_minutes,
        "fit_s": fit_s,
        "sample_rows_per_s": len(synth) / max(sample_s, 1e-9),
    }


def generator_dir(out: Path, dataset: str, key: str) -> Path:
    """Where one generator's files go: its result key made safe for Hydra and the shell."""
    return out / dataset / re.sub(r"[^A-Za-z0-9._-]+", "_", key)


def score(data_dir: Path, run_dir: Path, tokenizer: TabularTokenizer, threads: int) -> dict:
    """The project's evaluation of <run_dir>/synth.parquet against the holdout, written to <run_dir>/report."""
    prepared = PreparedData(data_dir)
    # paths rather than the frames in memory, so the report names its sources
    return evaluate(
        prepared.split_path("train"),
        prepared.split_path("test"),
        run_dir / "synth.parquet",
        run_dir / "report",
        target=prepared.meta["target"],
        tokenizer=tokenizer,
        settings=EvaluationSettings(threads=threads, progress=False),
    )


def rescore(dataset: str, data_dir: Path, tokenizer: TabularTokenizer, results: dict, out: Path, threads: int) -> None:
    """Score every generator's synth.parquet again (after the evaluation changed); fit and sampling times stay."""
    for key, row in results.get(dataset, {}).items():
        run_dir = generator_dir(out, dataset, key)
        if "error" in row or not (run_dir / "synth.parquet").is_file():
            continue
        print(f"{dataset} / {key}: scoring again ...", flush=True)
        row.update(headline(score(data_dir, run_dir, tokenizer, threads)))


def result_key(name: str, overrides: list[str]) -> str:
    """The generator's name in results: ours with extra overrides is an ablation, kept apart from the default."""
    if name.startswith("nemo-") and overrides:
        return f"{name} {' '.join(overrides)}"
    return name


def markdown(dataset: str, results: dict[str, dict]) -> str:
    """One BENCHMARKS.md table for a dataset."""

    def cell(value, digits=3):
        return "failed" if value is None else f"{value:.{digits}f}"

    lines = [
        f"### {dataset}",
        "",
        "| generator | quality | shapes | pair trends | TSTR/TRTR | DCR share | copies (holdout) | validity "
        "| fit s | sample rows/s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, row in results.items():
        if "error" in row:
            lines.append(f"| {name} | failed: {row['error'][:80]} |" + " |" * 8)
            continue
        lines.append(
            f"| {name} | {cell(row['quality'])} | {cell(row['column_shapes'])} | {cell(row['pair_trends'])} "
            f"| {cell(row['tstr_trtr'])} | {cell(row['dcr_share'])} "
            f"| {row['exact_copies']:.2%} ({row['holdout_copies']:.2%}) | {cell(row['validity'])} "
            f"| {row['fit_s']:.0f} | {row['sample_rows_per_s']:,.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["diamonds", "txhousing", "macrodata"], choices=TABLES)
    parser.add_argument("--generators", nargs="+", default=list(GENERATORS), choices=GENERATORS)
    parser.add_argument("--budget-minutes", type=float, default=15.0, help="wall-clock fit budget per generator")
    parser.add_argument(
        "--argn-time",
        action="store_true",
        help="TabularARGN fits first (within --budget-minutes, stopping early as it does); this "
        "project's generators then get its fit seconds as their budget",
    )
    parser.add_argument("--threads", type=int, default=2, help="torch / BLAS threads for every generator")
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "quality")
    parser.add_argument(
        "--prepare",
        nargs="*",
        default=[],
        metavar="OVERRIDE",
        help="Hydra overrides for data_prep/prepare.py (tokenizer ablations: use a separate --out)",
    )
    parser.add_argument(
        "--rescore", action="store_true", help="fit nothing: score the synthetic tables already under --out again"
    )
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides for this project's training")
    args = parser.parse_args()
    results_path = args.out / "results.json"
    results = json.loads(results_path.read_text()) if results_path.is_file() else {}
    for dataset in args.datasets:
        data_dir = prepare(dataset, args.out, args.prepare)
        prepared = PreparedData(data_dir)
        train = read_table(prepared.split_path("train"), "train split")
        tokenizer = TabularTokenizer.load(prepared.tokenizer_path)
        if args.rescore:
            rescore(dataset, data_dir, tokenizer, results, args.out, args.threads)
            write_text(results_path, json.dumps(results, indent=1))
            continue
        names = sorted(args.generators, key=lambda name: name != "tabular-argn") if args.argn_time else args.generators
        budget = {name: args.budget_minutes for name in names}
        for name in names:
            print(f"{dataset} / {name} ({budget[name]:.2f} min) ...", flush=True)
            try:
                row = run_generator(name, dataset, data_dir, train, tokenizer, args.out, args, budget[name])
            except Exception as err:  # one failing baseline must not lose the others' figures
                row = {"error": f"{type(err).__name__}: {err}"}
            results.setdefault(dataset, {})[result_key(name, args.overrides)] = row
            if args.argn_time and name == "tabular-argn" and "fit_s" in row:
                budget.update({other: row["fit_s"] / 60 for other in names if other.startswith("nemo-")})
            print(json.dumps(row), flush=True)
            write_text(results_path, json.dumps(results, indent=1))
    tables = "\n\n".join(markdown(dataset, results[dataset]) for dataset in args.datasets if dataset in results)
    write_text(args.out / "results.md", tables + "\n")
    print(tables)


if __name__ == "__main__":
    main()
