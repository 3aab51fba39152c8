# `make figures` and `make test` create .venv on first use and install the project into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PROFILE ?= quick

.PHONY: venv figures test lab clean-cache help

help:
	@echo "make figures   run every notebook in profile $(PROFILE) and refresh figures/"
	@echo "make test      run the test suite"
	@echo "make lab       start JupyterLab on the notebooks"

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

venv: $(STAMP)

figures: $(STAMP)
	$(BIN)/tfg-run run --profile $(PROFILE) $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest $(ARGS)

lab: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[dev,lab]"
	$(BIN)/jupyter lab notebooks

clean-cache:
	rm -rf .cache/tfg_runs
