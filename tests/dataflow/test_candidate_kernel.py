"""The numba candidate table equals the numpy closed forms (`tiling.candidate_table`), integer for integer."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwsim.dataflow.candidate_kernel import candidate_table_arrays
from hwsim.dataflow.ops import GemmOp, Phase
from hwsim.dataflow.sparsity import NM
from hwsim.dataflow.target import ArrayTarget
from hwsim.dataflow.tiling import MappingError, candidate_table


@st.composite
def cases(draw):
    nm = draw(st.sampled_from([None, NM(2, 4), NM(2, 8), NM(1, 4)]))
    dim = st.integers(1, 5000)
    op = GemmOp("g", "g", Phase.FF, m=draw(dim), k=draw(dim), n=draw(dim), groups=draw(st.integers(1, 40)), nm=nm,
                select_on_load=nm is not None and draw(st.booleans()),
                a_reuse=draw(st.sampled_from([1.0, 2.25, 9.0, 3.0])))
    kib = st.sampled_from([1, 8, 64, 512, 4096])
    target = ArrayTarget(
        rows=draw(st.sampled_from([2, 4, 8, 16, 32])), cols=draw(st.sampled_from([2, 4, 8, 16, 32])),
        mults=draw(st.sampled_from([2, 4, 8])), a_buffer_bytes=draw(kib) * 1024, b_buffer_bytes=draw(kib) * 1024,
        c_buffer_bytes=draw(kib) * 1024, elem_bytes=draw(st.sampled_from([1, 2])), acc_bytes=4,
        fill_cycles=draw(st.integers(0, 80)), vector_lanes=4, vector_latency=0, select_lanes=4,
        interleave=draw(st.booleans()), a_port_bytes=draw(st.sampled_from([0, 7, 64, 256])),
        b_port_bytes=draw(st.sampled_from([0, 5, 64])), c_port_bytes=draw(st.sampled_from([0, 3, 128])))
    return op, target


@settings(max_examples=400, deadline=None)
@given(cases())
def test_kernel_equals_numpy_closed_forms(case):
    op, target = case
    got = candidate_table_arrays(op, target)
    try:
        ref = candidate_table(op, target)
    except MappingError:
        assert len(got[0]) == 0
        return
    for name, arr in zip(("m_t", "k_t", "n_t", "compute", "dram", "tiles"), got):
        want = getattr(ref, name)
        assert arr.dtype == want.dtype, name
        np.testing.assert_array_equal(arr, want, err_msg=name)


def test_kernel_refuses_like_numpy_when_nothing_fits():
    op = GemmOp("g", "g", Phase.FF, m=64, k=64, n=64)
    tiny = ArrayTarget(rows=16, cols=16, mults=4, a_buffer_bytes=16, b_buffer_bytes=16, c_buffer_bytes=16,
                       elem_bytes=2, acc_bytes=4, fill_cycles=0, vector_lanes=4, vector_latency=0, select_lanes=4)
    assert len(candidate_table_arrays(op, tiny)[0]) == 0
    with pytest.raises(MappingError):
        candidate_table(op, tiny)
