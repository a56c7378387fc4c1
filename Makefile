# Facial emotion recognition workbook. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PROFILE ?= quick
GPU ?= 0
NB ?=
PARAMS ?=
STAMP := $(VENV)/.installed-$(GPU)

export PYTHONUNBUFFERED := 1
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: help setup run-all run report lab sync test test-fast lint bench check-data clean clean-outputs kernel

help: ## List the targets with a one-line description
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}'
	@echo; echo "  Variables: PROFILE=smoke|quick|standard|full (default quick)  NB=03  PARAMS='epochs=5 seed=1'  GPU=1  LAB_ARGS='--no-browser --port 8899'"

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	@if [ "$(GPU)" = "1" ]; then \
	  grep -v -E '^tensorflow' requirements.txt > $(VENV)/requirements-gpu.txt; \
	  $(PY) -m pip install --quiet -r $(VENV)/requirements-gpu.txt -r requirements-dev.txt "tensorflow[and-cuda]==2.21.0"; \
	else \
	  $(PY) -m pip install --quiet -r requirements.txt -r requirements-dev.txt; \
	fi
	$(PY) -m pip install --quiet --no-deps -e .
	$(PY) -m ipykernel install --sys-prefix --name fer-workbook --display-name "Python (fer-workbook)" > /dev/null
	@touch $(STAMP)

setup: $(STAMP) ## Create .venv with the pinned packages (GPU=1: CUDA build of TensorFlow)

run-all: setup ## Run all six notebooks with papermill (PROFILE=smoke|quick|standard|full), then build the report
	$(PY) -m helpers.runner --profile $(PROFILE) $(if $(PARAMS),--params "$(PARAMS)")
	$(PY) -m helpers.report

run: setup ## Run one notebook: make run NB=03 [PROFILE=...] [PARAMS='epochs=5 seed=1']
	@test -n "$(NB)" || { echo "usage: make run NB=03 [PROFILE=quick] [PARAMS='key=value ...']"; exit 2; }
	$(PY) -m helpers.runner --profile $(PROFILE) --only $(NB) $(if $(PARAMS),--params "$(PARAMS)")

report: setup ## Render executed notebooks to HTML with an index page (outputs/report/index.html)
	$(PY) -m helpers.report

lab: setup ## Open JupyterLab on the notebooks with the project's kernel
	$(VENV)/bin/jupyter lab notebooks/ $(if $(filter 0,$(shell id -u)),--allow-root)$(if $(LAB_ARGS), $(LAB_ARGS))

sync: setup ## Sync each notebook with its py:percent twin (edit either side), keeping .ipynb files output-free
	$(VENV)/bin/jupytext --sync notebooks/*.ipynb
	$(VENV)/bin/jupyter nbconvert --clear-output --inplace --log-level=ERROR notebooks/*.ipynb

check-data: setup ## Print the load report of your FER-2013 download (FER2013_PATH or data/)
	$(PY) -m helpers.check

test: setup ## Run the test suite (unit tests, real-data tests when FER2013_PATH is set, smoke notebooks)
	$(VENV)/bin/ruff check helpers tests notebooks
	$(PY) -m pytest -q -ra

test-fast: setup ## Unit tests only (no notebook runs)
	$(PY) -m pytest -q -ra -m "not notebooks"

lint: setup ## ruff check + format check (the package, the tests and the notebooks' .py sides)
	$(VENV)/bin/ruff check helpers tests notebooks
	$(VENV)/bin/ruff format --check helpers tests notebooks

bench: setup ## Benchmarks side by side, written to outputs/bench/bench.json
	$(PY) -m helpers.bench

clean-outputs: ## Delete generated outputs (figures, metrics, models, executed notebooks, report)
	rm -rf outputs/figures outputs/metrics outputs/models outputs/notebooks outputs/report outputs/prepared outputs/bench

clean: clean-outputs ## Also delete the virtual environment and data cache
	rm -rf $(VENV) data/cache
