# The two commands: `make run` and `make test`. Everything installs into .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: run test install migrate bench clean

$(STAMP): requirements.txt requirements-mesos.txt scripts/install_http_parser.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt
	bash scripts/install_http_parser.sh $(VENV)
	$(BIN)/python -m pip install -q -r requirements-mesos.txt
	touch $(STAMP)

install: $(STAMP)

migrate: install
	$(BIN)/python -m app.migrate

run: migrate
	$(BIN)/python -m workers.run_all

test: install
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

bench: install
	$(BIN)/python bench/scheduling_pass.py
	$(BIN)/python bench/throughput.py
	$(BIN)/python -m bench.recipe_1000
	$(BIN)/python bench/strike_latency.py
	$(BIN)/python bench/strike_latency.py --rate 0
	$(BIN)/python bench/api_lists.py

clean:
	rm -rf $(VENV) var
