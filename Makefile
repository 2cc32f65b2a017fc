# hwsim: `make demo` sets up and runs the main job; `make test` sets up and runs the whole test suite.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
export AMARANTH_USE_YOSYS := builtin

.PHONY: setup native demo test bench report docs clean tiny-report rtl-long rtl-report rtl-layers parity

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test,onnx,rtl,search]"
	-$(PY) -m hwsim.engine.native
	touch $@

## native: compile the kernels ahead of time so `hwsim simulate` starts without numba (a minute; skipped when current)
native: setup
	$(PY) -m hwsim.engine.native

## demo: the SAT paper's comparison on sat-vcu1525 -> reports/sat_paper/ (CSV, markdown, plots)
demo: setup
	$(VENV)/bin/hwsim demo --out reports/sat_paper

## report: every table and figure under reports/ (PDF, SVG, PNG) and the index reports/README.md
report: setup
	$(VENV)/bin/hwsim report

## docs: regenerate the generated parts of docs/ (the arch format tables from the JSON Schema)
docs: setup
	$(PY) docs/generate.py

## test: unit, property, golden-number and CLI tests
test: native
	$(PY) -m pytest -n 2

## tiny-report: the 256KB on-device training engines on the paper's three backbones -> reports/tiny/
tiny-report: setup
	$(VENV)/bin/hwsim report --only tiny

## bench: engine / reference / compile / CLI / import timings for one ResNet-50 iteration; sweep rate; monotonicity review; search quality (about 3 minutes)
bench: native
	$(PY) bench/bench_engine.py
	$(PY) bench/bench_sweep.py
	$(PY) bench/monotonicity.py
	$(PY) bench/bench_search.py

## bench-monotone: 500 random (config, model, method, change) cases: is more of a resource ever slower? (under a minute)
.PHONY: bench-monotone
bench-monotone: setup
	$(PY) bench/monotonicity_random.py

## bench-search: search quality against an exhaustive 3,456-point grid -> reports/search_quality/ (about 1.5 minutes; part of bench)
.PHONY: bench-search
bench-search: setup
	$(PY) bench/bench_search.py

## bench-rtl: Verilog export of the fp16 core, PE inlined vs PE module, and the paper-scale hwsim rtl (minutes)
.PHONY: bench-rtl
bench-rtl: setup
	$(PY) bench/bench_rtl_export.py

## rtl-long: the RTL co-simulation matrix with 10,000 random tiles per configuration (HWSIM_RTL_TILES)
rtl-long: setup
	HWSIM_RTL_TILES=$${HWSIM_RTL_TILES:-10000} $(PY) -m pytest -n 2 tests/rtl/test_core.py $(RTL_LONG_ARGS)

## rtl-layers: every whole-layer RTL case (ResNet-18 conv, ViT linear; OS, WS; dense, 2:8) on Icarus (minutes)
rtl-layers: setup
	HWSIM_RTL_LAYERS=all $(PY) -m pytest -n 2 tests/rtl/test_layer.py $(RTL_LONG_ARGS)

## rtl-report: synthesized resources and ECP5 Fmax of the SAT core -> reports/rtl/ (Debian yosys; minutes)
rtl-report: setup
	$(PY) reports/rtl_resources.py

## parity: SCALE-Sim 3.0.0 (own virtualenv: it needs numpy<2.4) and hwsim on the same layers, cycles and wall clock
parity: setup .venv-parity/.installed
	$(PY) bench/parity.py

.venv-parity/.installed:
	$(PYTHON) -m venv .venv-parity
	.venv-parity/bin/python -m pip install --quiet "scalesim==3.0.0" "numpy<2.4"
	touch $@

clean:
	rm -rf $(VENV) .venv-parity .pytest_cache .hypothesis build *.egg-info
