# The two set-up commands of the README: `make main` (a small but real reproduction) and `make test`.
# Both create the virtual environment and install everything they need on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# RLlib pins gymnasium (ray[rllib] 2.60: gymnasium==1.2.2, older than roml's): its integration is tested in its own
# environment, with the Gymnasium integration it builds on.
RLLIB_VENV ?= .venv-rllib
OUT ?= runs
SEEDS ?= 3
export OMP_NUM_THREADS ?= 1

.PHONY: main test lint bench setup clean

setup: $(VENV)/.installed $(RLLIB_VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch's CPU build first (an unpinned torch would pull a CUDA build of several GB)
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[dev,ray,sb3,tensorboard]"
	touch $@

$(RLLIB_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(RLLIB_VENV)
	$(RLLIB_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(RLLIB_VENV)/bin/python -m pip install --quiet torch==2.13.0
	$(RLLIB_VENV)/bin/python -m pip install --quiet -e ".[dev,rllib]"
	touch $@

# Sine regression at quick scale: every method on SEEDS seeds, then the table and figures in OUT/.
main: setup
	$(BIN)/roml reproduce sine --scale quick --seeds $(SEEDS) --out $(OUT)
	$(BIN)/roml report $(OUT)

# Lint, format and type checks (settings in pyproject.toml: ruff on everything, mypy on the numpy core), then the tests.
lint: setup
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest -n 2 -q
	$(RLLIB_VENV)/bin/python -m pytest -q -p no:cacheprovider tests/test_integrations_rllib.py \
		tests/test_integrations_gymnasium.py tests/test_examples.py -k "rllib or gymnasium or cleanrl"

bench: setup
	$(BIN)/python benchmarks/bench_samplers.py
	$(BIN)/python benchmarks/bench_maml.py
	$(BIN)/python benchmarks/bench_varibad.py
	$(BIN)/python benchmarks/bench_varibad_mujoco.py
	$(BIN)/python benchmarks/bench_pearl.py

clean:
	rm -rf $(VENV) $(RLLIB_VENV) $(OUT)
