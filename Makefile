# Facial emotion recognition workbook. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
# Keras backend: tensorflow (default), jax or torch. Each gets its own environment: .venv, .venv-jax, .venv-torch.
BACKEND ?= $(or $(KERAS_BACKEND),tensorflow)
ifeq ($(filter $(BACKEND),tensorflow jax torch),)
$(error BACKEND must be tensorflow, jax or torch, not '$(BACKEND)')
endif
VENV ?= $(if $(filter tensorflow,$(BACKEND)),.venv,.venv-$(BACKEND))
REQUIREMENTS := $(if $(filter tensorflow,$(BACKEND)),requirements.txt,requirements-$(BACKEND).txt)
PY := $(VENV)/bin/python
PROFILE ?= quick
DATASET ?= fer2013
GPU ?= 0
NB ?=
PARAMS ?=
GPU_PYTHON ?= 3.12
STAMP := $(VENV)/.installed-$(GPU)
# The model, training and evaluation tests that every backend must pass (make test-backend).
BACKEND_TESTS := tests/test_backends.py tests/test_models_training.py tests/test_evaluation.py

export PYTHONUNBUFFERED := 1
export TF_CPP_MIN_LOG_LEVEL ?= 2
export KERAS_BACKEND := $(BACKEND)

.PHONY: help setup setup-live live setup-backends run-all run report lab sync test test-backend test-fast lint bench check-data gpu-wheels clean \
	clean-outputs release-model

help: ## List the targets with a one-line description
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}'
	@echo; echo "  Variables: PROFILE=smoke|quick|standard|full (default quick)  NB=03  PARAMS='epochs=5 seed=1'"
	@echo "             DATASET=fer2013|ferplus (default fer2013; FER+ outputs go to outputs/ferplus/)"
	@echo "             BACKEND=tensorflow|jax|torch (default: KERAS_BACKEND, else tensorflow)  GPU=1  LAB_ARGS='--port 8899'"

$(STAMP): $(REQUIREMENTS) requirements-core.txt requirements-dev.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	@if [ "$(GPU)" = "1" ] && [ "$(BACKEND)" = tensorflow ]; then \
	  grep -v -E '^tensorflow' requirements.txt > $(VENV)/requirements-gpu.txt; \
	  $(PY) -m pip install --quiet -r $(VENV)/requirements-gpu.txt -r requirements-dev.txt "tensorflow[and-cuda]==2.21.0"; \
	elif [ "$(GPU)" = "1" ] && [ "$(BACKEND)" = jax ]; then \
	  $(PY) -m pip install --quiet -r requirements-core.txt -r requirements-dev.txt "jax[cuda12]==0.10.2"; \
	elif [ "$(GPU)" = "1" ]; then \
	  echo "GPU=1 with BACKEND=torch: install torch 2.13.0 for your CUDA from pytorch.org (README, Training on a GPU)"; \
	  exit 2; \
	else \
	  $(PY) -m pip install --quiet -r $(REQUIREMENTS) -r requirements-dev.txt; \
	fi
	PYTHONWARNINGS=ignore $(PY) -m pip install --quiet --no-deps -e .  # no setuptools notice about editable installs
	$(PY) -m ipykernel install --sys-prefix --name fer-workbook --display-name "Python (fer-workbook)" > /dev/null
	@touch $(STAMP)

setup: $(STAMP) ## Create the environment with the pinned packages (BACKEND=jax|torch: .venv-jax|.venv-torch; GPU=1: CUDA build)

setup-live: setup ## Add the live page's optional packages (Gradio; Playwright for its browser test) to .venv
	@$(PY) -c "import gradio, playwright" 2>/dev/null || $(PY) -m pip install --quiet -r requirements-live.txt

live: setup-live ## Serve the live page on http://127.0.0.1:7860: camera or photo, labelled boxes, probabilities (LIVE_ARGS='--port 8000')
	$(PY) -m helpers live $(LIVE_ARGS)

setup-backends: ## Create the environments of all three backends (for make bench and the cross-backend tests)
	@for b in tensorflow jax torch; do $(MAKE) --no-print-directory setup BACKEND=$$b || exit 1; done

