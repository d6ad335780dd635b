# `make run` serves this repository over stdio; `make test` runs lint, format check and the tests.
# Each sets up .venv on first use (Python 3.11 or 3.12: python-ripgrep has no wheels for 3.13+).
PYTHON ?= $(shell for p in python3.12 python3.11 python3; do \
	$$p -c 'import sys; assert (3, 11) <= sys.version_info < (3, 13)' 2>/dev/null && { echo $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test bench answers contention clean

$(BIN)/.installed: pyproject.toml
	@test -n "$(PYTHON)" || { echo "Volley needs Python 3.11 or 3.12 (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

run: $(BIN)/.installed
	$(BIN)/volley serve --workspace . --log-level INFO

test: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

answers: $(BIN)/.installed  # each tool's default answer size on django + minified bundles, against hosts' caps
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m benchmarks.answer_sizes

contention: $(BIN)/.installed  # the whole suite RUNS times (default 10) under CPU and I/O load
	$(BIN)/python -m tests.contention --runs $(or $(RUNS),10) $(ARGS)

bench: $(BIN)/.installed
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m benchmarks.run $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
