# Everyday commands. `make run` and `make test` are the two a newcomer needs.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
HOST ?= 127.0.0.1
PORT ?= 8000
# Emails, jobs and the demo APIs' upstream use SITE_URL; pages follow the address they are
# served on. Both follow PORT unless SITE_URL is set.
SITE_URL ?= http://$(HOST):$(PORT)
export SITE_URL
export DJANGO_SETTINGS_MODULE ?= config.settings.local

.PHONY: run install migrate seed serve test test-fast lint format bench bench-faults clean

run: install migrate seed serve ## install, migrate, seed the demo, serve on http://$(HOST):$(PORT)

$(VENV)/.installed: requirements/base.txt requirements/dev.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -r requirements/dev.txt
	touch $@

install: $(VENV)/.installed

migrate: install
	$(PY) manage.py migrate --no-input -v0

seed: install
	$(PY) manage.py seed_demo

serve: install
	@mkdir -p .run
	@echo "Tollgate is starting on http://$(HOST):$(PORT)/  (Ctrl-C stops it)"
	HOST=$(HOST) PORT=$(PORT) $(VENV)/bin/honcho -f Procfile.dev start

test: install ## the whole suite (PostgreSQL/Redis when DATABASE_URL/REDIS_URL are set)
	bash scripts/test.sh

test-fast: install
	DJANGO_SETTINGS_MODULE=config.settings.test $(VENV)/bin/pytest -m "not browser" -q

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: install
	bash bench/run_all.sh

bench-faults: install
	$(VENV)/bin/python bench/fault_bench.py

clean:
	rm -rf .run staticfiles .pytest_cache
