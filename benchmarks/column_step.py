"""The column-level step (issue 16, point 3) beside the token-level GPT, in one harness on one table.

Token level is the project's layout: one transformer position per digit token. Column level gives each
column one position, whose input is the sum of the column's digit embeddings (every (column, digit) owns
its ids, so the sum keeps them apart); a small head turns a position's hidden state into the next
column's digits, one after another, each digit seeing the ones before it (by default the head's MLP
runs only for the digits after a column's first: the first reads the trunk's state as a token-level
GPT's next token does). A diamonds row is 10 positions instead of 19. With `--loss restricted` (either
layout) each digit's softmax spans its own slot's ids, the ones sampling draws from, instead of the whole
vocabulary, and the logits shrink with it.

Both variants train the same trunk (the sampling GPT's blocks) with the same initialisation, optimizer,
schedule, rows per step and steps, on one thread; then each samples as many rows as the train split
through its own loop (the token level through the project's sampler) and is scored by the project's
evaluation against the holdout. Every run appends one row to benchmarks/column_step.csv, with lscpu's model
name, so runs on two cores side by side and runs on other machines extend one table.

    python benchmarks/column_step.py --table diamonds --variant column --loss restricted --steps 600
    python benchmarks/column_step.py --table diamonds --speed --steps 40    # training ms a step, no scores

This is a measurement, not the product: the megatron training path, dist checkpoints, TP/PP and the HF
export know only the token level.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F
from frontier import csv_lock, parse_size, read_csv, today, write_csv
from quality import headline, prepare, score
from torch import nn

from nemo_tabular.hardware import machine_name
from nemo_tabular.io import read_table
from nemo_tabular.model.sizing import FFN_RATIO, HEAD_DIM
from nemo_tabular.run_dir import PreparedData
from nemo_tabular.sampling import GPT, Bundle, GPTConfig, SampleOptions, TableLayout, iter_samples
from nemo_tabular.sampling.token_choice import SamplingSettings, choose_tokens
from nemo_tabular.tokenizer import TabularTokenizer
from nemo_tabular.training.plan import planned_lr

REPO = Path(__file__).resolve().parents[1]
CSV_PATH = REPO / "benchmarks" / "column_step.csv"
FIELDS = [
    "date", "cpu", "table", "variant", "loss", "head", "size", "steps", "seed", "rows_per_step", "lr", "positions_per_row",
    "train_s", "train_cpu_s", "sample_rows_per_s", "quality", "column_shapes", "pair_trends", "tstr_trtr",
    "dcr_share", "exact_copies", "validity",
]  # fmt: skip


class ColumnGPT(nn.Module):
    """One trunk position per column; a residual MLP head emits the next column's digits in order."""

    def __init__(self, config: GPTConfig, tokenizer: TabularTokenizer, restricted: bool = True, head: str = "later"):
        super().__init__()
        self.trunk = GPT(config)
        self.restricted = restricted  # the loss over each slot's own ids (what sampling draws from), not the vocabulary
        self.mlp_on_first = head == "every"  # "later": a column's first digit reads the trunk's state directly
        self.eod_id = tokenizer.eod_id
        self.ranges = tokenizer.slot_ranges()
        columns = [tokenizer.column_slots(name) for name in tokenizer.column_names]
        self.slots_of_column = [list(range(slots.start, slots.stop)) for slots in columns]
        n_slots, d = len(self.ranges), config.d_model
        earlier = torch.zeros(n_slots, n_slots)  # earlier[s, t] = 1 where t is an earlier digit of s's column
        for slots in self.slots_of_column:
            for i, s in enumerate(slots):
                earlier[s, slots[:i]] = 1.0
        self.register_buffer("earlier", earlier)
        slot_column = [c for c, slots in enumerate(columns) for _ in range(slots.start, slots.stop)]
        self.register_buffer("slot_column", torch.tensor(slot_column))
        self.register_buffer("uses_mlp", (earlier.sum(dim=1) > 0) | self.mlp_on_first)
        self.slot_embedding = nn.Parameter(torch.zeros(n_slots, d))
        self.head_norm = nn.LayerNorm(d)
        self.head_fc = nn.Linear(d, 2 * d)
        self.head_proj = nn.Linear(2 * d, d)
        self.out_norm = nn.LayerNorm(d)

    def mlp(self, z: torch.Tensor) -> torch.Tensor:
        return self.head_proj(F.gelu(self.head_fc(self.head_norm(z))))

    def loss(self, slots: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of every digit of (rows, n_slots) ids, all columns at once (teacher forcing)."""
        wte = self.trunk.wte
        digits = wte(slots)
        rows, n_columns = slots.shape[0], len(self.slots_of_column)
        per_column = digits.new_zeros(rows, n_columns, digits.shape[-1]).index_add_(1, self.slot_column, digits)
        start = wte.weight[self.eod_id].expand(rows, 1, -1)
        hidden = self.trunk.features_of(torch.cat([start, per_column[:, :-1]], dim=1))
        z = hidden[:, self.slot_column] + self.slot_embedding + torch.einsum("st,rtd->rsd", self.earlier, digits)
        delta = torch.zeros_like(z)
        delta[:, self.uses_mlp] = self.mlp(z[:, self.uses_mlp])
        out = self.out_norm(z + delta)
        if not self.restricted:
            return F.cross_entropy((out @ wte.weight.T).flatten(0, 1), slots.flatten())
        losses = [
            F.cross_entropy(out[:, s] @ wte.weight[lo:hi].T, slots[:, s] - lo, reduction="sum")
            for s, (lo, hi) in enumerate(self.ranges)
        ]
        return torch.stack(losses).sum() / slots.numel()

    @torch.no_grad()
    def sample(self, n_rows: int, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        """(n_rows, n_slots) ids: one trunk step per column, then the head draws its digits in their ranges."""
        wte, settings, out, mlp_slots = self.trunk.wte.weight, SamplingSettings(), [], self.uses_mlp.tolist()
        for first in range(0, n_rows, batch_size):
            batch = min(batch_size, n_rows - first)
            cache = self.trunk.new_cache(batch, capacity=len(self.slots_of_column))
            ids = torch.empty(batch, len(self.ranges), dtype=torch.long)
            x = wte[self.eod_id].expand(batch, -1).clone()
            for slots in self.slots_of_column:
                hidden = self.trunk.step_of(x, cache)
                x = torch.zeros_like(hidden)  # this column's digit sum: the next position's input
                for s in slots:
                    lo, hi = self.ranges[s]
                    z = hidden + self.slot_embedding[s] + x
                    if mlp_slots[s]:
                        z = z + self.mlp(z)
                    logits = self.out_norm(z) @ wte[lo:hi].T
                    ids[:, s] = choose_tokens(logits, None, settings, generator) + lo
                    x += wte[ids[:, s]]
            out.append(ids)
        return torch.cat(out)


class TokenGPT(nn.Module):
    """The project's layout: [EOD, digits..., EOD], one position per token, sampled by the project's sampler."""

    def __init__(self, config: GPTConfig, tokenizer: TabularTokenizer, restricted: bool = False):
        super().__init__()
        self.trunk = GPT(config)
        self.tokenizer = tokenizer
        self.restricted = restricted  # as ColumnGPT's; the terminator, a lone id for sampling, is then not scored

    def loss(self, slots: torch.Tensor) -> torch.Tensor:
        eod = torch.full((slots.shape[0], 1), self.tokenizer.eod_id, dtype=slots.dtype)
        seq = torch.cat([eod, slots, eod], dim=1)
        if not self.restricted:
            logits = self.trunk(seq[:, :-1])
            return F.cross_entropy(logits.flatten(0, 1), seq[:, 1:].flatten())
        hidden, wte = self.trunk.features(seq[:, :-2]), self.trunk.wte.weight
        losses = [
            F.cross_entropy(hidden[:, s] @ wte[lo:hi].T, slots[:, s] - lo, reduction="sum")
            for s, (lo, hi) in enumerate(self.tokenizer.slot_ranges())
        ]
        return torch.stack(losses).sum() / slots.numel()

    @torch.no_grad()
    def sample(self, n_rows: int, batch_size: int, seed: int) -> pd.DataFrame:
        bundle = Bundle(self.trunk.eval(), self.tokenizer, TableLayout())
        options = SampleOptions(n_rows=n_rows, batch_size=batch_size, seed=seed)
        return pd.concat(list(iter_samples(bundle, options)), ignore_index=True)


def initialise(model: ColumnGPT | TokenGPT) -> None:
    """Megatron's scheme: weights N(0, 0.02), output projections scaled by 1/sqrt(2 layers), biases 0."""
    layers = model.trunk.config.n_layer
    for name, param in model.named_parameters():
        if "norm" in name or name.endswith(("ln_1.weight", "ln_2.weight", "ln_f.weight")):
            continue
        if name.endswith("bias"):
            nn.init.zeros_(param)
        elif name != "slot_embedding":
            std = 0.02 / math.sqrt(2 * layers) if name.endswith("proj.weight") else 0.02
            nn.init.normal_(param, std=std)


def learning_rate(step: int, steps: int, peak: float, floor: float) -> float:
    """Linear warm-up over a tenth of the steps, then cosine decay from `peak` to `floor` (the project's shape)."""
    warmup = max(1, steps // 10)
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return floor + (peak - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def train(
    model: nn.Module,
    tokens: torch.Tensor,
    steps: int,
    rows_per_step: int,
    rates: tuple[float, float],
    seed: int,
    log: bool = True,
) -> None:
    """AdamW over `steps` random batches of rows; `rates`: the (peak, floor) of the learning-rate schedule."""
    peak, floor = rates
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=peak, betas=(0.9, 0.95), weight_decay=0.01)
    model.train()
    for step in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, steps, peak, floor)
        batch = tokens[torch.randint(len(tokens), (rows_per_step,), generator=generator)]
        loss = model.loss(batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if log and (step % 100 == 0 or step == steps - 1):
            print(f"step {step}: loss {loss.item():.3f}", flush=True)
    model.eval()


def training_speed(config: GPTConfig, tokenizer: TabularTokenizer, tokens: torch.Tensor, args) -> None:
    """Seconds per training step of each variant, in alternating rounds of --steps steps (no evaluation)."""
    variants = {
        "token, full softmax": lambda: TokenGPT(config, tokenizer),
        "token, restricted": lambda: TokenGPT(config, tokenizer, restricted=True),
        "column, full softmax": lambda: ColumnGPT(config, tokenizer, restricted=False, head="every"),
        "column, restricted": lambda: ColumnGPT(config, tokenizer, restricted=True, head="every"),
        "column, restricted, MLP on later digits": lambda: ColumnGPT(config, tokenizer, restricted=True),
    }
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(3):
        for name, build in variants.items():
            model = build()
            initialise(model)
            started = time.perf_counter()
            rates = planned_lr("auto", "auto", config.d_model)
            train(model, tokens, args.steps, args.rows_per_step, rates, args.seed, log=False)
            seconds[name].append((time.perf_counter() - started) / args.steps)
    reference = statistics.median(seconds["token, full softmax"])
    for name, values in seconds.items():
        median = statistics.median(values)
        print(f"{name}: {median * 1e3:.0f} ms a step ({median / reference:.2f}x the token level)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--table", default="diamonds")
    parser.add_argument("--variant", choices=["token", "column"])
    parser.add_argument(
        "--speed", action="store_true", help="time --steps training steps of every variant, 3 rounds; no scores"
    )
    parser.add_argument(
        "--loss", choices=["full", "restricted"], default="full", help="softmax over the vocabulary or each slot's ids"
    )
    parser.add_argument(
        "--head",
        choices=["every", "later"],
        default="later",
        help="column level: the head's MLP on every digit, or only on those after a column's first",
    )
    parser.add_argument("--size", default="2x64", help="LAYERSxWIDTH, heads of 32")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--rows-per-step", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=1024, help="sampling batch")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "column_step")
    args = parser.parse_args()
    if not args.speed and args.variant is None:
        parser.error("give --variant, or --speed")
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)

    data_dir = prepare(args.table, args.out, [])
    prepared = PreparedData(data_dir)
    tokenizer = TabularTokenizer.load(prepared.tokenizer_path)
    train_rows = read_table(prepared.split_path("train"), "train split")
    tokens = torch.from_numpy(tokenizer.encode(train_rows)[:, :-1]).long()
    size = parse_size(args.size)
    config = GPTConfig(
        vocab_size=tokenizer.vocab_size,
        n_positions=tokenizer.row_width + 1,
        n_layer=size.layers,
        n_head=size.heads,
        n_kv_head=size.heads,
        head_dim=HEAD_DIM,
        d_model=size.width,
        d_ff=FFN_RATIO * size.width,
    )
    if args.speed:
        training_speed(config, tokenizer, tokens, args)
        return
    if args.variant == "column":
        model = ColumnGPT(config, tokenizer, restricted=args.loss == "restricted", head=args.head)
    else:
        model = TokenGPT(config, tokenizer, restricted=args.loss == "restricted")
    initialise(model)
    rates = planned_lr("auto", "auto", size.width)  # the project's train.lr=auto and min_lr=auto

    wall, cpu = time.perf_counter(), time.process_time()
    train(model, tokens, args.steps, args.rows_per_step, rates, args.seed)
    train_s, train_cpu_s = time.perf_counter() - wall, time.process_time() - cpu

    started = time.perf_counter()
    if args.variant == "column":
        ids = model.sample(len(train_rows), args.batch_size, torch.Generator().manual_seed(args.seed))
        synth = tokenizer.decode(ids.numpy())
    else:
        synth = model.sample(len(train_rows), args.batch_size, args.seed)
    sample_rows_per_s = len(synth) / (time.perf_counter() - started)

    run_dir = args.out / args.table / f"{args.variant}-{args.loss}-{args.head}-{args.size}-{args.steps}-s{args.seed}"
    run_dir.mkdir(parents=True, exist_ok=True)
    synth.to_parquet(run_dir / "synth.parquet", index=False)
    figures = headline(score(data_dir, run_dir, tokenizer, threads=1))
    positions = len(model.slots_of_column) if args.variant == "column" else tokenizer.row_width
    row = {
        "date": today(),
        "cpu": machine_name(),
        "table": args.table,
        "variant": args.variant,
        "loss": args.loss,
        "head": args.head if args.variant == "column" else "",
        "size": args.size,
        "steps": args.steps,
        "seed": args.seed,
        "rows_per_step": args.rows_per_step,
        "lr": f"{rates[0]:.3g}",
        "positions_per_row": positions,
        "train_s": f"{train_s:.1f}",
        "train_cpu_s": f"{train_cpu_s:.1f}",
        "sample_rows_per_s": f"{sample_rows_per_s:.0f}",
        **{key: f"{figures[key]:.4f}" for key in FIELDS[15:] if figures.get(key) is not None},
    }
    print(row, flush=True)
    with csv_lock(CSV_PATH):
        write_csv(CSV_PATH, [*read_csv(CSV_PATH), row], FIELDS)


if __name__ == "__main__":
    main()
