"""Sampling rows/s next to mostlyai-engine's TabularARGN, on diamonds, in one run on one machine.

Needs the benchmark environment (sdv and mostlyai-engine are never installed in .venv):

    .venv-bench/bin/python benchmarks/argn_sample_bench.py --rows 30000 --threads 1,2

TabularARGN (its default model, MOSTLY_AI/Medium) trains briefly on runs/diamonds/data/train.parquet:
one epoch, at most --train-minutes. How fast a model generates does not depend on how well it
trained, as ours does not depend on its weights: ours is a random GPT of sample_bench.py, of
`--size` LAYERSxWIDTH (default 4x128, model=tiny; model=auto's ladder sizes have heads of 32), in
float32 and in bfloat16. Both sides write --rows rows
to a Parquet file, timed wall-clock, with the same torch thread count; every round runs ours
(float32), theirs, ours (bfloat16), so machine load weighs on both. TabularARGN picks its own
generation batch (printed); ours uses --batch-size / --bf16-batch-size (the fastest in sample_bench.py).
OMP_WAIT_POLICY defaults to PASSIVE here (see below).
"""

from __future__ import annotations

import argparse
import copy
import logging
import os
import statistics
import tempfile
import time
from pathlib import Path

# Before torch starts OpenMP: on a machine whose cores other jobs use, spinning OpenMP threads wait
# for each other and 2 threads ran >10x slower than 1, on both sides. Passive waiting avoids that.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pandas as pd  # noqa: E402
import torch  # noqa: E402
from column_step import ColumnGPT, initialise  # noqa: E402
from frontier import parse_size  # noqa: E402
from sample_bench import REPO, diamonds_bundle  # noqa: E402

from nemo_tabular.sampling import SampleOptions, sample_to_file  # noqa: E402


