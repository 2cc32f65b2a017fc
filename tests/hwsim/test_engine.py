"""The numba tile pipeline equals its plain reference, and behaves like the machine it describes."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwsim.engine import run_pipeline, run_reference


@st.composite
def schedules(draw):
    n_ops = draw(st.integers(1, 5))
    counts = draw(st.lists(st.integers(1, 12), min_size=n_ops, max_size=n_ops))
    total = sum(counts)
    ints = st.lists(st.integers(0, 10_000), min_size=total, max_size=total)
    arrays = [np.array(draw(ints), dtype=np.int64) for _ in range(4)]
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    bpc = draw(st.floats(0.5, 512.0, allow_nan=False))
    latency = draw(st.integers(0, 200))
    return offsets, arrays, bpc, latency


@settings(max_examples=200, deadline=None)
@given(schedules())
def test_numba_equals_reference(sched):
    offsets, arrays, bpc, latency = sched
    fast = run_pipeline(offsets, *arrays, bpc, latency)
    ref = run_reference(offsets, *arrays, bpc, latency)
    for a, b in zip(fast, ref):
        np.testing.assert_array_equal(a, b)


def _one_op(load, store, select, compute, bpc=1.0, latency=0):
    arrays = [np.array(x, dtype=np.int64) for x in (load, store, select, compute)]
    offsets = np.array([0, len(compute)], dtype=np.int64)
    return [int(x[0]) for x in run_pipeline(offsets, *arrays, bpc, latency)]


def test_compute_bound_hides_transfers_behind_double_buffering():
    # 10 tiles of 100 compute cycles, 50 cycles of load each: only the first load is exposed.
    cycles, busy, stall = _one_op([50] * 10, [0] * 10, [0] * 10, [100] * 10)
    assert busy == 1000
    assert cycles == 50 + 1000
    assert stall == 50


def test_memory_bound_is_limited_by_the_dma_queue():
    # loads of 100 cycles, compute of 10: the array waits on DRAM; the DMA queue is the critical path.
    cycles, busy, stall = _one_op([100] * 10, [0] * 10, [0] * 10, [10] * 10)
    assert cycles == 10 * 100 + 10
    assert stall == cycles - busy


def test_stores_share_the_dma_queue():
    with_store = _one_op([100] * 4, [100] * 4, [0] * 4, [10] * 4)[0]
    without = _one_op([100] * 4, [0] * 4, [0] * 4, [10] * 4)[0]
    assert with_store == without + 4 * 100 - 10  # the last store runs after the last compute


def test_exposed_selection_delays_compute():
    hidden = _one_op([10] * 4, [0] * 4, [0] * 4, [100] * 4)[0]
    exposed = _one_op([10] * 4, [0] * 4, [300] * 4, [100] * 4)[0]
    assert exposed == 10 + 4 * 300 + 100  # the selector becomes the bottleneck stage
    assert exposed > hidden


def test_transfer_latency_and_rate():
    # 1000 bytes at 10 B/cycle with 7 cycles latency: 107 cycles, then 1 compute cycle.
    assert _one_op([1000], [0], [0], [1], bpc=10.0, latency=7)[0] == 108


def test_ops_run_back_to_back():
    arrays = [np.array(x, dtype=np.int64) for x in ([5, 5], [0, 0], [0, 0], [20, 30])]
    cycles, _, _ = run_pipeline(np.array([0, 1, 2], dtype=np.int64), *arrays, 1.0, 0)
    assert list(cycles) == [25, 35]


@pytest.mark.parametrize("runner", [run_pipeline, run_reference])
def test_empty_schedule(runner):
    z = np.zeros(0, dtype=np.int64)
    cycles, busy, stall = runner(np.array([0], dtype=np.int64), z, z, z, z, 1.0, 0)
    assert len(cycles) == 0


def test_kernel_source_equals_reference_without_jit(tmp_path):
    """The kernel's Python source (NUMBA_DISABLE_JIT=1) also equals the reference: no numba-only semantics."""
    import os
    import subprocess
    import sys

    script = tmp_path / "nojit.py"
    script.write_text(
        "import numpy as np\n"
        "from hwsim.engine import run_pipeline, run_reference\n"
        "rng = np.random.default_rng(7)\n"
        "arrays = [rng.integers(0, 5000, 300).astype(np.int64) for _ in range(4)]\n"
        "offsets = np.array([0, 10, 150, 151, 300], dtype=np.int64)\n"
        "a = run_pipeline(offsets, *arrays, 37.5, 13)\n"
        "b = run_reference(offsets, *arrays, 37.5, 13)\n"
        "assert all((x == y).all() for x, y in zip(a, b))\n"
        "import numba\n"
        "assert numba.config.DISABLE_JIT\n"
    )
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    subprocess.run([sys.executable, str(script)], check=True, env=env)


