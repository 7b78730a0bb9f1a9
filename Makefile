# sgaplus: `make demo` and `make test` work on a fresh machine (they create .venv first).
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
# torch first and alone: the pinned CUDA build lies on this machine's disk; compressai
# must then see exactly this torch/torchvision pair.
TORCH   := torch==2.14.1 torchvision==0.29.1

.PHONY: setup demo test bench models clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check $(TORCH)
	$(BIN)/pip install -q --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m sgaplus.demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

# Refinement speed, scaling and stopping figures -> docs/bench/ (about an hour on the
# shared 2-core CPU; each script has --quick for a smoke run).
bench: $(STAMP)
	$(BIN)/python bench/refine_speed.py
	$(BIN)/python bench/refine_scaling.py
	$(BIN)/python bench/refine_stopping.py
	$(BIN)/python bench/train_precision.py

# Our λ family sgaplus-msh q1..q4 (λ 0.0035 0.0067 0.013 0.025), cached in $$SGAPLUS_HOME/models
# (default ~/.cache/sgaplus/models); a model already there is kept (delete it to rebuild).
# q3 is the bundled default model. q1, q2, q4 continue the warm starts in $(WARM) for
# MODEL_STEPS steps with the recipe that improved q3 (docs/training.md: batch 4, 256 px crops,
# lr 1e-5 cosine to 1e-6; about 3 s/step on 2 CPU cores; 0 = export the warm start unchanged).
# docs/models.md lists the steps each cached file really got.
WARM        ?= ../shared/models
MODEL_STEPS ?= 800
FINETUNE    := --batch 4 --crop 256 --lr 1e-5 --lr-min 1e-6

models: $(STAMP)
	@dir=$$($(BIN)/python -c 'from sgaplus.zoo import models_dir; print(models_dir())') && mkdir -p $$dir && \
	cp -u src/sgaplus/weights/default.pt $$dir/sgaplus-msh-q3.pt && \
	for ql in 1:0.0035 2:0.0067 4:0.025; do q=$${ql%%:*}; l=$${ql#*:}; \
	  test -f $$dir/sgaplus-msh-q$$q.pt || $(BIN)/sgaplus train --out $$dir/runs/q$$q --lambda $$l \
	    --init $(WARM)/msh_N128_M192_lmbda$$l.pt --steps $(MODEL_STEPS) $(FINETUNE) --name sgaplus-msh-q$$q \
	    --export $$dir/sgaplus-msh-q$$q.pt || exit 1; \
	done && ls -l $$dir

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
