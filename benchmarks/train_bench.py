"""Training throughput on CPU: tokens/s of the megatron-core loop against a plain PyTorch GPT loop.

Both train the same model=tiny sized GPT-2 (4 layers, 128 wide, 256 tokens, fp32) on the same
diamonds batches (micro batch x accumulation = global batch) with Adam, in one process. The
megatron figure is the median of the loop's own per-step tokens/s (TensorBoard `train/tokens_per_s`);
the plain one is a Hugging Face GPT2LMHeadModel timed the same way, run before and after megatron so
that load from other processes on a shared machine weighs on both alike.
Run: `python benchmarks/train_bench.py` (add `--steps 40 --threads 2`, or train config overrides such
as `train.reset_attention=false`).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from transformers import GPT2Config, GPT2LMHeadModel

from nemo_tabular.data.prepare import prepare_dataset
from nemo_tabular.model import padded_vocab_size
from nemo_tabular.tokenizer import TabularTokenizer

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Transformer Engine and Apex are not installed")
    from nemo_tabular.training.data import batches, build_datasets
    from nemo_tabular.training.loop import train

REPO = Path(__file__).resolve().parents[1]


def compose_config(name: str, overrides: list[str]) -> DictConfig:
    """One of the repository's top-level configs with overrides, as the entry scripts see it."""
    with initialize_config_dir(str(REPO / "conf"), version_base="1.3"):
        return compose(name, overrides=overrides)


def megatron_tokens_per_second(cfg: DictConfig, skip: int) -> float:
    """Run the real training loop; the median of its per-step tokens/s after `skip` warm-up steps."""
    train(cfg)
    events = EventAccumulator(str(Path(cfg.paths.run_dir) / "tensorboard"))
    events.Reload()
    return statistics.median(event.value for event in events.Scalars("train/tokens_per_s")[skip:])


def plain_tokens_per_second(cfg: DictConfig, tokenizer: TabularTokenizer, skip: int) -> list[float]:
    """The same model size, batches and optimizer as a Hugging Face GPT2LMHeadModel loop; tokens/s per step."""
    model_cfg, run = cfg.model, cfg.train
    torch.manual_seed(int(run.seed))
    vocab = padded_vocab_size(tokenizer.vocab_size, int(model_cfg.vocab_multiple), 1)
    model = GPT2LMHeadModel(
        GPT2Config(
            vocab_size=vocab,
            n_positions=int(model_cfg.seq_length),
            n_embd=int(model_cfg.hidden_size),
            n_layer=int(model_cfg.num_layers),
            n_head=int(model_cfg.num_attention_heads),
            n_inner=int(model_cfg.ffn_hidden_size),
            activation_function="gelu",
            resid_pdrop=0.0,
            embd_pdrop=0.0,
            attn_pdrop=0.0,
            tie_word_embeddings=True,
            bos_token_id=tokenizer.eod_id,
            eos_token_id=tokenizer.eod_id,
            pad_token_id=tokenizer.pad_id,
            attn_implementation="sdpa",
        )
    )
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=float(run.lr), betas=(0.9, 0.95), weight_decay=float(run.weight_decay)
    )
    micro, steps = int(run.micro_batch), int(run.steps)
    accumulation = int(run.global_batch) // micro
    train_set, _ = build_datasets(
        cfg.paths.data_dir,
        tokenizer,
        int(model_cfg.seq_length),
        int(run.seed),
        train_samples=steps * int(run.global_batch),
        valid_samples=1,
        reset_attention=bool(run.reset_attention),
    )
    data = batches(train_set, micro, 0, 0, 1)
    tokens_per_step = int(run.global_batch) * int(model_cfg.seq_length)
    rates = []
    model.train()
    for _ in range(steps):
        tick = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        for _ in range(accumulation):
            batch = next(data)
            logits = model(input_ids=batch["tokens"]).logits
            loss = F.cross_entropy(logits.view(-1, vocab), batch["labels"].view(-1)) / accumulation
            loss.backward()
        optimizer.step()
        rates.append(tokens_per_step / (time.perf_counter() - tick))
    return rates[skip:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--skip", type=int, default=3, help="warm-up steps left out of the median")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--data-dir", help="a prepared diamonds directory; default: prepare one in a temp dir")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides of conf/train.yaml")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = args.data_dir or str(
            prepare_dataset(compose_config("prepare", [f"paths.root={tmp}", f"paths.data_dir={tmp}/data", "workers=1"]))
        )
        cfg = compose_config(
            "train",
            [
                f"model={args.model}",
                f"paths.root={tmp}",
                f"paths.run_dir={tmp}/run",
                f"paths.data_dir={data_dir}",
                f"train.steps={args.steps}",
                "train.eval_every=0",
                f"threads={args.threads}",
                *args.overrides,
            ],
        )
        tokenizer = TabularTokenizer.load(Path(data_dir) / "tokenizer.json")
        plain = plain_tokens_per_second(cfg, tokenizer, args.skip)
        megatron = megatron_tokens_per_second(cfg, args.skip)
        plain = statistics.median(plain + plain_tokens_per_second(cfg, tokenizer, args.skip))
    result = {
        "model": args.model,
        "steps": args.steps,
        "threads": args.threads,
        "overrides": args.overrides,
        "reset_attention": bool(cfg.train.reset_attention),
        "global_batch": int(cfg.train.global_batch),
        "micro_batch": int(cfg.train.micro_batch),
        "seq_length": int(cfg.model.seq_length),
        "megatron_tokens_per_s": round(megatron),
        "plain_pytorch_tokens_per_s": round(plain),
        "ratio": round(megatron / plain, 3),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
