# Sluis: every target sets itself up on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Two stamps: the runtime alone (what `make demo` needs), and the runtime with the
# test extras (pytest, locust, the framework suites...) for everything else.
RUNTIME := $(VENV)/.runtime
STAMP  := $(VENV)/.installed

.PHONY: demo test bench loadtest lint typecheck clean

$(RUNTIME): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(RUNTIME)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP) $(RUNTIME)

demo: $(RUNTIME)
	$(BIN)/sluis demo

test: $(STAMP)
	bash scripts/test-services.sh
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

bench: $(STAMP)
	bash scripts/bench-tools.sh
	$(BIN)/python -m bench.run $(BENCH_ARGS)

loadtest: $(STAMP)
	$(BIN)/python -m loadtests.run $(if $(URL),--url $(URL)) $(LOADTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check gateway queue_worker backends loadtests bench tests harness
	$(BIN)/mypy
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) .sluis
