# hwsim: `make demo` sets up and runs the main job; `make test` sets up and runs the whole test suite.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
export AMARANTH_USE_YOSYS := builtin

.PHONY: setup demo test bench parity clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test,onnx]"
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

## parity: SCALE-Sim 3.0.0 (own virtualenv: it needs numpy<2.4) and hwsim on the same layers, cycles and wall clock
parity: setup .venv-parity/.installed
	$(PY) bench/parity.py

.venv-parity/.installed:
	$(PYTHON) -m venv .venv-parity
	.venv-parity/bin/python -m pip install --quiet "scalesim==3.0.0" "numpy<2.4"
	touch $@

clean:
	rm -rf $(VENV) .venv-parity .pytest_cache .hypothesis build *.egg-info
