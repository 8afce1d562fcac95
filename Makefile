# scaledrop: set-up, book, tests. `make book` and `make test` are all a new user needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.scaledrop-installed
NBVAL_OPTS := --nbval --nbval-current-env --nbval-sanitize-with notebooks/nbval.cfg --nbval-cell-timeout 900

.PHONY: help book test lint lab notebooks zoo zoo-mnist lock clean
.DEFAULT_GOAL := help

help:
	@echo "make book       set up .venv, execute the notebooks, build the HTML book"
	@echo "make test       set up .venv, lint, unit tests, then pytest --nbval notebooks/"
	@echo "make lab        JupyterLab on notebooks/"
	@echo "make notebooks  re-execute every notebook in place (regenerates all stored figures)"
	@echo "make zoo        retrain the committed checkpoints (scaledrop_lib/checkpoints)"
	@echo "make zoo-mnist  retrain only the 28x28 MNIST checkpoints (about 19 min on 2 cores)"
	@echo "make lock       rewrite requirements-lock.txt from the current .venv"
	@echo "make clean      remove .venv, _build and caches"

# One set-up for every target: exact pins from the lock file, then this package (editable,
# so its myst-nb plugin entry point and the notebooks see the working tree).
$(STAMP): requirements-lock.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-lock.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

book: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/jupyter-book build --warningiserror --nitpick --keep-going .
	@echo "Book built: file://$(CURDIR)/_build/html/index.html"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/python -m pytest tests/
	@ls notebooks/*.ipynb >/dev/null || { echo "no notebooks found"; exit 1; }
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest $(NBVAL_OPTS) notebooks/

lab: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/jupyter lab notebooks/

notebooks: $(STAMP)
	$(BIN)/ruff format notebooks/  # before executing: ruff rewrites output floats inexactly
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/jupyter nbconvert --to notebook --execute --inplace \
		--ExecutePreprocessor.timeout=900 --ExecutePreprocessor.record_timing=False notebooks/*.ipynb

zoo: $(STAMP)
	$(BIN)/python -m scaledrop_lib.routines.rebuild_zoo

zoo-mnist: $(STAMP)
	$(BIN)/python -m scaledrop_lib.routines.rebuild_zoo --task mnist

lock: $(STAMP)
	{ head -n 3 requirements-lock.txt; $(BIN)/python -m pip freeze --all --exclude pip | grep -v -e '^-e' -e scaledrop; } > requirements-lock.txt.tmp
	mv requirements-lock.txt.tmp requirements-lock.txt

clean:
	rm -rf $(VENV) _build .pytest_cache .ruff_cache *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
