"""Data prep throughput: rows/s from a Parquet file to .bin/.idx/.parquet splits (target >= 300k rows/s).

The input is a bundled dataset resampled to `--rows` rows (default 1M), written to a temp dir first and
not timed: diamonds (flat, one document per row) or txhousing (grouped: each city split into 20
entities, 920 in all, their rows interleaved so that ordering documents needs random access).
Usage: python benchmarks/prep_bench.py [--dataset diamonds|txhousing] [--rows 1000000] [--workers 2]
"""

from __future__ import annotations

import argparse
import importlib.resources
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from hydra import compose, initialize_config_dir

from nemo_tabular.data.prepare import prepare_dataset, summary

CONF = Path(__file__).resolve().parents[1] / "conf"


COPIES_PER_CITY = 20


def synthesize(dataset: str, rows: int, path: Path, seed: int = 0) -> None:
    """Resample a plotnine dataset to `rows` rows (txhousing: with more, interleaved cities) and write Parquet."""
    table = pd.read_csv(importlib.resources.files("plotnine").joinpath(f"data/{dataset}.csv"))
    picks = np.random.default_rng(seed).integers(0, len(table), rows)
    table = table.iloc[picks].reset_index(drop=True)
    if dataset == "txhousing":
        table["city"] = table["city"] + "-" + (np.arange(rows) % COPIES_PER_CITY).astype(str)
    table.to_parquet(path, row_group_size=100_000)


def main() -> None:
    """Time one full prep (fit pass, encode pass, split writing) of the synthesized table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=["diamonds", "txhousing"], default="diamonds")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--chunk-rows", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / f"{args.dataset}.parquet"
        synthesize(args.dataset, args.rows, source)
        overrides = [
            f"dataset={args.dataset}",
            f"dataset.source={source}",
            f"paths.root={Path(tmp) / 'runs'}",
            f"workers={args.workers}",
            f"chunk_rows={args.chunk_rows}",
        ]
        with initialize_config_dir(str(CONF), version_base="1.3"):
            cfg = compose("prepare", overrides=overrides)
        started = time.perf_counter()
        output = prepare_dataset(cfg)
        seconds = time.perf_counter() - started
        print(summary(output, seconds))
        print(
            f"prep: {args.rows:,} rows from Parquet in {seconds:.2f} s = {args.rows / seconds:,.0f} rows/s "
            f"(dataset={args.dataset}, workers={args.workers}, chunk_rows={args.chunk_rows}, "
            f"cpus={os.cpu_count()}, python {sys.version.split()[0]})"
        )


if __name__ == "__main__":
    main()
