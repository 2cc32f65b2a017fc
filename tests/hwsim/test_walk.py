"""The mapper's tile walk timed on the fly (numba) equals the per-tile arrays timed by the plain reference, and
the fast tile search chooses what the plain one (every candidate row sorted, arrays timed) chooses."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from hwsim.dataflow.ops import GemmOp, Phase
from hwsim.dataflow.sparsity import NM
from hwsim.dataflow.target import ArrayTarget
from hwsim.dataflow import tiling
from hwsim.dataflow.tiling import DATAFLOWS, ORDERS, Mapping, gemm_tiles
from hwsim.engine.walk import gemm_walk_tiles, gemm_walk_times, walk_times_reference
from hwsim.simulation import RooflineCost


@st.composite
def cases(draw):
    nm = draw(st.sampled_from([None, NM(2, 4), NM(2, 8), NM(1, 4)]))
    op = GemmOp("g", "g", Phase.FF, m=draw(st.integers(1, 300)), k=draw(st.integers(1, 300)),
                n=draw(st.integers(1, 300)), groups=draw(st.integers(1, 3)), nm=nm,
                select_on_load=nm is not None and draw(st.booleans()),
                a_reuse=draw(st.sampled_from([1.0, 2.25, 9.0, 3.0])), select_passes=draw(st.integers(1, 3)))
    target = ArrayTarget(
        rows=draw(st.sampled_from([2, 4, 8, 16])), cols=draw(st.sampled_from([2, 4, 8, 16])),
        mults=draw(st.sampled_from([2, 4, 8])), a_buffer_bytes=1 << 20, b_buffer_bytes=1 << 20,
        c_buffer_bytes=1 << 20, elem_bytes=draw(st.sampled_from([1, 2])), acc_bytes=4,
        fill_cycles=draw(st.integers(0, 40)), vector_lanes=4, vector_latency=0,
        select_lanes=draw(st.sampled_from([1, 4, 32])), interleave=draw(st.booleans()),
        select_latency=draw(st.integers(0, 9)), a_port_bytes=draw(st.sampled_from([0, 7, 64])),
        b_port_bytes=draw(st.sampled_from([0, 5, 64])), c_port_bytes=draw(st.sampled_from([0, 3, 128])))
    mappings = []
    for _ in range(draw(st.integers(1, 4))):
        mappings.append(Mapping(draw(st.sampled_from(DATAFLOWS)), draw(st.sampled_from(ORDERS)),
                                *(draw(st.integers(-(-size // 8), size)) for size in (op.m, op.k, op.n))))
    bpc = draw(st.floats(0.5, 200.0, allow_nan=False))
    latency = draw(st.integers(0, 300))
    return op, target, mappings, bpc, latency


@settings(max_examples=300, deadline=None)
@given(cases())
def test_walk_equals_tile_arrays_timed_by_the_reference(case):
    op, target, mappings, bpc, latency = case
    cycles, dram = gemm_walk_times(op, target, mappings, bpc, latency)
    ref_cycles, ref_dram = walk_times_reference(op, target, mappings, bpc, latency)
    np.testing.assert_array_equal(cycles, ref_cycles)
    np.testing.assert_array_equal(dram, ref_dram)


@settings(max_examples=200, deadline=None)
@given(cases())
def test_walk_arrays_equal_gemm_tiles(case):
    op, target, mappings, _, _ = case
    for mp in mappings:
        want = gemm_tiles(op, mp, target)
        got = gemm_walk_tiles(op, target, mp)
        for arr, name in zip(got, ("load_bytes", "store_bytes", "select_cycles", "compute_cycles")):
            assert arr.dtype == getattr(want, name).dtype
            np.testing.assert_array_equal(arr, getattr(want, name), err_msg=name)


def test_walk_times_a_known_schedule():
    # one 2x2 PE array tile of 4x4x4 (os, 2 multipliers): 2x2 blocks x 2 steps = 8 compute cycles; loads
    # A 32 B + B 32 B at 64 B/cycle, latency 0: 1 cycle; store of C 16 x 2 B: 1 cycle after compute.
    target = ArrayTarget(rows=2, cols=2, mults=2, a_buffer_bytes=1 << 20, b_buffer_bytes=1 << 20,
                         c_buffer_bytes=1 << 20, elem_bytes=2, acc_bytes=4, fill_cycles=0, vector_lanes=4,
                         vector_latency=0, select_lanes=4)
    op = GemmOp("g", "g", Phase.FF, m=4, k=4, n=4)
    cycles, dram = gemm_walk_times(op, target, [Mapping("os", "mkn", 4, 4, 4)], 64.0, 0)
    assert list(dram) == [32 + 32 + 32]
    assert list(cycles) == [1 + 8 + 1]


@st.composite
def searches(draw):
    op, target, _, bpc, latency = draw(cases())
    objective = draw(st.sampled_from(["latency", "energy", "edp"]))
    cost = RooflineCost(bpc, latency, objective, draw(st.floats(0.1, 100.0)), draw(st.floats(0.0, 50.0)))
    dataflows = draw(st.sampled_from([DATAFLOWS, ("os",), ("ws", "is"), ("os", "is")]))
    return op, target, cost, dataflows


@settings(max_examples=150, deadline=None)
@given(searches())
def test_fast_search_chooses_what_the_plain_search_chooses(case):
    op, target, cost, dataflows = case
    assert tiling._best_fast(op, target, cost, dataflows) == tiling._best_plain(op, target, cost, dataflows)


@settings(max_examples=150, deadline=None)
@given(searches())
def test_the_bound_never_exceeds_the_exact_time(case):
    """The branch and bound is exact only if every candidate's bound is at most its exact objective."""
    op, target, cost, dataflows = case
    cand = tiling.candidates(op, target)
    bound = tiling._bounds(cost, op, target, cand["m_t"], cand["k_t"], cand["n_t"], cand["compute"], cand["dram"],
                           cand["tiles"])
    rows = np.flatnonzero(cand["tiles"] <= 2_000)[:200]
    maps = [Mapping(str(cand["dataflow"][i]), str(cand["order"][i]), int(cand["m_t"][i]), int(cand["k_t"][i]),
                    int(cand["n_t"][i])) for i in rows]
    exact = np.array(cost.exact_mappings(op, target, maps))
    assert (bound[rows] <= exact).all(), (bound[rows] - exact).max()


