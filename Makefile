# ct_assets — `make dev` runs the product on its embedded default; `make test` runs the suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export CT_DATA_DIR ?= $(CURDIR)/data
export DAGSTER_HOME ?= $(CT_DATA_DIR)/dagster_home
export MLFLOW_TRACKING_URI ?= sqlite:///$(CT_DATA_DIR)/mlflow.db
PORT ?= 3000

.PHONY: install dev test lint dagster-home clean-data mlflow cluster cluster-stop cluster-deps

$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --constraint requirements.lock --editable '.[dev,bench,cluster]'
	touch $@

install: $(VENV)/.installed

dagster-home:
	mkdir -p $(DAGSTER_HOME)
	test -f $(DAGSTER_HOME)/dagster.yaml || cp ct_assets/dagster.yaml $(DAGSTER_HOME)/dagster.yaml

dev: install dagster-home
	$(BIN)/ct replay --days 60
	$(BIN)/dagster dev --host 127.0.0.1 --port $(PORT)

test: install cluster-deps
	$(BIN)/ruff check .
	# Three workers on two cores: the scenario tests wait on daemons a good part of the
	# time. Each test file on one worker, in conftest.SLOWEST_FIRST's order.
	$(BIN)/pytest -n 3 --dist loadfile --no-loadscope-reorder

mlflow: install
	$(BIN)/mlflow ui --backend-store-uri $(MLFLOW_TRACKING_URI) \
	    --default-artifact-root $(CT_DATA_DIR)/mlartifacts --host 127.0.0.1 --port 5000

lint: install
	$(BIN)/ruff check .

clean-data:
	rm -rf $(CT_DATA_DIR)/landing $(CT_DATA_DIR)/warehouse.duckdb* $(CT_DATA_DIR)/profiles \
	       $(CT_DATA_DIR)/dagster_home $(CT_DATA_DIR)/mlflow.db $(CT_DATA_DIR)/mlartifacts \
	       $(CT_DATA_DIR)/reports

# `make cluster`: the same definitions on Postgres, Redis + Celery workers, an MLflow server and
# the DuckLake warehouse, all on 127.0.0.1 (README "Scale out"). State in data/cluster/.
PG_BIN := /usr/lib/postgresql/15/bin
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
cluster-deps:
	@test -x $(PG_BIN)/postgres && command -v redis-server >/dev/null || { \
	    $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install \
	        -y -qq --no-install-recommends postgresql redis-server >/dev/null; }

cluster: install cluster-deps
	$(BIN)/python -m ct_assets.cluster start

cluster-stop:
	$(BIN)/python -m ct_assets.cluster stop
