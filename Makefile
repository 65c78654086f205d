# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# CPU build that lies on the development machines; GPU images bring their own torch.
TORCH_VERSION ?= 2.13.0
DATASET ?= diamonds
DEMO_STEPS ?= 300

.PHONY: install demo test bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q torch==$(TORCH_VERSION)
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $@

# The whole pipeline on CPU in minutes: prepare, train model=tiny, sample as many rows as the
# training split, evaluate (runs/<dataset>/report/), embed rows into Milvus Lite and audit them.
demo: install
	$(BIN)/python data_prep/prepare.py dataset=$(DATASET)
	$(BIN)/python scripts/train.py dataset=$(DATASET) model=tiny train.steps=$(DEMO_STEPS) threads=2
	$(BIN)/python scripts/sample.py dataset=$(DATASET)
	$(BIN)/python scripts/evaluate.py dataset=$(DATASET)
	$(BIN)/python scripts/embed.py dataset=$(DATASET)

test: install
	$(BIN)/python -m pytest -q tests

bench: install
	$(BIN)/python benchmarks/tokenizer_bench.py

clean:
	rm -rf runs outputs .pytest_cache
