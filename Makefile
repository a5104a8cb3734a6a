# The two commands the README promises: `make serve` and `make test`.
# Both bootstrap the machine (apt packages, .venv/) and run services as local processes.

VENV := .venv
PY := $(VENV)/bin/python
PYTEST_WORKERS ?= auto

.PHONY: screenshots serve test bootstrap initdb shell lint format services stop-services clean-state

bootstrap:
	@bin/bootstrap

serve: bootstrap
	@$(PY) -m devstack.services serve

test: bootstrap
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

initdb: bootstrap
	@$(PY) -m devstack.services start
	@eval "$$($(PY) -m devstack.services env)" && $(VENV)/bin/warehouse db upgrade

shell: bootstrap
	@$(PY) -m devstack.services start
	@eval "$$($(PY) -m devstack.services env)" && $(VENV)/bin/warehouse shell

lint: bootstrap
	$(VENV)/bin/ruff check warehouse devstack tests bench
	$(VENV)/bin/ruff format --check warehouse devstack tests bench

format: bootstrap
	$(VENV)/bin/ruff check --fix warehouse devstack tests bench
	$(VENV)/bin/ruff format warehouse devstack tests bench

services: bootstrap
	@$(PY) -m devstack.services start

stop-services:
	@$(PY) -m devstack.services stop

clean-state: stop-services
	rm -rf .state

# PNGs of the main pages at phone and desktop widths, under screenshots/ (ignored by git).
screenshots: bootstrap
	$(PY) -m tests.browser.screenshots
