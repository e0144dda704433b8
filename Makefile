# Linli: `make demo` runs the platform with the demo district, `make test` runs every check.
SHELL := /bin/bash
VENV := .venv/bin

.PHONY: install services demo test lint bench down

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

test: services lint
	@$(VENV)/pytest -q

bench: services
	@$(VENV)/linli migrate
	@for b in bench/*/run.py; do [ -f "$$b" ] && $(VENV)/python "$$b" || exit 1; done

down:
	@scripts/services down
