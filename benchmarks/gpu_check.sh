#!/usr/bin/env bash
# The GPU half of the compute-frontier issue: train in bf16 for a few hundred steps (TransformerEngine's layer
# spec where TE is installed, megatron's local spec otherwise; the log says which), sample 1M rows on the GPU,
# and print training tokens/s, MFU and sampling rows/s. Never part of the test suite.
#
# The GPU machines here have Python 3.12 and torch but no megatron-core, Hydra or network, so the script has
# two halves:
#   bash benchmarks/gpu_check.sh fetch   # here, with network: Python 3.12 wheels into .whl/, diamonds prepared
#                                        # into runs/gpu/data (both ignored by git; carry both)
#   bash benchmarks/gpu_check.sh run     # there, in the repository root
# Options (environment): MODEL (default 125m), STEPS (300), ROWS (1000000), SAMPLE_BATCH (65536),
# PEAK_TFLOPS (989: dense bf16 of an H100/H200 SXM), PYTHON (python3).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
MODEL=${MODEL:-125m}
STEPS=${STEPS:-300}
ROWS=${ROWS:-1000000}
SAMPLE_BATCH=${SAMPLE_BATCH:-65536}
PEAK_TFLOPS=${PEAK_TFLOPS:-989}
DATA=runs/gpu/data
RUN=runs/gpu/$MODEL

fetch() {
  local venv=${VENV:-.venv}
  mkdir -p .whl
  grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
  "$venv/bin/python" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .whl "megatron-core==0.16.1" "hydra-core==1.3.2" "omegaconf==2.3.0"
  # Hydra's parser runtime ships as a source archive only; a pure-Python wheel built here serves any 3.x
  "$venv/bin/python" -m pip wheel -q --no-deps -w .whl "antlr4-python3-runtime==4.9.3"
  "$venv/bin/python" data_prep/prepare.py dataset=diamonds paths.run_dir=runs/gpu "paths.data_dir=$DATA"
  du -sh .whl "$DATA"
}

run() {
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site:$PWD
  "$PYTHON" - <<'EOF'
import torch
from nemo_tabular.model.gpt import use_transformer_engine
print(f"gpu {torch.cuda.get_device_name()}, torch {torch.__version__}, "
      f"layer spec {'TransformerEngine' if use_transformer_engine() else 'megatron local (no TE installed)'}")
EOF
  rm -rf "$RUN"
  "$PYTHON" scripts/train.py dataset=diamonds "paths.run_dir=$RUN" "paths.data_dir=$DATA" "model=$MODEL" \
    "train.steps=$STEPS" train.micro_batch=32 train.global_batch=128 "train.eval_every=$STEPS" precision=bf16
  MODEL=$MODEL PEAK_TFLOPS=$PEAK_TFLOPS RUN=$RUN "$PYTHON" - <<'EOF'
import json, os
from omegaconf import OmegaConf
from nemo_tabular.model.sizing import ModelSize
from nemo_tabular.tokenizer import TabularTokenizer
summary = json.load(open(f"{os.environ['RUN']}/train_summary.json"))
model = OmegaConf.load(f"{os.environ['RUN']}/checkpoints/config.yaml").model
vocab = TabularTokenizer.load(f"{os.environ['RUN']}/checkpoints/tokenizer.json").vocab_size
size = ModelSize(int(model.num_layers), int(model.hidden_size))
flops = size.train_flops_per_token(int(model.seq_length), int(vocab))
mfu = summary["tokens_per_s"] * flops / (float(os.environ["PEAK_TFLOPS"]) * 1e12)
print(f"train {os.environ['MODEL']}: {summary['tokens_per_s']:,.0f} tokens/s, MFU {mfu:.1%} "
      f"(of {os.environ['PEAK_TFLOPS']} TFLOP/s, {flops / 1e6:.0f} MFLOP/token), final loss {summary['final_train_loss']:.3f}")
EOF
  "$PYTHON" scripts/sample.py dataset=diamonds "paths.run_dir=$RUN" "paths.data_dir=$DATA" device=cuda precision=bf16 \
    "n_rows=$ROWS" "batch_size=$SAMPLE_BATCH" workers=1 "out=$RUN/synth.parquet"
}

case "${1:-}" in
  fetch) fetch ;;
  run) run ;;
  *) echo "usage: bash benchmarks/gpu_check.sh fetch|run" >&2; exit 2 ;;
esac
