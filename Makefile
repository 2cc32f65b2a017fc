# hwsim: `make demo` sets up and runs the main job; `make test` sets up and runs the whole test suite.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
export AMARANTH_USE_YOSYS := builtin

.PHONY: setup demo test bench clean rtl-long rtl-report

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

## rtl-long: the RTL co-simulation matrix with 10,000 random tiles per configuration (HWSIM_RTL_TILES)
rtl-long: setup
	HWSIM_RTL_TILES=$${HWSIM_RTL_TILES:-10000} $(PY) -m pytest -n 2 tests/rtl/test_core.py $(RTL_LONG_ARGS)

## rtl-report: synthesized resources and ECP5 Fmax of the SAT core -> reports/rtl/ (Debian yosys; minutes)
rtl-report: setup
	$(PY) reports/rtl_resources.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build *.egg-info
