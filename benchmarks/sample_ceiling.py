"""How fast constrained sampling of a GPT on diamonds could be on this CPU, next to how fast it is.

Times, at one batch size and dtype, the exact matrix products a diamonds row needs (per model step
and layer: qkv, attention output, MLP in and out; and the logits of each drawn slot's ids), summed
over the row's model steps. B / that sum is the rows/s the matmuls alone allow, as if attention,
layer norms, GeLU and the draw cost nothing. A second bound adds attention at memory speed: the KV
cache every step reads, at the read bandwidth measured on a buffer of that size. The sampler's
measured rows/s comes from the same run. Run: `python benchmarks/sample_ceiling.py` (model=tiny's 4x128;
`--size 2x64` for a model=auto ladder size, heads of 32; `--base auto` for the tokenizer's).
"""

from __future__ import annotations

import argparse
import time

import torch
from frontier import parse_size
from sample_bench import diamonds_bundle, rows_per_second

from nemo_tabular.hardware import machine_name
from nemo_tabular.sampling.constraints import SlotConstraints


def best_seconds(fn, repeats: int) -> float:
    """The fastest of `repeats` timed calls, after one warm-up call."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def matmul_seconds(m: int, k: int, n: int, dtype: torch.dtype, repeats: int) -> float:
    """Fastest time of one (m, k) @ (k, n) product."""
    a, b = torch.randn(m, k, dtype=dtype), torch.randn(k, n, dtype=dtype)
    return best_seconds(lambda: a @ b, repeats)


def drawn_slot_widths(bundle) -> list[int]:
    """Allowed-id counts of the slots of a flat row that need a draw (the model runs once for each)."""
    tok = bundle.tokenizer
    constraints = SlotConstraints(tok, bundle.model.config.vocab_size)
    return [s.hi - s.lo for s in constraints.slots if s.single is None]


def matmul_seconds_per_batch(config, widths: list[int], batch: int, dtype: torch.dtype, repeats: int) -> float:
    """Seconds of the matrix products of one batch of rows: all layers once per drawn slot but the first
    (whose hidden states come from the prompt, run once for the whole batch), and every slot's logits."""
    d, ff, heads = config.d_model, config.d_ff, config.n_head * config.head_dim
    qkv = (config.n_head + 2 * config.n_kv_head) * config.head_dim
    shapes = [(d, qkv), (heads, d), (d, ff), (ff, d)]
    per_step = config.n_layer * sum(matmul_seconds(batch, k, n, dtype, repeats) for k, n in shapes)
    logits = sum(matmul_seconds(batch, d, w, torch.float32, repeats) for w in widths)  # float32, as the sampler
    return per_step * (len(widths) - 1) + logits


def kv_read_seconds_per_batch(config, widths: list[int], batch: int, dtype: torch.dtype, repeats: int) -> float:
    """Seconds to read, at every model step, the keys and values cached so far: the end-of-document prompt
    and the row's tokens up to the newest (lone ids, fed with the next draw, are left out: a lower bound)."""
    element = torch.tensor([], dtype=dtype).element_size()
    per_token = 2 * config.n_layer * config.n_kv_head * config.head_dim * element * batch  # bytes, all layers
    longest = per_token * len(widths)
    buffer = torch.zeros(longest // 4 + 1, dtype=torch.float32)  # the same bytes, summed as float32
    bandwidth = buffer.numel() * 4 / best_seconds(buffer.sum, repeats)
    cached_tokens = sum(range(2, len(widths) + 1))  # step k (k = 2..slots) attends over k tokens
    return per_token * cached_tokens / bandwidth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch-sizes", default="256,1024")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=3.0, help="minimum time per sampler measurement")
    parser.add_argument("--size", default="4x128", help="LAYERSxWIDTH; heads of 32 (4x128 is model=tiny)")
    parser.add_argument("--base", help="the tokenizer's base (a number or auto); default conf/tokenizer's")
    parser.add_argument("--dtypes", default="float32,bfloat16")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    size = parse_size(args.size)
    bundle = diamonds_bundle(size.layers, size.width, size.heads, 256, args.base)
    config, widths = bundle.model.config, drawn_slot_widths(bundle)
    print(
        f"{args.size}: {config.n_layer} layers, d_model {config.d_model}; {len(widths)} drawn slots and "
        f"{len(widths) - 1} model steps per row; torch threads {torch.get_num_threads()}; {machine_name()}"
    )
    print(f"{'dtype':>9} {'batch':>6} {'matmuls only':>13} {'+ KV reads':>11} {'sampler':>8} {'sampler/bound':>14}")
    for dtype in (getattr(torch, name) for name in args.dtypes.split(",")):
        bundle.model.to(dtype)
        for batch in (int(b) for b in args.batch_sizes.split(",")):
            matmuls = matmul_seconds_per_batch(config, widths, batch, dtype, args.repeats)
            reads = kv_read_seconds_per_batch(config, widths, batch, dtype, args.repeats)
            measured = rows_per_second(bundle, batch, True, args.seconds)
            bound = batch / (matmuls + reads)
            print(
                f"{str(dtype).removeprefix('torch.'):>9} {batch:>6} {batch / matmuls:>13,.0f} {bound:>11,.0f} "
                f"{measured:>8,.0f} {measured / bound:>13.2f}x",
                flush=True,
            )


if __name__ == "__main__":
    main()
