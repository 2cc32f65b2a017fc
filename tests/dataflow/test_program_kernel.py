"""The numba static program (`dataflow.program_kernel`) equals the Python list schedule (`offline.static_program`)
array for array, on random dependency graphs, durations (ties included), units and tile counts."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwsim.dataflow.offline import list_schedule, static_program, to_csr
from hwsim.dataflow.program_kernel import list_schedule_arrays, static_program_fast, tile_segments


@st.composite
def graphs(draw):
    n = draw(st.integers(1, 40))
    deps = [tuple(sorted(draw(st.sets(st.integers(0, j - 1), max_size=min(j, 4))))) if j else () for j in range(n)]
    if draw(st.booleans()):  # a few distinct durations: ties in ranks, ready times and horizons
        durations = [float(draw(st.sampled_from([1, 2, 3, 5, 8]))) for _ in range(n)]
    else:
        durations = draw(st.lists(st.floats(1.0, 1e6, allow_nan=False), min_size=n, max_size=n))
    unit = draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
    tiles = draw(st.lists(st.integers(1, 50), min_size=n, max_size=n))
    return (np.array(durations), deps, np.array(unit, dtype=np.int64), np.array(tiles, dtype=np.int64))


def _same(got, want):
    assert len(got) == len(want) == 5
    for g, w, name in zip(got, want, ("seg_op", "seg_lo", "seg_hi", "seg_t0", "seg_t1")):
        assert g.dtype == w.dtype, name
        np.testing.assert_array_equal(g, w, err_msg=name)


@settings(max_examples=500, deadline=None)
@given(graphs())
def test_kernel_equals_the_python_list_schedule(case):
    durations, deps, unit, tiles = case
    _same(static_program_fast(durations, deps, unit, tiles), static_program(durations, deps, unit, tiles))


@settings(max_examples=100, deadline=None)
@given(graphs(), st.lists(st.integers(1, 50), min_size=40, max_size=40))
def test_one_list_schedule_cut_for_other_tile_counts(case, other):
    """The list schedule does not depend on the tiles: kept once, cut for any tile counts it is the program."""
    durations, deps, unit, _ = case
    tiles = np.array(other[:len(deps)], dtype=np.int64)
    schedule = list_schedule_arrays(durations, deps, unit, to_csr(deps), capacity=1)  # grown as it goes
    _same(tile_segments(schedule, durations, tiles), static_program(durations, deps, unit, tiles))
    plain = list_schedule(durations, deps, unit)
    np.testing.assert_array_equal(schedule[0], [s[0] for s in plain])
    for k in range(1, 5):
        np.testing.assert_array_equal(schedule[k], np.array([s[k] for s in plain], dtype=float))


def test_both_refuse_a_cycle():
    deps = [(1,), (0,)]
    args = (np.ones(2), np.zeros(2, dtype=np.int64), np.ones(2, dtype=np.int64))
    with pytest.raises(ValueError, match="cycle"):
        static_program(args[0], deps, *args[1:])
    with pytest.raises(ValueError, match="cycle"):
        static_program_fast(args[0], deps, *args[1:])


def test_resnet50_program_equal():
    """The real case: a ResNet-50 training iteration's program on sat-vcu1525 (422 ops)."""
    from hwsim import models
    from hwsim.config import load_arch
    from hwsim.dataflow.lowering import Lowering, lower
    from hwsim.dataflow.offline import dependencies, nominal_durations, units
    from hwsim.simulation import build_schedule

    cfg, graph, how = load_arch("sat-vcu1525"), models.load("resnet50"), Lowering(batch=32)
    ops = lower(graph, how)
    deps = dependencies(graph, ops, how)
    tiles = np.diff(build_schedule(ops, cfg, offline=True).offsets)
    durations = nominal_durations(ops, cfg.peak_macs_per_cycle, cfg.precision.operand_bytes)
    want = static_program(durations, deps, units(ops), tiles)
    assert len(want[0]) > 400
    _same(static_program_fast(durations, deps, units(ops), tiles), want)
