"""More resources never make an iteration slower (by more than 0.1%): a property over random configurations.

A random configuration (sat-vcu1525 with random DRAM, buffers, ports and lanes), a zoo model at a small batch and
resolution, a method, and one change that only adds a resource (DRAM bandwidth or channels, buffer capacity, port
bytes, vector or selector lanes) or removes latency. The 140-case review on the five paper workloads is
bench/monotonicity.py.

Offline-scheduled, each unit executes its part of a static program through its own DMA queue, the two sharing
the DRAM bandwidth (docs/modelling.md). That arbitration reacts to when requests are ready, so monotonicity is not
guaranteed by construction (tiny random programs show rare anomalies); these properties measure it at the level a
user sees, including a bigger buffer that changes the tiling.
"""
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwsim.config import load_arch
from hwsim.errors import HwsimError
from hwsim.simulation import simulate

TOLERANCE = 1e-3
MODELS = (("resnet9", 32), ("vgg19", 32), ("vit", 32), ("resnet18-s1", 32), ("mobilenetv2-w0.35", 64),
          ("bert-base-layer", 32))
METHODS = (("dense", None), ("bdwp", "2:8"), ("srste", "2:4"), ("bdwp", "2:4"))

# field -> (values of a random base configuration, how one change adds to it)
FIELDS = {
    "dram.efficiency": ([0.5, 0.7, 0.8], lambda v: min(1.0, v + 0.2)),
    "dram.channels": ([1, 2, 4], lambda v: v * 2),
    "dram.latency_ns": ([50.0, 150.0, 300.0], lambda v: v / 2),
    "vector.lanes": ([32, 64, 256], lambda v: v * 2),
    "selector.lanes": ([16, 64], lambda v: v * 2),
    "buffers.a_kib": ([1024, 2048, 4096], lambda v: v * 2),
    "buffers.b_kib": ([1024, 2048], lambda v: v * 2),
    "buffers.c_kib": ([1024, 2048], lambda v: v * 2),
    "ports.a_bytes": ([512, 1024], lambda v: v * 2),
    "ports.b_bytes": ([256, 512], lambda v: v * 2),
    "ports.c_bytes": ([512, 1024], lambda v: v * 2),
}


CAPACITIES = ("buffers.a_kib", "buffers.b_kib", "buffers.c_kib")


@st.composite
def cases(draw, changes=tuple(sorted(FIELDS))):
    base = {path: draw(st.sampled_from(values)) for path, (values, _) in FIELDS.items()}
    change = draw(st.sampled_from(changes))
    model, res = draw(st.sampled_from(MODELS))
    method, nm = draw(st.sampled_from(METHODS))
    batch = draw(st.sampled_from([1, 2, 4]))
    return base, change, model, res, method, nm, batch


def _check(case, offline: bool) -> None:
    base, change, model, res, method, nm, batch = case
    cfg = load_arch("sat-vcu1525").derive(base)
    more = cfg.derive({change: FIELDS[change][1](base[change])})
    try:
        before = simulate(model, cfg, method, nm, batch, resolution=res, offline=offline).cycles
    except HwsimError:  # e.g. a model whose tiles do not fit: nothing to compare
        return
    after = simulate(model, more, method, nm, batch, resolution=res, offline=offline).cycles
    assert after <= before * (1 + TOLERANCE), (change, before, after, after / before)


@settings(max_examples=500, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(cases())
def test_more_resources_are_never_slower_one_op_after_another(case):
    """Ops one after another (`offline=False`): each op's mapping is chosen by its exact tile-by-tile time among
    the estimate's best, and the DMA queue serves requests as their data is ready."""
    _check(case, offline=False)


@settings(max_examples=500, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(cases())
def test_more_resources_are_never_slower_offline(case):
    """Offline scheduling (the default), every kind of change: 500 cases."""
    _check(case, offline=True)


@settings(max_examples=200, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(cases(CAPACITIES))
def test_more_buffer_is_never_slower_offline(case):
    """A bigger buffer changes the tiling, the hardest case for a schedule: 200 more cases of buffer changes."""
    _check(case, offline=True)
