# The two commands of the README. Both set up .venv from pyproject.toml first (once per change).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

.PHONY: quickstart test test-busy install clean-venv chromium mutation

quickstart: $(STAMP)  ## set up, then run the end-to-end demo on the local hub and bundled data
	$(BIN)/hubtool quickstart

test: $(STAMP) chromium  ## set up, then run the whole test suite (slow tests included)
	$(BIN)/python -m pytest

# The same suite while every CPU core spins for another job: tests bound work, never wall time, so they pass
# on a loaded machine too. The spinners stop when pytest ends, passed or failed (tests/cpu_load.py).
test-busy: $(STAMP) chromium  ## run the whole test suite with every CPU core kept busy by another job
	$(BIN)/python tests/cpu_load.py -- $(BIN)/python -m pytest

# The browser test drives Debian's Chromium (Playwright never downloads a browser here).
chromium:
	@command -v chromium >/dev/null || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get install -y --no-install-recommends chromium || \
	  { $$SUDO apt-get update && $$SUDO apt-get install -y --no-install-recommends chromium; }; }

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

clean-venv:
	rm -rf $(VENV)

# Mutation testing of the modules that decide what gets published (tests/mutation/run.py, cosmic-ray): long
# (one focused test run per mutant), not part of `make test` or CI. Writes docs/mutation-report.md.
# MUTATION_ARGS="--only hub_tools/text/pii.py" re-runs one module and keeps the others' last results.
mutation: $(STAMP)  ## mutation-test the publishing decisions; report in docs/mutation-report.md
	PATH=$(CURDIR)/$(BIN):$$PATH nice $(BIN)/python tests/mutation/run.py $(MUTATION_ARGS)
