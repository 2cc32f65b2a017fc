# hwsim: `make demo` sets up and runs the main job; `make test` sets up and runs the whole test suite.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
export AMARANTH_USE_YOSYS := builtin

.PHONY: setup demo test bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test,rtl]"
	touch $@

## demo: the SAT paper's comparison on sat-vcu1525 -> reports/sat_paper/ (CSV, markdown, plots)
demo: setup
	$(VENV)/bin/hwsim demo --out reports/sat_paper

## test: unit, property, golden-number and CLI tests
test: setup
	$(PY) -m pytest -n 2

## bench: engine / reference / compile / CLI timings for one ResNet-50 iteration
bench: setup
	$(PY) bench/bench_engine.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build *.egg-info
