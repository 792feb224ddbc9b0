# The two commands: `make demo` and `make test`. Everything else supports them.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint format bench clean airflow

$(STAMP): requirements.txt requirements-dev.txt constraints.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt -r requirements-dev.txt -c constraints.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	# The build leaves aitl.egg-info in include/, which the editable install puts on sys.path:
	# a second copy of the package's metadata, so Airflow would see its plugin entry point twice.
	rm -rf include/aitl.egg-info
	touch $@

demo: $(STAMP)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python scripts/demo.py

# This package in a local Airflow until Ctrl-C: api-server (UI, http://localhost:8080), scheduler,
# dag-processor and triggerer, everything in .airflow/. Options: make airflow AIRFLOW_ARGS="--port 8081"
# (--home DIR, --host, --port; --home .demo opens what `make demo` ran). EXECUTOR=celery: Redis, two
# Celery workers and PostgreSQL (Debian's redis-server and postgresql; AIRFLOW_ARGS="--workers 3").
EXECUTOR ?= local
airflow: $(STAMP)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python scripts/airflow_local.py --executor $(EXECUTOR) $(AIRFLOW_ARGS)

test: lint
	PATH=$(CURDIR)/$(BIN):$$PATH scripts/with-postgres.sh $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check --quiet .
	$(BIN)/ruff format --check --quiet .
	$(BIN)/lint-imports --no-cache

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python bench/run.py
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python bench/sharded.py
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python bench/ingest_baseline.py
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python bench/ingest.py
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python bench/sequences.py
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python bench/daily.py
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python bench/ground_truth.py
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python bench/decisions.py
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python bench/settings.py
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python bench/findings.py
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python bench/storage.py
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python bench/anomalies.py
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python bench/capacity.py

clean:
	rm -rf $(VENV) .demo