run-all: setup ## Run all six notebooks with papermill (PROFILE=smoke|quick|standard|full, DATASET=ferplus), then the report
	$(PY) -m helpers runner --profile $(PROFILE) --dataset $(DATASET) $(if $(PARAMS),--params "$(PARAMS)")
	$(if $(filter ferplus,$(DATASET)),FER_OUTPUTS=$${FER_OUTPUTS:-$(CURDIR)/outputs/ferplus}) $(PY) -m helpers report

run: setup ## Run one notebook: make run NB=03 [PROFILE=...] [PARAMS='epochs=5 seed=1']
	@test -n "$(NB)" || { echo "usage: make run NB=03 [PROFILE=quick] [PARAMS='key=value ...']"; exit 2; }
	$(PY) -m helpers runner --profile $(PROFILE) --dataset $(DATASET) --only $(NB) $(if $(PARAMS),--params "$(PARAMS)")

report: setup ## Render executed notebooks to HTML with an index page (outputs/report/index.html)
	$(PY) -m helpers report

lab: setup ## Open JupyterLab on the notebooks with the project's kernel
	$(VENV)/bin/jupyter lab notebooks/ $(if $(filter 0,$(shell id -u)),--allow-root)$(if $(LAB_ARGS), $(LAB_ARGS))

sync: setup ## Sync each notebook with its py:percent twin (edit either side), keeping .ipynb files output-free
	$(VENV)/bin/jupytext --sync notebooks/*.ipynb
	$(VENV)/bin/jupyter nbconvert --clear-output --inplace --log-level=ERROR notebooks/*.ipynb

check-data: setup ## Print the load report of your download (FER2013_PATH or data/; DATASET=ferplus: FERPLUS_PATH)
	$(PY) -m helpers check $(if $(filter ferplus,$(DATASET)),--ferplus)

test: ## Lint, then all tests on TensorFlow (real-data tests when FER2013_PATH is set, smoke notebooks), then on JAX
	@for b in tensorflow jax; do $(MAKE) --no-print-directory setup BACKEND=$$b || exit 1; done
	@$(MAKE) --no-print-directory setup-live BACKEND=tensorflow
	.venv/bin/ruff check helpers tests notebooks
	.venv/bin/ruff format --check helpers tests notebooks
	KERAS_BACKEND=tensorflow .venv/bin/python -m pytest -q -ra
	$(MAKE) --no-print-directory test-backend BACKEND=jax

test-backend: ## Model, training and evaluation tests and notebooks 02-03 (smoke) on BACKEND=jax|torch, without TensorFlow
	@test "$(BACKEND)" != tensorflow || { echo "usage: make test-backend BACKEND=jax|torch (make test covers TensorFlow)"; exit 2; }
	@$(MAKE) --no-print-directory setup BACKEND=$(BACKEND)
	@! $(PY) -c "import tensorflow" 2>/dev/null || { echo "TensorFlow is installed in $(VENV): this check needs an environment without it (make clean; make setup BACKEND=$(BACKEND))"; exit 1; }
	$(PY) -m pytest -q -ra -p no:cacheprovider $(BACKEND_TESTS)

test-fast: setup ## Unit tests only (no notebook runs)
	$(PY) -m pytest -q -ra -m "not notebooks"

lint: setup ## ruff check + format check (the package, the tests and the notebooks' .py sides)
	$(VENV)/bin/ruff check helpers tests notebooks
	$(VENV)/bin/ruff format --check helpers tests notebooks

release-model: setup ## Train, evaluate and ship the packaged model + docs/MODEL_CARD.md (real FER-2013; RELEASE_ARGS='--budget-minutes 60')
	$(PY) -m helpers release $(RELEASE_ARGS)

bench: setup-backends ## Benchmarks side by side (the backends' table included), written to outputs/bench/bench.json
	$(PY) -m helpers bench

gpu-wheels: ## Wheels of keras and its small dependencies in .whl/, to carry to a JAX GPU machine (scripts/gpu_jax.sh)
	$(PYTHON) -m pip download --quiet --no-deps --only-binary=:all: --python-version $(GPU_PYTHON) --implementation cp \
	  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
	  -d .whl keras==3.15.1 namex==0.1.0 optree==0.20.0
	@ls .whl

clean-outputs: ## Delete generated outputs (figures, metrics, models, executed notebooks, report)
	rm -rf outputs/figures outputs/metrics outputs/models outputs/notebooks outputs/report outputs/prepared outputs/bench

clean: clean-outputs ## Also delete the virtual environments and data cache
	rm -rf .venv .venv-jax .venv-torch data/cache
