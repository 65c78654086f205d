"""Tokenizer throughput: encode/decode rows/s on a 1M-row, 12-column mixed table, on one core.

Also reports tokens per row for diamonds at the default precision. Run: `make bench` or
`python benchmarks/tokenizer_bench.py --rows 1000000`.
"""

from __future__ import annotations

import argparse
import os
import time
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

from nemo_tabular.tokenizer import TabularTokenizer

REPO = Path(__file__).resolve().parents[1]


def mixed_table(rows: int, seed: int = 0) -> pd.DataFrame:
    """12 columns: 5 floats (2 with NaN), 3 ints, 2 categories, a datetime and a boolean."""
    rng = np.random.default_rng(seed)
    amount = rng.lognormal(3, 1.2, rows).round(2)
    amount[rng.random(rows) < 0.02] = np.nan
    return pd.DataFrame(
        {
            "amount": amount,
            "balance": rng.normal(5000, 2000, rows).round(2),
            "rate": rng.uniform(0, 1, rows).round(4),
            "lat": rng.uniform(25, 49, rows).round(3),
            "score": np.where(rng.random(rows) < 0.05, np.nan, rng.normal(600, 80, rows).round(1)),
            "age": rng.integers(18, 95, rows),
            "zip": rng.integers(10000, 99999, rows),
            "count": rng.poisson(3, rows),
            "state": rng.choice([f"S{i}" for i in range(50)], rows),
            "mcc": rng.choice([f"M{i}" for i in range(300)], rows),
            "time": pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 10**8, rows), unit="s"),
            "fraud": rng.random(rows) < 0.01,
        }
    )


def rate(fn, rows: int, repeat: int = 3) -> float:
    """Best-of-`repeat` rows/s of fn()."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return rows / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    settings = OmegaConf.to_container(OmegaConf.load(REPO / "conf" / "tokenizer" / "default.yaml"))
    table = mixed_table(args.rows)
    tok = TabularTokenizer.fit(table, settings)
    tokens = tok.encode(table)
    print(
        f"table: {args.rows:,} rows x {table.shape[1]} columns, {tok.row_width} tokens/row, "
        f"vocab {tok.vocab_size}, threads={os.environ.get('OMP_NUM_THREADS', 'default')}"
    )
    print(f"encode: {rate(lambda: tok.encode(table), args.rows):,.0f} rows/s")
    print(f"decode: {rate(lambda: tok.decode(tokens), args.rows):,.0f} rows/s")
    diamonds = pd.read_csv(resources.files("plotnine") / "data" / "diamonds.csv")
    dtok = TabularTokenizer.fit(diamonds, settings)
    print(
        f"diamonds: {dtok.row_width} tokens/row ({dtok.row_width - 1} value tokens + terminator), "
        f"vocab {dtok.vocab_size}; " + ", ".join(f"{c.name}={c.code_len if c.is_numeric else 1}" for c in dtok.columns)
    )


if __name__ == "__main__":
    main()
