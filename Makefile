# `make run` serves this repository over stdio; `make test` runs lint, format check and the tests.
# Each sets up .venv on first use, with the newest supported Python it finds (3.11 to 3.14; pyenv's
# versions count too), or PYTHON=... VENV=... to choose.
PYTHON ?= $(shell for p in python3.14 python3.13 python3.12 python3.11 python3 \
	$(HOME)/.pyenv/versions/3.1[1-4]*/bin/python3; do $$p -c 'import sys; v = sys.version_info; \
	assert (3, 11) <= v < (3, 15); print(f"{v[0]}.{v[1]:02}.{v[2]:03} {sys.executable}")' 2>/dev/null; \
	done | sort -r | head -n 1 | cut -d" " -f2)
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test test-portable test-slow smoke bench answers realworld contention replay affected recorders symbols monorepo grep-index grep-index-real checkouts clean

$(BIN)/.installed: pyproject.toml
	@test -n "$(PYTHON)" || { echo "Volley needs Python 3.11 to 3.14 (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

# stdout is the MCP protocol: make's echo and the first install's output go to stderr (with `make -C DIR`,
# make itself prints "Entering directory" on stdout: add --no-print-directory, or start .venv/bin/volley)
run:
	@$(MAKE) --no-print-directory $(BIN)/.installed 1>&2
	@exec $(BIN)/volley serve --workspace . --log-level INFO

test: $(BIN)/.installed  # lint, format, types for each platform, the suite less its slow tests, two at a time
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	pids=; for platform in linux darwin win32; do \
		$(BIN)/mypy --platform $$platform --cache-dir .mypy_cache/$$platform volley & pids="$$pids $$!"; \
	done; for pid in $$pids; do wait $$pid || exit 1; done
	$(BIN)/python -m pytest -n 2 -m "not slow" $(ARGS)

test-portable: $(BIN)/.installed  # the suite again on the paths macOS and Windows take (no inotify, no /proc)
	VOLLEY_PORTABLE=1 $(BIN)/python -m pytest -n 2 -m "not slow" $(ARGS)

test-slow: $(BIN)/.installed  # the long and the load-heavy tests, one at a time (CI runs both targets)
	$(BIN)/python -m pytest -m slow $(ARGS)

smoke: $(BIN)/.installed  # build the wheel, install it into a fresh venv per Python found, serve from there
	$(BIN)/python -m tests.wheel_smoke

answers: $(BIN)/.installed  # each tool's default answer size on django + minified bundles, against hosts' caps
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m benchmarks.answer_sizes

realworld: $(BIN)/.installed  # run_tests on published projects against each runner's own report
	$(BIN)/python -m benchmarks.realworld

replay: $(BIN)/.installed  # edit against real history, introduced diagnostics, SIGKILL mid-edit, the loop's speed
	$(BIN)/python -m benchmarks.replay --commits $(or $(COMMITS),100)
	$(BIN)/python -m benchmarks.edit_precision
	$(BIN)/python -m benchmarks.edit_crash --edits $(or $(EDITS),200)
	$(BIN)/python -m benchmarks.edit_speed

affected: $(BIN)/.installed  # run_tests(affected=true) against real commits: every test whose outcome changed selected
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m benchmarks.affected --commits $(or $(COMMITS),21) --projects pallets+itsdangerous pytoolz+toolz pallets+click $(ARGS)
	$(BIN)/python -m benchmarks.affected --commits 12 --no-testmon --projects more-itertools+more-itertools $(ARGS)
	$(BIN)/python -m benchmarks.affected --commits 21 --no-testmon --projects Textualize+rich $(ARGS)

recorders: $(BIN)/.installed  # the recorded way's recorders (sys.monitoring's, coverage.py) side by side per test
	$(BIN)/python -m benchmarks.recorders $(ARGS)

# the default sizes (`$(or …)` would split a default at its comma)
GREP_INDEX_SIZES ?= 50000,200000
grep-index: $(BIN)/.installed  # grep through the content index at 50k and 200k files (GREP_INDEX_SIZES) and on .venv/lib
	GREP_INDEX_SIZES=$(GREP_INDEX_SIZES) REALWORLD=1 $(BIN)/python -m benchmarks.grep_index

grep-index-real: $(BIN)/.installed  # the same on Linux 6.1 + GCC 12.2 + binutils 2.40 (benchmarks/real_tree.py)
	GREP_INDEX_SIZES= REAL_TREE=1 $(BIN)/python -m benchmarks.grep_index

contention: $(BIN)/.installed  # make test's suite RUNS times (default 10) at HOGS CPU hogs (default 8) and I/O load
	$(BIN)/python -m tests.contention --runs $(or $(RUNS),10) --hogs $(or $(HOGS),8) $(ARGS) -- -n 2 -m "not slow"

bench: $(BIN)/.installed
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m benchmarks.run $(ARGS)
	$(BIN)/python -m benchmarks.symbols

monorepo: $(BIN)/.installed  # a synthetic monorepo at 50k and 200k visible files against rg (MONOREPO_SIZES=...)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m benchmarks.monorepo

symbols: $(BIN)/.installed  # outline, find_symbol, find_references, repo_map on django against rg and ctags; token study
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m benchmarks.symbols

checkouts: $(BIN)/.installed  # the kept index across real git checkouts: REPO=/path/to/a/scratch/git/clone
	$(BIN)/python -m benchmarks.checkouts $(REPO)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
