# make run  — set up everything and serve the app with a worker and a mail sink
# make test — set up everything and run the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app wsgi
STAMP := $(VENV)/.installed
# The page checkers (axe-core, the Nu HTML Checker) from the npm registry, pinned by the lock file.
TOOLS := tests/tools
TOOLS_STAMP := $(TOOLS)/node_modules/.installed
TRANSLATIONS := objectwar/translations

.PHONY: run test install translations lint extract-messages clean test-tools

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP) translations

# Catalogs are compiled here, at install time; only the .po sources are committed.
translations: $(STAMP)
	$(BIN)/pybabel compile --use-fuzzy -d $(TRANSLATIONS) -D messages 2>&1 | grep -v '^compiling' || true

run: install
	$(FLASK) db upgrade
	$(FLASK) seed-demo
	$(FLASK) run-dev

# One pytest-xdist worker per core (PYTEST_WORKERS=0 runs in one process).
PYTEST_WORKERS ?= auto
test: install test-tools
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

# Without npm the page checks are skipped (tests say why); --ignore-scripts: vnu-jar's
# install script would download a Java of its own, and the machine's is used.
test-tools:
	@if command -v npm >/dev/null 2>&1; then $(MAKE) --no-print-directory $(TOOLS_STAMP); \
	else echo "npm not found: the axe-core and HTML validity checks will be skipped"; fi

$(TOOLS_STAMP): $(TOOLS)/package.json $(TOOLS)/package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund --prefix $(TOOLS)
	touch $(TOOLS_STAMP)

lint: install
	$(BIN)/ruff check .

# Developers: after changing user-facing strings, refresh the catalogs.
extract-messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext --no-location --sort-output -o $(TRANSLATIONS)/messages.pot .
	$(BIN)/pybabel update -i $(TRANSLATIONS)/messages.pot -d $(TRANSLATIONS) --no-fuzzy-matching --no-wrap

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache $(TOOLS)/node_modules
