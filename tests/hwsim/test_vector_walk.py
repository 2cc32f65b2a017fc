"""The vector chunk kernel (`engine.vector_walk`) equals `tiling.vector_tiles` timed by the plain reference, and
the chunk search chooses the same chunk either way."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from hwsim.dataflow import tiling
from hwsim.dataflow.ops import Phase, VectorOp
from hwsim.dataflow.target import ArrayTarget
from hwsim.engine.reference import run_reference
from hwsim.engine.vector_walk import vector_chunk_tiles, vector_chunk_times
from hwsim.simulation import RooflineCost


@st.composite
def cases(draw):
    op = VectorOp("v", "v", Phase.FF, elems=draw(st.integers(1, 200_000)),
                  ops_per_elem=draw(st.sampled_from([1.0, 2.0, 4.0, 0.5, 1.7, 3])),
                  read_bytes_per_elem=draw(st.sampled_from([0.0, 2.0, 4.0, 6.5, 1.25, 10])),
                  write_bytes_per_elem=draw(st.sampled_from([0.0, 2.0, 4.0, 0.75, 3.3])),
                  kind=draw(st.sampled_from(["vector", "update"])), select_passes=draw(st.integers(0, 3)))
    target = ArrayTarget(
        rows=16, cols=16, mults=4, a_buffer_bytes=draw(st.sampled_from([1 << 12, 1 << 16, 1 << 20, 1 << 22])),
        b_buffer_bytes=1 << 20, c_buffer_bytes=draw(st.sampled_from([1 << 12, 1 << 16, 1 << 20, 1 << 22])),
        elem_bytes=2, acc_bytes=4, fill_cycles=0, vector_lanes=draw(st.sampled_from([1, 7, 64, 256])),
        vector_latency=draw(st.integers(0, 40)), select_lanes=draw(st.sampled_from([1, 4, 64])),
        a_port_bytes=draw(st.sampled_from([0, 7, 64, 512])), c_port_bytes=draw(st.sampled_from([0, 3, 128])))
    sizes = sorted(set(draw(st.lists(st.integers(1, op.elems), min_size=1, max_size=5))))
    return op, target, sizes, draw(st.floats(0.5, 300.0, allow_nan=False)), draw(st.integers(0, 300))


@settings(max_examples=300, deadline=None)
@given(cases())
def test_chunk_times_equal_tile_arrays_timed_by_the_reference(case):
    op, target, sizes, bpc, latency = case
    cycles, dram = vector_chunk_times(op, target, sizes, bpc, latency)
    for size, c, d in zip(sizes, cycles, dram):
        tl = tiling.vector_tiles(op, target, size)
        offsets = np.array([0, len(tl)], dtype=np.int64)
        want = run_reference(offsets, tl.load_bytes, tl.store_bytes, tl.select_cycles, tl.compute_cycles, bpc,
                             latency)[0][0]
        assert c == want
        assert d == tl.load_bytes.sum() + tl.store_bytes.sum()


@settings(max_examples=300, deadline=None)
@given(cases())
def test_chunk_arrays_equal_vector_tiles(case):
    op, target, sizes, _, _ = case
    for size in sizes:
        want = tiling.vector_tiles(op, target, size)
        got = vector_chunk_tiles(op, target, size)
        for arr, name in zip(got, ("load_bytes", "store_bytes", "select_cycles", "compute_cycles")):
            assert arr.dtype == getattr(want, name).dtype
            np.testing.assert_array_equal(arr, getattr(want, name), err_msg=name)


@settings(max_examples=100, deadline=None)
@given(cases(), st.sampled_from(["latency", "energy", "edp"]))
def test_fast_chunk_search_chooses_the_plain_one(case, objective):
    op, target, _, bpc, latency = case
    cost = RooflineCost(bpc, latency, objective, 3.5, 0.25)
    try:
        tiling.clear_caches()
        tiling.set_fast(False)
        plain = tiling.vector_chunk(op, target, cost)
        tiling.clear_caches()
        tiling.set_fast(True)
        assert tiling.vector_chunk(op, target, cost) == plain
    finally:
        tiling.set_fast(True)
        tiling.clear_caches()
