"""Offline scheduling: a three-op case worked on paper, the numba engine equal to its reference, the barrier
engine as the special case of a dependency chain, the dependency graph of a hand-built network."""
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hwsim
from hwsim.dataflow.lowering import Lowering, lower
from hwsim.dataflow.offline import dependencies, nominal_durations, priorities, static_program, to_csr, units
from hwsim.engine import run_offline, run_offline_reference, run_pipeline
from hwsim.engine.offline import owned_cycles
from hwsim.models import GraphBuilder
from hwsim.simulation import attribute

ENGINES = [run_offline, run_offline_reference]


def _arrays(*cols):
    return [np.array(c, dtype=np.int64) for c in cols]


def _program(durations, deps, unit, tiles=None):
    tiles = np.ones(len(deps), dtype=np.int64) if tiles is None else np.array(tiles, dtype=np.int64)
    return static_program(np.array(durations, dtype=float), deps, np.array(unit, dtype=np.int64), tiles)


def _run(runner, deps, unit):
    # three one-tile ops: (load bytes at 1 B/cycle, no latency; compute cycles); no stores, no selection. The
    # program is compiled with nominal durations equal to the compute cycles.
    offsets, load, store, select, compute = _arrays([0, 1, 2, 3], [10, 10, 10], [0, 0, 0], [0, 0, 0], [100, 50, 100])
    ptr, idx = to_csr(deps)
    program = _program([100, 50, 100], deps, unit)
    return runner(offsets, load, store, select, compute, 1.0, 0, np.array(unit, dtype=np.int64), *program, ptr, idx)


@pytest.mark.parametrize("runner", ENGINES)
def test_three_ops_worked_on_paper(runner):
    """G1 (array) -> V (vector, needs G1); G2 (array) needs neither, like a WU GEMM beside a BP vector pass.

    Program (nominal durations 100, 50, 100): G1 is the critical path (150 to the end), G2 and V are sinks, G2
    the longer. The array runs G1, then G2; the vector engine V. The array's queue loads G1 (0..10, alone: V
    waits for G1; compute 10..110), then G2 into the array's other buffer slot (10..20; its compute follows G1's,
    110..210); V's load is ready when G1 ends (110): 110..120 alone, compute 120..170, under G2.
    Iteration: 210 cycles; one after the other it would be 110 + 60 + 110 = 280.
    """
    start, end, busy, stall = _run(runner, [(), (0,), ()], [0, 1, 0])
    assert list(start) == [0, 110, 10] and list(end) == [110, 170, 210]
    assert list(busy) == [100, 50, 100] and list(stall) == [10, 10, 0]  # G2's load was hidden under G1
    assert list(attribute(start, end, np.array([0, 1, 0]))) == [110, 0, 100]  # V hidden under G2
    chain = _run(runner, [(), (0,), (1,)], [0, 1, 0])  # G2 needs V: nothing overlaps
    assert list(chain[0]) == [0, 110, 170] and list(chain[1]) == [110, 170, 280]


@pytest.mark.parametrize("runner", ENGINES)
def test_the_vector_engine_works_under_the_array_only_within_dependencies(runner):
    # V needs nothing: it loads at 0 beside G1's load; the two queues share the 1 B/cycle equally, so both 10-byte
    # loads take 20 cycles (0..20): G1 computes 20..120, V 20..70. G2 needs G1's output: even its load waits for
    # G1's end, 120..130 alone, compute 130..230
    start, end, _, _ = _run(runner, [(), (), (0,)], [0, 1, 0])
    assert list(start) == [0, 0, 120] and list(end) == [120, 70, 230]


