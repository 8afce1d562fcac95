# scaledrop: set-up, book, tests. `make book` and `make test` are all a new user needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.scaledrop-installed
NBVAL_OPTS := --nbval --nbval-current-env --nbval-sanitize-with notebooks/nbval.cfg --nbval-cell-timeout 900

.PHONY: help book book-check lab-check chromium test lint lab notebooks zoo zoo-mnist lock clean
.DEFAULT_GOAL := help

help:
	@echo "make book       set up .venv, execute the notebooks, build the HTML book"
	@echo "make test       set up .venv, lint, unit tests, pytest --nbval notebooks/, then book-check"
	@echo "make book-check build the book from the stored outputs and read every page in Chromium"
	@echo "make book-instructors the same book with the exercises' solutions, into _build/instructors/"
	@echo "make lab-check  chapter 6 in JupyterLab in Chromium: run, move a slider, save, reopen"
	@echo "make lab        JupyterLab on notebooks/"
	@echo "make notebooks  re-execute every notebook in place (regenerates all stored figures)"
	@echo "make assignments generate the student versions of the nbgrader course into assignments/release/"
	@echo "make zoo        retrain the committed checkpoints (scaledrop_lib/checkpoints)"
	@echo "make zoo-mnist  retrain only the 28x28 MNIST checkpoints (about 19 min on 2 cores)"
	@echo "make lock       rewrite requirements-lock.txt from the current .venv"
	@echo "make clean      remove .venv, _build and caches"

# Notebooks executed for storage (notebooks, book, nbval) run with SCALEDROP_PROGRESS=0: no
# progress bar lands in a stored output; a live JupyterLab session shows them.
# One set-up for every target: exact pins from the lock file, then this package (editable,
# so its myst-nb plugin entry point and the notebooks see the working tree).
# JupyterLab saves widget state into notebooks (tools/jupyterlab-overrides.json), so a reopened
# notebook shows its widgets instead of "model not found".
LAB_SETTINGS := $(VENV)/share/jupyter/lab/settings/overrides.json
$(STAMP): requirements-lock.txt pyproject.toml tools/jupyterlab-overrides.json
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-lock.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	install -D -m 644 tools/jupyterlab-overrides.json $(LAB_SETTINGS)
	touch $(STAMP)

book: $(STAMP)
	SCALEDROP_PROGRESS=0 PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/jupyter-book build --warningiserror --nitpick --keep-going .
	@echo "Book built: file://$(CURDIR)/_build/html/index.html"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint chromium
	$(BIN)/python -m pytest tests/
	@ls notebooks/*.ipynb >/dev/null || { echo "no notebooks found"; exit 1; }
	SCALEDROP_PROGRESS=0 PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest $(NBVAL_OPTS) notebooks/
	$(MAKE) book-check
	$(MAKE) lab-check

# The book as readers get it, from the notebooks' stored outputs that nbval has just checked (no
# second execution: execute_notebooks "off" in a copy of _config.yml), then every page read in
# headless Chromium (tools/check_book_browser.py); screenshots go to _build/screenshots/.
STORED := _build/stored
book-check: $(STAMP) chromium
	mkdir -p $(STORED)
	sed -e 's|^  execute_notebooks: .*|  execute_notebooks: "off"|' \
		-e 's|: book/_ext |: $(CURDIR)/book/_ext |' _config.yml > $(STORED)/_config.yml
	grep -q 'execute_notebooks: "off"' $(STORED)/_config.yml
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/jupyter-book build --config $(STORED)/_config.yml \
		--path-output $(STORED) --warningiserror --nitpick --keep-going .
	@! grep -l '{solution}' $(STORED)/_build/html/_sources/notebooks/*.ipynb || \
		{ echo "a downloadable notebook above still holds exercise solutions"; exit 1; }
	$(BIN)/python tools/check_book_browser.py $(STORED)/_build/html --screenshots _build/screenshots

# The instructors' edition: the same book from the same stored outputs, with the solutions of the
# chapter exercises, which the public book leaves out (sphinx-exercise's hide_solutions: false in
# a copy of _config.yml). Not for publishing.
INSTRUCTORS := _build/instructors
.PHONY: book-instructors
book-instructors: $(STAMP)
	mkdir -p $(INSTRUCTORS)
	sed -e 's|^  execute_notebooks: .*|  execute_notebooks: "off"|' \
		-e 's|: book/_ext |: $(CURDIR)/book/_ext |' \
		-e 's|^    hide_solutions: true|    hide_solutions: false|' _config.yml > $(INSTRUCTORS)/_config.yml
	grep -q 'execute_notebooks: "off"' $(INSTRUCTORS)/_config.yml
	grep -q '^    hide_solutions: false' $(INSTRUCTORS)/_config.yml
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/jupyter-book build --config $(INSTRUCTORS)/_config.yml \
		--path-output $(INSTRUCTORS) --warningiserror --nitpick --keep-going .
	@echo "Instructors' book: file://$(CURDIR)/$(INSTRUCTORS)/_build/html/index.html"

# A student's JupyterLab session (tools/check_lab_browser.py, about a minute): chapter 6 runs,
# its slider moves the figure, and the saved notebook reopens with its widget's figure, not
# "model not found". Screenshots go to _build/screenshots/lab.
lab-check: $(STAMP) chromium
	SCALEDROP_PROGRESS=0 PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python tools/check_lab_browser.py \
		notebooks/06_mtj_module.ipynb --screenshots _build/screenshots/lab

# The browser check drives Debian's Chromium (Playwright cannot download its own browser here).
chromium:
	@test -x /usr/lib/chromium/chromium || command -v chromium >/dev/null 2>&1 || \
	{ if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		apt-get install -y --no-install-recommends chromium; \
	else echo "make test needs Chromium: install the Debian package 'chromium' (apt-get install chromium)"; exit 1; fi; }

lab: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/jupyter lab notebooks/

notebooks: $(STAMP)
	$(BIN)/ruff format notebooks/  # before executing: ruff rewrites output floats inexactly
	SCALEDROP_PROGRESS=0 PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python tools/execute_notebooks.py --timeout 900

# The course (issue #16): nbgrader's generate_assignment strips solutions and hidden tests from
# assignments/source/<name>/<name>.ipynb into assignments/release/ (generated, not committed).
# PATH: nbgrader creates its gradebook with the venv's alembic script.
.PHONY: assignments
assignments: $(STAMP)
	cd assignments && PATH="$(CURDIR)/$(BIN):$$PATH" $(CURDIR)/$(BIN)/nbgrader generate_assignment --force "*"

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