@settings(max_examples=100, deadline=None)
@given(searches())
def test_the_search_finds_the_fastest_candidate(case):
    """Every candidate of at most REFINE_MAX_TILES tiles timed: none is faster than the chosen one, and of the equally
    fast the chosen one moves the fewest DRAM bytes."""
    op, target, cost, dataflows = case
    cand = tiling.candidates(op, target)
    rows = np.flatnonzero(np.isin(cand["dataflow"], dataflows) & (cand["tiles"] <= tiling.REFINE_MAX_TILES))
    maps = [Mapping(str(cand["dataflow"][i]), str(cand["order"][i]), int(cand["m_t"][i]), int(cand["k_t"][i]),
                    int(cand["n_t"][i])) for i in rows]
    exact = np.array(cost.exact_mappings(op, target, maps))
    chosen = tiling._best_fast(op, target, cost, dataflows)
    score = cost.exact_mappings(op, target, [chosen])[0]
    assert score == exact.min()
    assert min(cand["dram"][rows][exact == score]) == cand["dram"][rows][maps.index(chosen)]


def test_loop_orders_that_only_differ_in_loops_of_one_trip_repeat_the_first():
    """Orders (mkn, mnk, kmn, knm, nmk, nkm): with only k moving every order walks the same tiles, so all but the
    first are skipped by the search; with m and k moving, mkn = mnk = nmk (m outside k) and kmn = knm = nkm."""
    from hwsim.dataflow.candidate_kernel import ORDER_AXES
    from hwsim.engine.walk import _repeats_order

    dims = np.array([64, 64, 64], dtype=np.int64)
    assert [_repeats_order(o, 64, 16, 64, dims, ORDER_AXES) for o in range(6)] == [False] + [True] * 5
    assert [_repeats_order(o, 16, 16, 64, dims, ORDER_AXES) for o in range(6)] == [False, True, False, True, True,
                                                                                    True]
    assert not any(_repeats_order(o, 16, 16, 16, dims, ORDER_AXES) for o in range(6))  # all three move