class BatchSizeLog(logging.Handler):
    """Keeps TabularARGN's log line that names its generation batch size."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("batch_size"):
            self.lines.append(message)


def train_argn(train: Path, workspace: Path, minutes: float) -> None:
    """split, analyze, encode, train: one epoch at most, capped at `minutes`; skipped if already trained."""
    from mostlyai import engine

    if (workspace / "ModelStore" / "model-data" / "model-weights.pt").is_file():
        return
    started = time.perf_counter()
    engine.split(tgt_data=pd.read_parquet(train), workspace_dir=workspace)
    engine.analyze(workspace_dir=workspace)
    engine.encode(workspace_dir=workspace)
    engine.train(workspace_dir=workspace, max_epochs=1, max_training_time=minutes)
    print(f"TabularARGN trained in {time.perf_counter() - started:.0f}s (one epoch)", flush=True)


def argn_rows_per_second(workspace: Path, rows: int, batch_size: int | None, seed: int) -> float:
    from mostlyai import engine

    engine.set_random_state(seed)
    started = time.perf_counter()
    engine.generate(sample_size=rows, batch_size=batch_size, workspace_dir=workspace, device="cpu")
    return rows / (time.perf_counter() - started)


def ours_rows_per_second(bundle, out: Path, rows: int, batch_size: int, seed: int, workers: int) -> float:
    options = SampleOptions(n_rows=rows, batch_size=batch_size, seed=seed)
    started = time.perf_counter()
    written = sample_to_file(bundle, out, options, progress=False, workers=workers)
    return written / (time.perf_counter() - started)


def column_rows_per_second(model: ColumnGPT, tokenizer, out: Path, rows: int, batch_size: int, seed: int) -> float:
    """The column-level step of benchmarks/column_step.py (one trunk step per column), decoded and written alike."""
    started = time.perf_counter()
    ids = model.sample(rows, batch_size, torch.Generator().manual_seed(seed))
    tokenizer.decode(ids.numpy()).to_parquet(out, index=False)
    return rows / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", default=str(REPO / "runs" / "diamonds" / "data" / "train.parquet"))
    parser.add_argument(
        "--workspace", help="TabularARGN workspace to keep (and reuse once trained); default: temporary"
    )
    parser.add_argument("--train-minutes", type=float, default=2.0)
    parser.add_argument("--rows", type=int, default=30_000, help="rows per measurement, both sides")
    parser.add_argument("--size", default="4x128", help="our GPT as LAYERSxWIDTH (heads of 32)")
    parser.add_argument("--base", help="our tokenizer's base (a number or auto); default conf/tokenizer's")
    parser.add_argument("--batch-size", type=int, default=512, help="our batch size in float32")
    parser.add_argument("--bf16-batch-size", type=int, default=1024, help="our batch size in bfloat16")
    parser.add_argument("--argn-batch-size", type=int, help="TabularARGN's batch size; default: its own choice")
    parser.add_argument("--threads", default="1,2", help="torch thread counts to measure, comma-separated")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="our sampling processes (the torch threads are split among them); timed with start-up",
    )
    parser.add_argument(
        "--column-step", action="store_true", help="also time the column-level step (float32, --batch-size)"
    )
    args = parser.parse_args()
    if not Path(args.train).is_file():
        raise SystemExit(f"{args.train}: not found; run `.venv/bin/python data_prep/prepare.py dataset=diamonds`")

    logging.basicConfig(level=logging.WARNING)
    batch_log = BatchSizeLog()
    logging.getLogger("mostlyai").addHandler(batch_log)
    logging.getLogger("mostlyai").setLevel(logging.INFO)
    logging.getLogger("mostlyai").propagate = False

    with tempfile.TemporaryDirectory() as tmp:
        workspace = Path(args.workspace) if args.workspace else Path(tmp) / "argn"
        train_argn(Path(args.train), workspace, args.train_minutes)
        size = parse_size(args.size)
        fp32 = diamonds_bundle(size.layers, size.width, size.heads, 256, args.base)
        bf16 = copy.deepcopy(fp32)
        bf16.model.to(torch.bfloat16)
        sides = {
            "ours float32": lambda seed: ours_rows_per_second(
                fp32, Path(tmp) / "ours.parquet", args.rows, args.batch_size, seed, args.workers
            ),
            "TabularARGN": lambda seed: argn_rows_per_second(workspace, args.rows, args.argn_batch_size, seed),
            "ours bfloat16": lambda seed: ours_rows_per_second(
                bf16, Path(tmp) / "ours.parquet", args.rows, args.bf16_batch_size, seed, args.workers
            ),
        }
        if args.column_step:
            column = ColumnGPT(fp32.model.config, fp32.tokenizer)
            initialise(column)
            sides["ours column-level float32"] = lambda seed: column_rows_per_second(
                column.eval(), fp32.tokenizer, Path(tmp) / "ours.parquet", args.rows, args.batch_size, seed
            )
        print(
            f"{args.rows:,} rows per measurement to Parquet; ours: {args.size} (random weights), "
            f"{fp32.tokenizer.row_width} tokens a row, batch "
            f"{args.batch_size} (float32) / {args.bf16_batch_size} (bfloat16), {args.workers} worker(s); "
            f"cpus {os.cpu_count()}",
            flush=True,
        )
        for threads in (int(t) for t in args.threads.split(",")):
            torch.set_num_threads(threads)
            for side in sides.values():  # warm-up: imports, first allocations
                side(0)
            results: dict[str, list[float]] = {name: [] for name in sides}
            for round_ in range(args.rounds):
                for name, side in sides.items():
                    results[name].append(side(round_ + 1))
                    print(f"threads {threads} round {round_ + 1} {name}: {results[name][-1]:,.0f} rows/s", flush=True)
            median = {name: statistics.median(values) for name, values in results.items()}
            theirs = median["TabularARGN"]
            print(
                f"threads {threads} medians: "
                + ", ".join(
                    f"{name} {value:,.0f} rows/s ({value / theirs:.2f}x TabularARGN)" for name, value in median.items()
                ),
                flush=True,
            )
        if batch_log.lines:
            print(f"TabularARGN {batch_log.lines[-1]}")


if __name__ == "__main__":
    main()
