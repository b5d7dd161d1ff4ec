# The two commands: `make run` and `make test`. Everything installs into .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PATH := $(abspath $(BIN)):$(PATH)
# pytest exits 5 when a stage selects no tests; that is not a failure.
PYTEST = $(BIN)/python -m pytest -q $(PYTEST_ARGS)
NO_TESTS_OK = || test $$? -eq 5
STAGE = @echo "== $@"; start=$$(date +%s)
DONE = echo "== $@ done in $$(( $$(date +%s) - start ))s"

.PHONY: run test install migrate bench clean lint types format test-unit test-e2e test-postgres

$(STAMP): requirements.txt requirements-test.txt requirements-mesos.txt scripts/install_http_parser.sh pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt -r requirements-test.txt
	bash scripts/install_http_parser.sh $(VENV)
	$(BIN)/python -m pip install -q -r requirements-mesos.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $(STAMP)

# The local cluster's task wrapper in C (workers/local_cluster/task_wrapper.c); without a compiler the
# cluster uses the Python one.
$(BIN)/scale-task-wrapper: workers/local_cluster/task_wrapper.c $(STAMP)
	@if command -v cc >/dev/null; then cc -O2 -Wall -Wextra -Werror -o $@ $<; \
	else echo "no C compiler: the local cluster runs tasks under task_wrapper.py"; fi

install: $(STAMP) $(BIN)/scale-task-wrapper

migrate: install
	$(BIN)/python -m app.migrate

run: migrate
	$(BIN)/python -m workers.run_all

# Stages of `make test`, each runnable alone.
lint: install
	$(STAGE); $(BIN)/ruff check . && $(BIN)/ruff format --check . && $(DONE)

types: install
	$(STAGE); $(BIN)/mypy app/specs app/scheduling app/autoscale workers/local_cluster workers/scheduler && $(DONE)

test-unit: install
	$(STAGE); { $(PYTEST) -m "not e2e" $(NO_TESTS_OK); } && $(DONE)

test-e2e: install
	$(STAGE); { $(PYTEST) -m e2e $(NO_TESTS_OK); } && $(DONE)

# The whole suite again on a throwaway PostgreSQL server (skips with a message without the binaries).
test-postgres: install
	$(STAGE); { $(BIN)/python -m tests.pg_server -- $(PYTEST) $(NO_TESTS_OK); } && $(DONE)

test: lint types test-unit test-e2e test-postgres

format: install
	$(BIN)/ruff format .

bench: install
	$(BIN)/python bench/scheduling_pass.py
	$(BIN)/python bench/throughput.py
	$(BIN)/python -m bench.recipe_1000
	$(BIN)/python bench/strike_latency.py
	$(BIN)/python bench/strike_latency.py --rate 0
	$(BIN)/python bench/api_lists.py
	$(BIN)/python -m bench.chaos

clean:
	rm -rf $(VENV) var