def test_static_program_of_the_three_ops():
    """The list schedule on nominal durations behind the two cases above, worked by hand: segments (op, first
    tile, end tile, nominal start, nominal end) in order of nominal start."""
    seg = lambda p: [list(map(int, c)) for c in p]  # noqa: E731
    assert seg(_program([100, 50, 100], [(), (0,), ()], [0, 1, 0])) == [
        [0, 2, 1], [0, 0, 0], [1, 1, 1], [0, 100, 100], [100, 200, 150]]
    assert seg(_program([100, 50, 100], [(), (), (0,)], [0, 1, 0])) == [
        [0, 1, 2], [0, 0, 0], [1, 1, 1], [0, 0, 100], [100, 50, 200]]
    # the array runs a ready op while its most urgent one (1, rank 60) waits for the vector engine's op 0 (rank
    # 160); at 0 both units decide, the array first (sinks: 2 (100) and 3 (10))
    assert seg(_program([100, 50, 100, 10], [(), (0,), (), (1,)], [1, 0, 0, 0]))[0] == [2, 0, 1, 3]


def test_an_op_nothing_waits_for_yields_on_the_vector_engine():
    """A (array, 30) -> P (vector, 20) -> A2 (array, 10); U (vector, 100 over 10 tiles) waits for nothing and
    nothing waits for it, like an optimizer step. U starts at 0 and yields at 30, when P becomes ready (3 of its
    10 tiles done: 30% of its work); P runs 30..50, A2 50..60; U resumes at 50 (one split at A2's decision, merged
    back) and ends at 50 + 70 = 120."""
    seg_op, lo, hi, t0, t1 = _program([30, 20, 100, 10], [(), (0,), (), (1,)], [0, 1, 1, 0], [1, 1, 10, 1])
    assert list(seg_op) == [0, 2, 1, 3, 2] and list(lo) == [0, 0, 0, 0, 3] and list(hi) == [1, 3, 1, 1, 10]
    assert list(t0) == [0, 0, 30, 50, 50] and list(t1) == [30, 30, 50, 60, 120]


@st.composite
def offline_schedules(draw):
    n = draw(st.integers(1, 6))
    counts = draw(st.lists(st.integers(1, 8), min_size=n, max_size=n))
    total = sum(counts)
    ints = st.lists(st.integers(0, 5000), min_size=total, max_size=total)
    arrays = [np.array(draw(ints), dtype=np.int64) for _ in range(4)]
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    deps = [tuple(sorted(draw(st.sets(st.integers(0, j - 1), max_size=3)))) if j else () for j in range(n)]
    unit = np.array(draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)), dtype=np.int64)
    return offsets, arrays, draw(st.floats(0.5, 256.0)), draw(st.integers(0, 200)), unit, deps


def _topological(deps, data):
    """A random topological order of the dependency graph."""
    done, order = set(), []
    while len(order) < len(deps):
        ready = [j for j in range(len(deps)) if j not in done and set(deps[j]) <= done]
        j = data.draw(st.sampled_from(ready))
        done.add(j)
        order.append(j)
    return np.array(order, dtype=np.int64)


def _any_program(deps, unit, counts, data):
    """A program compiled with random nominal durations (so with random orders and yields)."""
    n = len(deps)
    durations = np.array(data.draw(st.lists(st.floats(1.0, 1e4), min_size=n, max_size=n)))
    return static_program(durations, deps, unit, counts)


@settings(max_examples=150, deadline=None)
@given(offline_schedules(), st.data())
def test_numba_equals_reference(sched, data):
    offsets, arrays, bpc, latency, unit, deps = sched
    args = (offsets, *arrays, bpc, latency, unit, *_any_program(deps, unit, np.diff(offsets), data), *to_csr(deps))
    for a, b in zip(run_offline(*args), run_offline_reference(*args)):
        np.testing.assert_array_equal(a, b)
    start, end, busy, stall = run_offline(*args)
    for j, d in enumerate(deps):
        assert all(start[j] >= end[i] for i in d)  # never before its inputs
    assert (busy + stall <= end - start).all()


