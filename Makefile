# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# SDV and mostlyai-engine for the quality benchmark live apart from .venv: they pin other libraries.
BENCH_VENV ?= .venv-bench
BUDGET ?= 15
# CPU build that lies on the development machines; GPU images bring their own torch.
TORCH_VERSION ?= 2.13.0
DATASET ?= diamonds
DEMO_MINUTES ?= 3

.PHONY: install demo test lint format bench bench-env quality clean

install: $(STAMP)

$(STAMP): pyproject.toml setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q torch==$(TORCH_VERSION)
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $@

# The whole pipeline on CPU in minutes: prepare, train (model=auto sizes the GPT for the budget), sample as many rows as the
# training split, evaluate (runs/<dataset>/report/), embed rows into Milvus Lite and audit them.
demo: install
	$(BIN)/nemo-tabular prepare dataset=$(DATASET)
	$(BIN)/nemo-tabular train dataset=$(DATASET) train.max_minutes=$(DEMO_MINUTES) threads=2
	$(BIN)/nemo-tabular sample dataset=$(DATASET)
	$(BIN)/nemo-tabular evaluate dataset=$(DATASET)
	$(BIN)/nemo-tabular embed dataset=$(DATASET)

test: install lint
	$(BIN)/python -m pytest -q tests

# ruff: the formatter and the linter (pyproject.toml [tool.ruff]); `make format` applies both
lint: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install
	$(BIN)/python benchmarks/tokenizer_bench.py

# The quality benchmark (issue 8): this project against SDV and TabularARGN, BUDGET minutes per fit.
# mostlyai-engine brings torchvision/torchaudio built for another torch, which break its import: removed.
bench-env: $(BENCH_VENV)/.installed

$(BENCH_VENV)/.installed: pyproject.toml
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install -q --upgrade pip
	$(BENCH_VENV)/bin/python -c "import torch" 2>/dev/null || $(BENCH_VENV)/bin/python -m pip install -q torch==$(TORCH_VERSION)
	$(BENCH_VENV)/bin/python -m pip install -q -e ".[bench]"
	$(BENCH_VENV)/bin/python -m pip uninstall -y -q torchvision torchaudio
	touch $@

quality: bench-env
	$(BENCH_VENV)/bin/python benchmarks/quality.py --budget-minutes $(BUDGET)

clean:
	rm -rf runs outputs .pytest_cache
