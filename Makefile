# make run  — set up everything and serve the app with a worker and a mail sink
# make test — set up everything and run the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app wsgi
STAMP := $(VENV)/.installed
TRANSLATIONS := objectwar/translations

.PHONY: run test install translations lint extract-messages clean

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

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .

# Developers: after changing user-facing strings, refresh the catalogs.
extract-messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext --no-location --sort-output -o $(TRANSLATIONS)/messages.pot .
	$(BIN)/pybabel update -i $(TRANSLATIONS)/messages.pot -d $(TRANSLATIONS) --no-fuzzy-matching --no-wrap

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
