# The two commands a newcomer needs: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: help venv test demo bench lint types tox clean

help:
	@echo "make demo   run the end-to-end story against the fake Webex, then serve 127.0.0.1:8000"
	@echo "make test   run the whole test suite"
	@echo "make bench  run the benchmarks (results in benchmarks/results/)"
	@echo "make lint / make types / make tox"

venv: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found; install Python 3.11+ or run make PYTHON=/path/to/python3.11"; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || { echo "error: Python 3.11+ is required ($(PYTHON) is $$($(PYTHON) --version))"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { echo "error: could not create $(VENV) (on Debian: apt-get install python3-venv)"; exit 1; }
	@$(BIN)/python -m pip install -q --upgrade pip || { echo "error: pip could not upgrade itself; is the package index reachable?"; exit 1; }
	@$(BIN)/python -m pip install -q -e '.[test,lint,bench]' || { echo "error: installing the project failed (see pip's output above)"; exit 1; }
	@touch $(STAMP)

test: venv
	@echo "database: $$($(BIN)/python -m testproject.dbprobe)"
	DATABASE_URL="$$($(BIN)/python -m testproject.dbprobe)" $(BIN)/python -m pytest $(PYTEST_ARGS)

# DEMO_ONCE=1: run the story and exit (0 only if every step passed); DEMO_WEB_PORT /
# DEMO_FAKE_PORT: other ports than 8000 / 8900 (see testproject/demo/config.py).
demo: venv
	@$(BIN)/python -m testproject.demo

bench: venv
	$(BIN)/python -m benchmarks.run $(BENCH_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: venv
	$(BIN)/mypy django_webexteams tests benchmarks

tox: venv
	$(BIN)/tox

clean:
	rm -rf $(VENV) var build *.egg-info .tox
