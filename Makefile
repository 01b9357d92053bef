# The two commands of a fresh machine: `make run` and `make test`. Everything else is a helper they use.
# Python 3.11 to 3.13: the newest of python3.13, python3.12, python3.11 on PATH, then python3 if it is in range.
# PYTHON=/path/to/python overrides; found once, on first use (`make test` with a ready .venv never looks).
PY_SUPPORTED := import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 13))
ifeq ($(origin PYTHON),undefined)
PYTHON = $(eval PYTHON := $(shell for p in python3.13 python3.12 python3.11 python3; do \
	"$$p" -c '$(PY_SUPPORTED)' 2>/dev/null && { command -v "$$p"; break; }; done))$(PYTHON)
endif
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000
# granian (default: faster in bench/http_auth.py) or uvicorn; both serve HTTP and Channels' WebSockets.
SERVER ?= granian
PYTEST_ARGS ?=
# Branch coverage of accounts, projects and incubator; the run fails under the floor (both in [tool.coverage] of
# pyproject.toml). `COVERAGE= make test` runs without it.
COVERAGE ?= --cov --cov-report=term
# Type-checked modules (STYLE.md: every service and selector signature is typed).
TYPED := $(wildcard */services.py */selectors.py */selectors/*.py incubator/*/services.py projects/access.py accounts/tokens.py incubator/batch.py incubator/totals.py incubator/prepared.py incubator/edge.py \
	datasets/storage.py datasets/uploads.py datasets/tasks.py datasets/signals.py $(wildcard datasets/engine/*.py) \
	aimodels/inference.py aimodels/tasks.py aimodels/signals.py $(wildcard aimodels/engine/*.py aimodels/algorithms/*.py) \
	schema_registry/compat.py schema_registry/plan.py schema_registry/declarations.py schema_registry/tasks.py \
	schema_registry/introspection.py incubator/schemas.py $(wildcard incubator/metrics/*.py) \
	analytics/scope.py analytics/charts.py analytics/memo.py analytics/tasks.py analytics/reports.py analytics/writers.py)

.PHONY: run test mutation setup migrate sandbox serve worker beat lint format typecheck checks bench clean

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "Python 3.11, 3.12 or 3.13 is required and none is on PATH (tried" \
		"python3.13, python3.12, python3.11, python3). Install one, or set PYTHON=/path/to/python3.12."; exit 1; }
	@$(PYTHON) -c '$(PY_SUPPORTED)' 2>/dev/null || { echo "Python 3.11, 3.12 or 3.13 is required;" \
		"$(PYTHON) is $$($(PYTHON) -V 2>&1). Install one, or set PYTHON=/path/to/python3.12."; exit 1; }
	@echo "Creating $(VENV) with $(PYTHON) ($$($(PYTHON) -V 2>&1))"
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements.txt requirements-dev.txt requirements.lock | $(BIN)/python
	$(BIN)/python -m pip install -q -r requirements-dev.txt -c requirements.lock
	@touch $@

setup: $(VENV)/.installed
	@mkdir -p var

migrate: setup
	$(BIN)/python manage.py migrate --no-input -v 0

sandbox: migrate
	$(BIN)/python manage.py seed_sandbox

# A second server on a busy port would start anyway (SO_REUSEPORT) and split the requests with the first.
PORT_FREE = $(or $(wildcard $(BIN)/python),$(PYTHON),python3) scripts/port_free.py $(HOST) $(PORT)

## Set everything up and serve the sandbox on http://$(HOST):$(PORT) (HTTP and WebSocket).
run:
	@$(PORT_FREE)
	@$(MAKE) --no-print-directory sandbox
	@echo ""
	@echo "  Incubator is starting on http://$(HOST):$(PORT)/"
	@echo "  Swagger UI:  http://$(HOST):$(PORT)/api/v1/docs/"
	@echo "  Redoc:       http://$(HOST):$(PORT)/api/v1/redoc/"
	@echo "  Admin:       http://$(HOST):$(PORT)/admin/   (admin / Incubator-2026)"
	@echo "  Analytics:   http://$(HOST):$(PORT)/admin/analytics/dashboard/"
	@echo ""
	@$(MAKE) --no-print-directory serve

serve: setup
	@$(PORT_FREE)
	$(BIN)/python -m incubator.servers $(SERVER) --host $(HOST) --port $(PORT)

# Two workers: short tasks (profiles, exports, sweeps) on the default queue, training jobs on their own queue so
# a long job never delays them. BEAT=-B embeds Celery beat (the periodic job sweeper) in the first; on every
# machine but one, run `make worker BEAT=` (or run `make beat` once, alone).
BEAT ?= -B
TRAINING_CONCURRENCY ?= 1
worker: setup
	@trap 'kill 0' INT TERM; \
	$(BIN)/celery -A incubator worker -Q celery -n default@%h --concurrency 2 --loglevel INFO $(BEAT) & \
	$(BIN)/celery -A incubator worker -Q training -n training@%h --concurrency $(TRAINING_CONCURRENCY) --loglevel INFO & \
	wait

beat: setup
	$(BIN)/celery -A incubator beat --loglevel INFO

## Run the whole suite (embedded defaults; DATABASE_URL / REDIS_URL / CELERY_BROKER_URL switch to real services).
test: setup
	$(BIN)/pytest $(COVERAGE) $(PYTEST_ARGS)

## Mutation testing of every app's services and selectors (slow, so not in .ci/run; [tool.mutmut] in pyproject.toml).
## Starts afresh (cached verdicts go stale when tests change), one mutant per core; prints `killed N of M` per module
## and fails under MUTATION_MIN percent (default 85). `$(BIN)/python scripts/mutation_run.py browse` shows the results.
MUTATION_CHILDREN ?= $(shell nproc 2>/dev/null || echo 2)
mutation: setup
	$(BIN)/python scripts/mutation_run.py run --fresh --max-children $(MUTATION_CHILDREN)
	$(BIN)/python scripts/mutation_report.py

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy $(TYPED)
	$(BIN)/lint-imports

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

checks: setup
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/python manage.py spectacular --validate --fail-on-warn --file /dev/null
	@# The deploy stage's two steps (.gitlab-ci.yml), on a fresh database.
	tmp=$$(mktemp -d) && export DATABASE_URL=sqlite:///$$tmp/deploy.sqlite3 && \
		$(BIN)/python manage.py migrate --no-input -v 0 && \
		$(BIN)/python manage.py migrate_documents --pending --no-progress; rc=$$?; rm -rf $$tmp; exit $$rc
	DJANGO_SETTINGS_MODULE=incubator.settings.production DEBUG=0 ALLOWED_HOSTS=incubator.example.com \
		SECRET_KEY=ci-$$(head -c 48 /dev/urandom | base64 | tr -d '/+=\n') \
		$(BIN)/python manage.py check --deploy --fail-level WARNING

bench: setup
	$(BIN)/python bench/http_auth.py
	$(BIN)/python bench/projects_list.py
	$(BIN)/python bench/datasets_engines.py
	$(BIN)/python bench/datasets.py
	$(BIN)/python bench/training.py
	$(BIN)/python bench/live.py
	$(BIN)/python bench/schema_migrations.py
	$(BIN)/python bench/analytics.py

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