@st.composite
def random_ops(draw):
    """Random GEMM and vector ops, mapped and tiled for a random small SAT, as simulate() would."""
    from hwsim.dataflow.ops import GemmOp, Phase, VectorOp
    from hwsim.dataflow.sparsity import NM

    ops = []
    for i in range(draw(st.integers(1, 4))):
        if draw(st.booleans()):
            nm = draw(st.sampled_from([None, NM(2, 4), NM(2, 8), NM(1, 8)]))
            quantum = nm.group if nm else 1
            ops.append(GemmOp(f"g{i}", "g", Phase.FF, draw(st.integers(1, 600)), quantum * draw(st.integers(1, 64)),
                              draw(st.integers(1, 96)), draw(st.integers(1, 3)), nm,
                              bool(nm) and draw(st.booleans()), draw(st.sampled_from([1.0, 2.25, 9.0]))))
        else:
            ops.append(VectorOp(f"v{i}", "v", Phase.BP, draw(st.integers(1, 300_000)), draw(st.floats(0.5, 10)),
                                draw(st.floats(0.1, 8)), draw(st.floats(0.1, 8)),
                                select_passes=draw(st.integers(0, 2))))
    return ops


@settings(max_examples=60, deadline=None)
@given(random_ops(), st.booleans())
def test_numba_equals_reference_on_random_ops(ops, interleave):
    from hwsim.config import load_arch
    from hwsim.simulation import build_schedule

    cfg = load_arch("sat-small")
    args = build_schedule(ops, cfg, interleave).engine_args(cfg)
    for a, b in zip(run_pipeline(*args), run_reference(*args)):
        np.testing.assert_array_equal(a, b)


def _op_cycles(runner, load, store, compute, bpc, latency):
    arrays = [np.array(x, dtype=np.int64) for x in (load, store, [0] * len(load), compute)]
    return int(runner(np.array([0, len(load)], dtype=np.int64), *arrays, bpc, latency)[0][0])


@pytest.mark.parametrize("runner", [run_pipeline, run_reference])
def test_store_pays_the_latency_too(runner):
    # load 100 B at 1 B/cycle + 5 latency -> 105; compute 10 -> 115; store 50 B: 115 + 5 + 50 = 170
    assert _op_cycles(runner, [100], [50], [10], 1.0, 5) == 170
    # two tiles: load0 0..105, comp0 105..115, load1 105..210, store0 queued behind it 210..265,
    # comp1 210..220, store1 265..320
    assert _op_cycles(runner, [100, 100], [50, 50], [10, 10], 1.0, 5) == 320


@pytest.mark.parametrize("runner", [run_pipeline, run_reference])
def test_transfer_cycles_round_up(runner):
    # 1001 B at 10 B/cycle: 101 cycles (a partial beat is a whole cycle), + 7 latency, + 1 compute
    assert _op_cycles(runner, [1001], [0], [1], 10.0, 7) == 109
    # a store of 1 B at 64 B/cycle still takes one cycle after its latency: 1 + 2 load, 3 compute, 2 + 1 store
    assert _op_cycles(runner, [1], [1], [3], 64.0, 2) == 3 + 3 + 3
