# The two commands of a fresh machine: `make run` and `make test`. Everything else is a helper they use.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000
# granian (default: faster in bench/http_auth.py) or uvicorn; both serve HTTP and Channels' WebSockets.
SERVER ?= granian
PYTEST_ARGS ?=
# Type-checked modules (STYLE.md: every service and selector signature is typed).
TYPED := $(wildcard */services.py */selectors.py incubator/events/services.py)

.PHONY: run test setup migrate sandbox serve worker lint format typecheck checks bench clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required, found " + sys.version' \
		|| { echo "Install Python 3.11 (python3.11) first."; exit 1; }
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

## Set everything up and serve the sandbox on http://$(HOST):$(PORT) (HTTP and WebSocket).
run: sandbox
	@echo ""
	@echo "  Incubator is starting on http://$(HOST):$(PORT)"
	@echo "  Swagger UI:  http://$(HOST):$(PORT)/api/v1/docs/"
	@echo "  Redoc:       http://$(HOST):$(PORT)/api/v1/redoc/"
	@echo "  Admin:       http://$(HOST):$(PORT)/admin/   (admin / Incubator-2026)"
	@echo ""
	@$(MAKE) --no-print-directory serve

serve: setup
ifeq ($(SERVER),uvicorn)
	$(BIN)/uvicorn incubator.asgi:application --host $(HOST) --port $(PORT) --ws websockets-sansio --lifespan off --no-access-log
else
	$(BIN)/granian --interface asginl --host $(HOST) --port $(PORT) --workers 1 --loop uvloop --log-level warning incubator.asgi:application
endif

worker: setup
	$(BIN)/celery -A incubator worker --loglevel INFO --concurrency 2

## Run the whole suite (embedded defaults; DATABASE_URL / REDIS_URL / CELERY_BROKER_URL switch to real services).
test: setup
	$(BIN)/pytest $(PYTEST_ARGS)

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
	DJANGO_SETTINGS_MODULE=incubator.settings.production DEBUG=0 ALLOWED_HOSTS=incubator.example.com \
		SECRET_KEY=ci-$$(head -c 48 /dev/urandom | base64 | tr -d '/+=\n') \
		$(BIN)/python manage.py check --deploy --fail-level WARNING

bench: setup
	$(BIN)/python bench/http_auth.py
	$(BIN)/python bench/projects_list.py

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
