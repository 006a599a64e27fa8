# dfine_mm developer commands. Every target is safe to re-run.
#   make setup   create .venv with the pinned stack (mmcv built once, cached)
#   make demo    setup, then train D-FINE-N on synthetic data on the CPU
#   make test    setup, then ruff, then the whole pytest suite
#   make lint    ruff check + ruff format --check
#   make format  apply ruff's fixes and formatting

PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
LINT_PATHS := dfine_mm tools tests configs projects setup.py
PYTEST_ARGS ?=
# pytest-xdist workers (auto: one per core; 0 runs the suite in one process)
PYTEST_WORKERS ?= auto

.PHONY: setup demo test lint format

setup:
	@PYTHON="$(PYTHON)" VENV="$(VENV)" bash tools/setup_env.sh

lint: setup
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)

format: setup
	$(BIN)/ruff check --fix $(LINT_PATHS)
	$(BIN)/ruff format $(LINT_PATHS)

demo: setup
	$(BIN)/python tools/run_demo.py $(DEMO_ARGS)

test: lint
	$(BIN)/python -m pytest tests -n $(PYTEST_WORKERS) --dist loadfile \
		$(PYTEST_ARGS)
