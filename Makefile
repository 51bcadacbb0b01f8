# Everything a fresh machine needs comes from here: Python >= 3.11 and PyPI.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
COMPILED := $(VENV)/.compiled
JUDGE_SOURCES := $(wildcard src/rollsafe/judge/*.py src/rollsafe/stats/*.py)

.PHONY: install compile pure lock demo test test-fast lint typecheck servers bench-judge bench-flags bench-router clean

install: $(STAMP) $(COMPILED)

# requirements.lock pins every dependency with hashes (regenerate with `make lock`).
# The third-party applications the tests deploy are built into $(VENV)/thirdparty.
$(STAMP): pyproject.toml requirements.lock tests/thirdparty/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	scripts/fetch-thirdparty.sh $(BIN)/pip $(VENV)/thirdparty
	touch $(STAMP)

# The judge and its statistics compiled to C by mypyc, in place (scripts/compile-judge.py):
# the same decisions, 1.4x-1.7x the updates per second. Rebuilt whenever their source
# changes; without a C compiler the judge runs as Python. `make pure` removes the build.
compile: $(COMPILED)

$(COMPILED): $(STAMP) $(JUDGE_SOURCES) scripts/compile-judge.py
	$(BIN)/python scripts/compile-judge.py
	touch $(COMPILED)

pure:
	$(BIN)/python scripts/compile-judge.py --remove
	rm -f $(COMPILED)

lock:
	$(BIN)/pip install --quiet uv && $(BIN)/uv pip compile pyproject.toml --extra dev \
		--generate-hashes --python-version 3.11 -o requirements.lock

# The main job: release 1.1.0 with a faulty new checkout path is caught and rolled back.
# The errors fault is meant to be caught: exit 3, rolled back (docs/cli.md), is success here.
demo: $(COMPILED)
	$(BIN)/rollsafe demo --fault errors || test $$? -eq 3

# The suite mostly waits (analysis windows, services starting, settle times), so four
# xdist workers pay even on 2 cores. --dist loadgroup: the end-to-end tests that keep
# request rates run in two groups, one test at a time each, beside the other workers'
# lighter tests (tests/conftest.py). WORKERS=0 runs the suite serially in one process.
WORKERS ?= 4

test: $(COMPILED) lint typecheck servers
	$(BIN)/pytest -q -n $(WORKERS) --dist loadgroup

# While working: everything but the end-to-end tests marked slow (those that start real
# service processes); `make test` before committing still runs them all.
test-fast: $(COMPILED)
	$(BIN)/pytest -q -m "not slow"

# Real servers some tests run on loopback (nginx, prometheus), installed when missing.
servers:
	@if [ -x scripts/install-servers.sh ]; then scripts/install-servers.sh; fi

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

bench-judge: $(COMPILED)
	$(BIN)/python -m bench.judge

bench-flags: $(STAMP)
	$(BIN)/python -m bench.flags

# Router metrics: transports compared, then delay, CPU and memory at 2,000 requests/s
# (DURATION=600 for the ten minutes of the goal).
bench-router: $(STAMP) servers
	$(BIN)/python -m bench.router_metrics --duration $(or $(DURATION),60)

clean:
	rm -f src/rollsafe/judge/*.so src/rollsafe/stats/*.so src/*__mypyc*.so
	rm -rf $(VENV) .rollsafe .rollsafe-demo .pytest_cache .mypy_cache .ruff_cache

bench-judge-leaks: $(COMPILED)
	$(BIN)/python -m bench.judge.leaks
