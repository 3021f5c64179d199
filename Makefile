# Every target sets itself up: a fresh machine needs only Python 3.11+ and make.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: install demo test test-unit screenshots lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/patrolwatch demo

# PYTEST_WORKERS=2 runs the suite on two pytest-xdist workers: most of its time is waiting
# on servers, browsers and deadlines. One process by default: on a loaded two-core machine
# the tests that watch real ingest processes stop or evaluate in time missed their
# deadlines with two workers (docs/benchmarks.md, issue 20).
PYTEST_WORKERS ?= 0
test: $(STAMP)
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

test-unit: $(STAMP)
	$(BIN)/pytest tests/unit -m "not integration" $(PYTEST_ARGS)

# The browser test rewrites README's image only when asked, so `make test` leaves git clean.
screenshots: $(STAMP)
	PATROL_WRITE_SCREENSHOT=1 $(BIN)/pytest tests/browser/test_control_room.py tests/browser/test_screens.py tests/browser/test_crew_screen.py $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy patrolwatch ingest dashboard

bench: $(STAMP)
	$(BIN)/patrolwatch bench coverage --json
	$(BIN)/patrolwatch bench ingest --json
	$(BIN)/patrolwatch bench dashboard --json

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