@settings(max_examples=100, deadline=None)
@given(offline_schedules(), st.data())
def test_a_dependency_chain_is_the_barrier_engine(sched, data):
    offsets, arrays, bpc, latency, unit, _ = sched
    chain = [(j - 1,) if j else () for j in range(len(unit))]
    program = _any_program(chain, unit, np.diff(offsets), data)
    start, end, busy, stall = run_offline(offsets, *arrays, bpc, latency, unit, *program, *to_csr(chain))
    cycles, busy0, stall0 = run_pipeline(offsets, *arrays, bpc, latency)
    np.testing.assert_array_equal(end - start, cycles)
    np.testing.assert_array_equal(busy, busy0)
    np.testing.assert_array_equal(stall, stall0)
    np.testing.assert_array_equal(attribute(start, end, unit), cycles)
    np.testing.assert_array_equal(owned_cycles(start, end, unit), cycles)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 60), st.integers(0, 40), st.integers(0, 1)), max_size=40))
def test_owned_cycles_equal_attribute(ops):
    """The numba split of the iteration's cycles equals the numpy `attribute` (start <= end, as the engine gives)."""
    start, length, unit = (np.array([op[i] for op in ops], dtype=np.int64) for i in range(3))
    end = start + length
    got, want = owned_cycles(start, end, unit), attribute(start, end, unit)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


def test_kernel_source_equals_reference_without_jit(tmp_path):
    import os
    import subprocess
    import sys

    script = tmp_path / "nojit.py"
    script.write_text(
        "import numpy as np, numba\n"
        "from hwsim.engine import run_offline, run_offline_reference\n"
        "from hwsim.dataflow.offline import static_program, to_csr\n"
        "rng = np.random.default_rng(3)\n"
        "arrays = [rng.integers(0, 5000, 200).astype(np.int64) for _ in range(4)]\n"
        "offsets = np.array([0, 10, 90, 91, 150, 200], dtype=np.int64)\n"
        "unit = np.array([0, 1, 0, 1, 0], dtype=np.int64)\n"
        "deps = [(), (0,), (), (1, 2), (0,)]\n"
        "program = static_program(np.array([500.0, 80.0, 3000.0, 20.0, 700.0]), deps, unit, np.diff(offsets))\n"
        "a = run_offline(offsets, *arrays, 37.5, 13, unit, *program, *to_csr(deps))\n"
        "b = run_offline_reference(offsets, *arrays, 37.5, 13, unit, *program, *to_csr(deps))\n"
        "assert all((x == y).all() for x, y in zip(a, b))\n"
        "from hwsim.engine.offline import owned_cycles\n"
        "from hwsim.simulation import attribute\n"
        "assert (owned_cycles(a[0], a[1], unit) == attribute(a[0], a[1], unit)).all()\n"
        "assert numba.config.DISABLE_JIT\n"
    )
    subprocess.run([sys.executable, str(script)], check=True, env={**os.environ, "NUMBA_DISABLE_JIT": "1"})


def _block():
    b = GraphBuilder("block", (8, 8, 8))
    x = b.relu(b.bn(b.conv("input", 16, 3, name="c1"), name="bn1"), name="r1")  # relu fused into bn1
    y = b.bn(b.conv(x, 16, 3, name="c2"), name="bn2")
    z = b.relu(b.sum(x, y, name="add"), name="r2")
    b.linear(b.flatten(b.global_pool(z, name="gap"), name="flat"), 10, name="fc")
    return b.build()


