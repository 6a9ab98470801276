# The README's two commands:  `make demo` (set up, then `dvc repro`) and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(CURDIR)/$(VENV)/bin
UV_VERSION := 0.13.9
# Stages run `python -m fairvision.commands.<stage>`, so the venv goes first on PATH. TensorFlow's log level is
# left to the CLI (2, and its start-up chatter held back) unless the caller sets TF_CPP_MIN_LOG_LEVEL.
RUN    := PATH="$(BIN):$$PATH"

.PHONY: setup demo test clean

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	# --compile-bytecode: every stage and test process imports TensorFlow; without .pyc files (and with
	# PYTHONDONTWRITEBYTECODE set, as on CI machines) each one would recompile ~3,000 modules, about 9 s.
	$(BIN)/uv pip install --quiet --python $(BIN)/python --compile-bytecode -r requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $@

# Elyra's JupyterLab stack, for the tests of the Elyra pipeline (elyra/); neither `make demo` nor the image needs it.
# What it adds to requirements.lock is locked apart (scripts/lock_elyra.py); run from here, where pyproject.toml's
# [tool.uv] overrides keep click and psutil at requirements.lock's versions.
$(VENV)/.elyra-installed: $(VENV)/.installed requirements-elyra.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --compile-bytecode -r requirements-elyra.lock
	touch $@

demo: setup
	$(RUN) dvc repro
	@echo
	@for page in $(CURDIR)/reports/*/index.html; do echo "Fairness report: $$page"; done

# Two processes pay on two cores: much of the suite waits on subprocesses (dvc, TensorFlow start-up, servers).
# `make test TEST_WORKERS=0` runs it in one process.
TEST_WORKERS ?= 2

test: setup $(VENV)/.elyra-installed
	$(RUN) pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=30

clean:
	rm -rf $(VENV)
