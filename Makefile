# strangler-kit: `make run` starts the demo, `make test` runs every test. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint format bench clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# The bench extra (django-cqrs, django-revproxy, matplotlib...): the benchmarks need it, and so do
# their smoke tests in `make test`.
BENCH_STAMP := $(VENV)/.bench-stamp

$(BENCH_STAMP): pyproject.toml $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	@touch $(BENCH_STAMP)

# The whole demo stack (deploy/Procfile) behind the gateway on :8000; Ctrl-C stops it all.
# STRANGLER_RUN_MODE=celery make run: relays and consumers under Celery (deploy/Procfile.celery).
run: $(STAMP)
	$(PY) deploy/demo.py prepare
	$(PY) deploy/stack.py --announce $${STRANGLER_VAR_DIR:-var}/demo-stack.json

test: $(BENCH_STAMP)
	@command -v chromium >/dev/null \
		|| (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)
	$(PY) -m tests.run_suites

# Benchmarks (not part of `make test`): about 36 minutes at most (bench/run_all.py's budget); results in bench/results/ and
# docs/benchmarks.md. Installs the bench extra and the load generator and proxy it compares.
bench: $(BENCH_STAMP)
	@command -v wrk >/dev/null && (command -v nginx >/dev/null || test -x /usr/sbin/nginx) \
		|| (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk nginx-light)
	$(PY) -m bench.run_all

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf var .pytest_cache .ruff_cache
