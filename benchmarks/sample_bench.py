"""Sampling throughput: rows/s of constrained generation on CPU for a tiny GPT on diamonds.

Batch sizes 1..1024, with and without the KV cache, in float32 or bfloat16 (--dtype). The weights
are random: speed does not depend on training. Run: `python benchmarks/sample_bench.py` (add
`--model-path DIR` for a real bundle). Next to TabularARGN: argn_sample_bench.py.
"""

from __future__ import annotations

import argparse
import os
import time
from importlib import resources
from pathlib import Path

import pandas as pd
import torch
from omegaconf import OmegaConf

from nemo_tabular.sampling import GPT, Bundle, GPTConfig, SampleOptions, TableLayout, iter_samples, load_bundle
from nemo_tabular.tokenizer import TabularTokenizer

REPO = Path(__file__).resolve().parents[1]


def diamonds_bundle(layers: int, hidden: int, heads: int, context: int, base: int | str | None = None) -> Bundle:
    """A random GPT of the given size with a tokenizer fitted on diamonds as prep would fit it (`base`: the
    tokenizer's, default conf/tokenizer's)."""
    table = pd.read_csv(resources.files("plotnine") / "data" / "diamonds.csv")
    settings = OmegaConf.to_container(OmegaConf.load(REPO / "conf" / "tokenizer" / "default.yaml"))
    if base is not None:
        settings["base"] = base  # the fitter reads a number or auto, as from conf/
    columns = OmegaConf.to_container(OmegaConf.load(REPO / "conf" / "dataset" / "diamonds.yaml").columns)
    tok = TabularTokenizer.fit(table, settings, columns)
    torch.manual_seed(0)
    config = GPTConfig(
        vocab_size=tok.vocab_size,
        n_positions=context,
        n_layer=layers,
        n_head=heads,
        n_kv_head=heads,
        head_dim=hidden // heads,
        d_model=hidden,
        d_ff=4 * hidden,
    )
    return Bundle(GPT(config).eval(), tok, TableLayout())


def rows_per_second(bundle: Bundle, batch_size: int, use_cache: bool, min_seconds: float) -> float:
    """Rows/s over whole batches, repeated until at least min_seconds have passed (after one warm-up batch)."""
    options = SampleOptions(n_rows=batch_size, batch_size=batch_size, seed=0, use_cache=use_cache)
    list(iter_samples(bundle, options))
    rows, started = 0, time.perf_counter()
    while time.perf_counter() - started < min_seconds:
        rows += sum(len(frame) for frame in iter_samples(bundle, options))
    return rows / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model-path", help="an exported bundle directory instead of a random tiny model")
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--context", type=int, default=256)
    parser.add_argument("--batch-sizes", default="1,4,16,64,256,1024")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
    parser.add_argument("--no-uncached", action="store_true", help="skip the (slow) runs without the KV cache")
    parser.add_argument("--seconds", type=float, default=2.0, help="minimum time per measurement")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    bundle = (
        load_bundle(args.model_path)
        if args.model_path
        else diamonds_bundle(args.layers, args.hidden, args.heads, args.context)
    )
    bundle.model.to(getattr(torch, args.dtype))
    c = bundle.model.config
    print(
        f"model: {c.n_layer} layers, d_model {c.d_model}, {c.n_head} heads, context {c.n_positions}, "
        f"vocab {c.vocab_size}; row_width {bundle.tokenizer.row_width}; torch threads "
        f"{torch.get_num_threads()}; cpus {os.cpu_count()}; {args.dtype}"
    )
    print(f"{'batch':>6} {'kv cache rows/s':>16} {'no cache rows/s':>16} {'speed-up':>9}")
    for batch_size in (int(b) for b in args.batch_sizes.split(",")):
        cached = rows_per_second(bundle, batch_size, True, args.seconds)
        if args.no_uncached:
            print(f"{batch_size:>6} {cached:>16,.0f}", flush=True)
            continue
        uncached = rows_per_second(bundle, batch_size, False, args.seconds)
        print(f"{batch_size:>6} {cached:>16,.0f} {uncached:>16,.0f} {cached / uncached:>8.2f}x", flush=True)


if __name__ == "__main__":
    main()
