# sgaplus: `make demo` and `make test` work on a fresh machine (they create .venv first).
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
# torch first and alone: the pinned CUDA build lies on this machine's disk; compressai
# must then see exactly this torch/torchvision pair.
TORCH   := torch==2.14.1 torchvision==0.29.1

.PHONY: setup demo test bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check $(TORCH)
	$(BIN)/pip install -q --disable-pip-version-check -e '.[test,ray]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m sgaplus.demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

# Refinement speed, scaling, memory and stopping figures -> docs/bench/ (about an hour and a half on the
# shared 2-core CPU; each script has --quick for a smoke run).
bench: $(STAMP)
	$(BIN)/python bench/refine_speed.py
	$(BIN)/python bench/refine_scaling.py
	$(BIN)/python bench/refine_memory.py
	$(BIN)/python bench/refine_stopping.py
	$(BIN)/python bench/train_precision.py
	$(BIN)/python bench/model_load.py

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