def test_dependencies_of_a_hand_built_block():
    how = Lowering(batch=2)
    ops = lower(_block(), how)
    name = {op.name: j for j, op in enumerate(ops)}
    deps = {op.name: {ops[i].name for i in d} for op, d in zip(ops, dependencies(_block(), ops, how))}
    assert deps["c1.ff"] == set()
    assert deps["bn1.ff"] == {"c1.ff"}
    assert deps["c2.ff"] == {"bn1.ff"}  # r1 is computed in bn1's pass
    assert deps["add.ff"] == {"bn1.ff", "bn2.ff"}
    assert deps["gap.ff"] == {"add.ff"}  # r2 fused into the add; flatten is shape-only
    assert deps["fc.bp"] == {"fc.ff"} | {"gap.ff"}  # the loss gradient, and the input it was computed from
    assert deps["fc.wu"] == {"fc.ff", "gap.ff"}
    assert deps["fc.update"] == {"fc.wu", "fc.bp"}  # WAR: fc.bp reads the weights the update overwrites
    assert deps["gap.bp"] == {"fc.bp", "gap.ff", "add.ff"}
    assert deps["add.bp"] == {"gap.bp", "add.ff", "bn1.ff", "bn2.ff"}
    assert deps["bn2.bp"] == {"add.bp", "bn2.ff", "c2.ff"}
    assert deps["c2.wu"] == {"bn2.bp", "bn1.ff"}  # beside bn1's BP: it does not need c2.bp
    assert deps["bn1.bp"] == {"c2.bp", "add.bp", "bn1.ff", "c1.ff"}  # both branches' gradients
    assert deps["c1.wu"] == {"bn1.bp"} and "c1.bp" not in name  # nothing flows into the image
    assert deps["c2.update"] == {"c2.wu", "c2.bp"} and deps["c1.update"] == {"c1.wu"}
    assert all(max(d, default=-1) < j for j, d in enumerate(dependencies(_block(), ops, how)))


def test_priorities_put_the_critical_path_first_and_sinks_last():
    # 0 -> 1 -> 2 on the array; 3 and 4 wait for 0 and nothing waits for them (like optimizer steps).
    # Longest path to the end: 2: 10, 1: 20, 3: 5, 4: 50, 0: 10 + 50 = 60. Sinks (2, 3, 4) go last.
    durations = np.array([10.0, 10.0, 10.0, 5.0, 50.0])
    deps = [(), (0,), (1,), (0,), (0,)]
    assert list(priorities(durations, deps)) == [0, 1, 4, 2, 3]
    deps[2] = (1, 3)  # 2 waits for 3 now: 3 is no sink (5 + 10 = 15 to the end), 1 still longer (20)
    assert list(priorities(durations, deps)) == [0, 1, 3, 4, 2]
    assert list(priorities(np.ones(3), [(), (), ()])) == [0, 1, 2]  # ties: lowering order


def test_units():
    ops = lower(_block(), Lowering(batch=1))
    assert [u for op, u in zip(ops, units(ops)) if op.kind == "gemm"] == [0] * sum(op.kind == "gemm" for op in ops)
    assert set(units([op for op in ops if op.kind != "gemm"])) == {1}


@pytest.mark.parametrize("method,nm", [("dense", None), ("bdwp", "2:8")])
def test_offline_scheduling_hides_vector_passes_and_can_be_switched_off(method, nm):
    on = hwsim.simulate("resnet18-s1", "sat-vcu1525", method, nm, 8, resolution=64, classes=200)
    off = hwsim.simulate("resnet18-s1", "sat-vcu1525", method, nm, 8, resolution=64, classes=200, offline=False)
    assert on.cycles < off.cycles
    vec = lambda r: r.ops[r.ops.kind != "gemm"].cycles.sum()  # noqa: E731
    assert vec(on) < vec(off)
    assert (off.ops.end - off.ops.start == off.ops.cycles).all()  # one after the other
    assert on.options["offline"] and not off.options["offline"]


def test_offline_engines_agree_on_a_real_model():
    fast = hwsim.simulate("resnet9", "sat-small", "bdwp", "2:4", 2)
    ref = hwsim.simulate("resnet9", "sat-small", "bdwp", "2:4", 2, engine="reference")
    pd.testing.assert_frame_equal(fast.ops, ref.ops)


