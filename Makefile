# Linli: `make demo` runs the platform with the demo district, `make test` runs every check.
SHELL := /bin/bash
VENV := .venv/bin

.PHONY: install services demo test lint client bench down

install:
	@scripts/bootstrap

services: install
	@scripts/services up

demo: services
	@$(VENV)/linli migrate
	@$(VENV)/linli seed demo
	@scripts/demo-banner
	@$(VENV)/linli up

lint: install
	@$(VENV)/ruff check linli tests bench migrations
	@$(VENV)/ruff format --check linli tests bench migrations
	@$(VENV)/mypy linli
	@cd portal && npm run --silent typecheck && npm run --silent lint

# Regenerates the front end's typed API client from the API's OpenAPI (tests fail while it is stale).
client: install
	@$(VENV)/linli openapi --out portal/src/api/openapi.json
	@cd portal && npm run --silent client

test: services lint
	@cd portal && npm run --silent test
	@$(VENV)/pytest -q

bench: services
	@$(VENV)/linli migrate
	@for b in bench/*/run.py; do [ -f "$$b" ] && $(VENV)/python "$$b" || exit 1; done

down:
	@scripts/services down