def test_cli_no_offline(capsys):
    import json

    from hwsim.cli import main

    assert main(["simulate", "--model", "resnet9", "--batch", "2", "--no-offline", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["options"]["offline"] is False
    assert main(["simulate", "--model", "resnet9", "--batch", "2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["cycles"] < res["cycles"]


def _two_convs():
    b = GraphBuilder("two-convs", (16, 16, 16))
    x = b.conv(b.conv("input", 32, 3, name="c1"), 32, 3, name="c2")
    b.linear(b.flatten(b.global_pool(x, name="gap"), name="flat"), 10, name="fc")
    return b.build()


@pytest.mark.parametrize("method,nm", [("dense", None), ("bdwp", "2:8")])
def test_the_update_waits_for_the_bp_gemm_that_reads_its_weights(method, nm):
    """Write after read: c2.update overwrites the weights (and pre-generated N:M copies) that c2.bp reads, so it
    starts only after c2.bp has ended, though its own input (c2.wu) may be ready earlier."""
    ops = hwsim.simulate(_two_convs(), "sat-vcu1525", method, nm, 32).ops.set_index("name")
    for layer in ("c2", "fc"):
        assert ops.start[f"{layer}.update"] >= ops.end[f"{layer}.bp"]
        assert ops.start[f"{layer}.update"] >= ops.end[f"{layer}.wu"]


def _store_case(runner, nominal):
    """G (array, one tile: load 10 B at 1 B/cycle, compute 100, store 10 B) and V (vector, independent, two tiles
    of 10 B load and 10 cycles compute), with the program's nominal (start, span) of each."""
    offsets, load, store, select, compute = _arrays([0, 1, 3], [10, 10, 10], [10, 0, 0], [0, 0, 0], [100, 10, 10])
    ptr, idx = to_csr([(), ()])
    (s0, d0), (s1, d1) = nominal
    return runner(offsets, load, store, select, compute, 1.0, 0, np.array([0, 1]), np.array([0, 1]),
                  np.array([0, 0]), np.array([1, 2]), np.array([s0, s1], dtype=float),
                  np.array([s0 + d0, s1 + d1], dtype=float), ptr, idx)


@pytest.mark.parametrize("runner", ENGINES)
def test_a_queue_never_waits_for_the_other_queues_request(runner):
    """Each unit has its own DMA queue; the two share the bandwidth equally while both are served.

    G's load and V's first load are both ready at 0: 10 B each at 1 B/cycle, shared, so both end at 20 (G computes
    20..120, V 20..30). G's store waits for G's compute (ready at 120), but V's queue does not wait for it: V's
    second load goes alone, 20..30 (compute 30..40). G's store then goes alone, 120..130.
    """
    start, end, busy, stall = _store_case(runner, [(0, 100), (0, 20)])
    assert list(start) == [0, 0] and list(end) == [130, 40]
    assert list(busy) == [100, 20] and list(stall) == [20, 20]


@pytest.mark.parametrize("runner", ENGINES)
def test_the_programs_nominal_spans_do_not_enter_the_timing(runner):
    """The program fixes each unit's order of tiles; when a request is served depends on its data and on the other
    queue alone, not on where the nominal machine placed it (here V nominally after G's compute)."""
    early, late = _store_case(runner, [(0, 100), (0, 20)]), _store_case(runner, [(0, 100), (150, 20)])
    for a, b in zip(early, late):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("runner", ENGINES)
def test_a_units_store_goes_before_its_load_into_the_same_slot(runner):
    """One op, three tiles (load 10, compute 5, store 10 at 1 B/cycle): load0 0..10, comp0 10..15, load1 10..20,
    store0 (ready 15, after load1 in the unit's order) 20..30, comp1 20..25, load2 (slot of tile 0, free at 15;
    after store0) 30..40, store1 40..50, comp2 40..45, store2 50..60: the barrier engine's order."""
    offsets, load, store, select, compute = _arrays([0, 3], [10] * 3, [10] * 3, [0] * 3, [5] * 3)
    ptr, idx = to_csr([()])
    start, end, _, _ = runner(offsets, load, store, select, compute, 1.0, 0, np.array([0]), np.array([0]),
                              np.array([0]), np.array([3]), np.array([0.0]), np.array([15.0]), ptr, idx)
    assert (start[0], end[0]) == (0, 60)
    assert run_pipeline(offsets, load, store, select, compute, 1.0, 0)[0][0] == 60


def test_under_offline_scheduling_each_unit_gets_only_its_banks_ports():
    """sat-vcu1525: an output-stationary 1:8 GEMM needs 2 KiB a cycle of A ports (32 rows x 32 FP16); one op after
    another it gets
    all 1,024 B, offline only the GEMM banks' 896 B: 8/7 the cycles. A vector pass reading 4 B per element through
    the vector banks' 128 B a cycle takes 32 elements a cycle, not the 64 its 256 lanes would do at 4 ops each."""
    from hwsim.config import load_arch
    from hwsim.dataflow.ops import GemmOp, Phase, VectorOp
    from hwsim.dataflow.sparsity import NM
    from hwsim.simulation import build_schedule

    cfg = load_arch("sat-vcu1525")
    gemm = GemmOp("g", "g", Phase.FF, 4096, 4096, 1024, 1, NM(1, 8), False, 1.0)
    alone = build_schedule([gemm], cfg, offline=False, dataflows=("os",)).compute.sum()
    shared = build_schedule([gemm], cfg, offline=True, dataflows=("os",)).compute.sum()
    assert shared / alone == pytest.approx(1024 / 896, rel=0.01)
    vec = VectorOp("v", "v", Phase.FF, 1 << 20, 4, 4, 0)
    offline = build_schedule([vec], cfg, offline=True)
    assert (offline.compute - cfg.vector.latency).sum() == (1 << 20) * 4 // 128
    barrier = build_schedule([vec], cfg, offline=False)
    assert (barrier.compute - cfg.vector.latency).sum() == (1 << 20) * 4 // 256  # lanes-bound with all ports


def test_the_program_ignores_every_field_a_monotonicity_claim_varies(monkeypatch):
    """The program's nominal op times come from work counts and the array alone: a configuration with more DRAM
    bandwidth, less latency, bigger buffers, wider ports and more lanes compiles the same nominal times (its
    tile counts may differ, and with them where an optimizer step's segments fall)."""
    import hwsim.simulation as simulation
    from hwsim.config import load_arch

    seen = []
    real = simulation.nominal_durations
    monkeypatch.setattr(simulation, "nominal_durations", lambda *args: seen.append(real(*args)) or seen[-1])
    cfg = load_arch("sat-vcu1525")
    more = cfg.derive({"dram.channels": 8, "dram.efficiency": 1.0, "dram.latency_ns": 50.0, "buffers.a_kib": 8192,
                       "buffers.b_kib": 4096, "buffers.c_kib": 4096, "ports.a_bytes": 2048, "ports.b_bytes": 1024,
                       "ports.c_bytes": 2048, "vector.lanes": 512, "selector.lanes": 128})
    for c in (cfg, more):
        simulation.clear_caches()  # the list schedule is kept per nominal machine: compute it for each
        simulation.simulate("resnet9", c, "bdwp", "2:8", 2)
    assert len(seen) == 2 and len(seen[0]) > 50
    np.testing.assert_array_equal(seen[0], seen[1])


def test_nominal_durations_by_hand():
    """sat-vcu1525's 4,096 multipliers: nominal 256 B of DRAM, 256 vector lanes and 64 selector lanes a cycle."""
    from hwsim.dataflow.ops import GemmOp, Phase, VectorOp
    from hwsim.dataflow.sparsity import NM

    ops = [GemmOp("g", "g", Phase.FF, 64, 64, 64),  # 64 cycles of MACs; 3 x 8 KiB = 24,576 B: 96 cycles
           GemmOp("s", "s", Phase.FF, 64, 64, 64, nm=NM(2, 8)),  # 16 cycles; 8 + 2 + 8 KiB: 72
           VectorOp("v", "v", Phase.FF, 1 << 20, 4, 4, 2),  # 16,384 cycles of lanes; 6 MiB: 24,576
           VectorOp("u", "u", Phase.WU, 1000, 4, 10, 8, "update", 2)]  # 2,000 selections: 31.25; 18,000 B: 70.3125
    assert list(nominal_durations(ops, 4096, 2)) == [96.0, 72.0, 24576.0, 70.3125]
