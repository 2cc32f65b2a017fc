"""The tile program (rtl/program.py) and the layer machine's timing rules (rtl/layer.py), without a simulator:
hand-worked tile cycles, the schedule's bytes carried over unchanged, slots and partial-sum hand-over, refusals."""
from dataclasses import replace

import numpy as np
import pytest

from hwsim.dataflow.ops import GemmOp, Phase
from hwsim.dataflow.sparsity import NM
from hwsim.dataflow.tiling import Mapping, gemm_tiles, tile_compute_cycles, tile_walk
from hwsim.engine import run_reference
from hwsim.errors import ConfigError
from hwsim.rtl.layer import LayerParams, command_layout
from hwsim.rtl.params import CoreParams
from hwsim.rtl.program import encode, lower, predict, transfer_cycles
from hwsim.simulation import build_schedule
from tests.rtl.test_layer import SLOTS, layer_config

CFG = layer_config()  # 8x8 x 4 multipliers, PE depth 3: fill = 8 + 8 + 3 = 19
BIG = LayerParams(CoreParams.from_config(CFG, "2:8"), **SLOTS)


def test_tile_cycles_hand_worked():
    assert BIG.core.fill_cycles == 19
    # OS, 4 blocks of 36 steps: back to back, as the simulator charges: 4 * 36 + 19
    assert BIG.tile_cycles(False, 4, 36) == 163 == tile_compute_cycles("os", 32, 576, 8, 8, 8, 16, 19)
    # OS, 2 blocks of 5 steps: a block cannot start before the last one's 8 rows drained: 8 + 5 + 19 (sim 2*5+19)
    assert BIG.tile_cycles(False, 2, 5) == 32
    assert tile_compute_cycles("os", 16, 80, 8, 8, 8, 16, 19) == 29
    # WS, 2 blocks of 20 rows: 2 cycles before the first row (its weights), then as the simulator: 2 + 40 + 19
    assert BIG.tile_cycles(True, 2, 20) == 61
    assert tile_compute_cycles("ws", 20, 256, 8, 8, 8, 16, 19) == 59
    # WS, 2 blocks of 5 rows: period 8 (the weight preload of the next block), the last block ends after 5
    assert BIG.tile_cycles(True, 2, 5) == 2 + 8 + 5 + 19
    assert tile_compute_cycles("ws", 5, 256, 8, 8, 8, 16, 19) == 2 * 8 + 19


def test_transfer_cycles_hand_worked():
    # 100 bytes at 25.6 B/cycle: 4 cycles of data after 10 of latency; 3 words fit in that
    assert transfer_cycles(100, 3, 25.6, 10, store=False) == 14
    # 20 words cannot arrive faster than one per cycle: 10 + 20
    assert transfer_cycles(100, 20, 25.6, 10, store=False) == 30
    # a store of 20 rows: rows leave one per cycle after the command, completion a cycle after: 22
    assert transfer_cycles(100, 20, 25.6, 10, store=True) == 22
    assert transfer_cycles(0, 5, 25.6, 10, store=True) == 0


def _op(m, k, n, nm="2:8"):
    return GemmOp("g", "g", Phase.FF, m, k, n, nm=NM.parse(nm) if nm else None)


@pytest.mark.parametrize("order", ["mkn", "mnk", "kmn", "knm", "nkm", "nmk"])
@pytest.mark.parametrize("dataflow", ["os", "ws"])
def test_program_follows_the_schedule(order, dataflow):
    """Bytes are the engine's; slots alternate when a new tile loads; a C block stored before its k loop is
    over goes exactly where the tile resuming it loads its partial sums from; every block is finished once."""
    op = _op(24, 512, 24)
    mp = Mapping(dataflow, order, 16, 256, 16)
    target = replace(CFG.target, interleave=True)
    prog = lower(op, mp, target, BIG)
    timed, walk = gemm_tiles(op, mp, target), tile_walk(op, mp)
    assert [c["ld_bytes"] for c in prog.commands] == list(timed.load_bytes)
    assert [c["st_bytes"] for c in prog.commands] == list(timed.store_bytes)
    a_slot = b_slot = c_slot = 1
    loaded_at = {}
    for t, c in enumerate(prog.commands):
        a_slot ^= int(walk.new_a[t])
        b_slot ^= int(walk.new_b[t])
        c_slot ^= int(walk.new_c[t])
        assert (c["a_slot"], c["b_slot"], c["c_slot"]) == (a_slot, b_slot, c_slot)
        assert bool(c["ld_a"]) == bool(walk.new_a[t]) and bool(c["ld_b"]) == bool(walk.new_b[t])
        assert c["c_first"] == int(walk.first_k[t])
        if c["ld_c"]:
            loaded_at[c["ld_addr"] + c["ld_a"] + c["ld_b"]] = t
    partial = [(t, c) for t, c in enumerate(prog.commands) if c["st_rows"] and not walk.final_k[t]]
    assert len(partial) == len(loaded_at)
    for t, c in partial:
        assert loaded_at[c["st_addr"]] > t
    assert len(prog.out_addr) == 4 and len(set(prog.out_addr.values())) == 4
    if order.index("k") < order.index("m") and order.index("k") < order.index("n"):
        assert partial, "k outermost: partial sums must go out and come back"


def test_command_encoding_round_trip():
    prog = lower(_op(24, 512, 24), Mapping("os", "mkn", 16, 256, 16), replace(CFG.target, interleave=True), BIG)
    layout = command_layout(BIG)
    for cmd in prog.commands:
        word = encode(cmd, BIG)
        for name, field in layout:
            assert (word >> field.offset) & ((1 << field.width) - 1) == cmd[name], name
    with pytest.raises(ConfigError, match="count"):
        encode({**prog.commands[0], "count": 1 << 20}, BIG)


@pytest.mark.parametrize("change,match", [
    ({"dataflow": "is"}, "dataflow"),
    ({"groups": 2}, "groups"),
    ({"select_on_load": True}, "select_on_load"),
    ({"nm": "dense"}, "nm"),
    ({"fill": 20}, "fill_cycles"),
    ({"interleave": False}, "interleave"),
])
def test_refused_with_the_field_named(change, match):
    op = _op(24, 512, 24, None if change.get("nm") == "dense" else "2:8")
    if "groups" in change:
        op = replace(op, groups=2)
    if "select_on_load" in change:
        op = replace(op, select_on_load=True)
    target = replace(CFG.target, interleave=change.get("interleave", True))
    if "fill" in change:
        target = replace(target, fill_cycles=change["fill"])
    mp = Mapping(change.get("dataflow", "os"), "mkn", 16, 256, 16)
    with pytest.raises(ConfigError, match=match):
        lower(op, mp, target, BIG)


def test_buffers_too_small_refused():
    small = LayerParams(BIG.core, 4, 64, 64, 128)
    with pytest.raises(ConfigError, match="a_slot"):
        lower(_op(24, 512, 24), Mapping("os", "mkn", 16, 256, 16), replace(CFG.target, interleave=True), small)


def test_predict_rebuilds_the_engine_run():
    """predict()'s simulator half equals the engine on the same schedule; the layer machine's half moves by no
    more than its bound."""
    op = _op(40, 512, 40)
    for df in ("os", "ws"):
        sched = build_schedule([op], CFG, True, False, dataflows=(df,))
        prog = lower(op, sched.mappings[0], replace(CFG.target, interleave=True), BIG)
        pred = predict(prog, BIG, CFG.dram_bytes_per_cycle, CFG.dram_latency_cycles)
        cycles, busy, _ = run_reference(*sched.engine_args(CFG))
        assert pred["sim"] == (int(cycles[0]), int(busy[0]))
        assert pred["rtl"][1] - pred["sim"][1] == int(pred["tile_diff"].sum())
        assert abs(pred["rtl"][0] - pred["sim"][0]) <= pred["bound"]
        counts = np.array([c["count"] for c in prog.commands])
        if df == "os":  # back to back exactly where a block has at least rows (= cols) steps
            assert np.all(pred["tile_diff"][counts >= 8] == 0)
        else:  # the first block's weights: 2 cycles per tile when m >= rows
            assert np.all(pred["tile_diff"][counts >= 8] == 2)


def test_program_invariants_on_random_schedules():
    """Random shapes, tile sizes, loop orders and dataflows: the engine's bytes carried over, every C block
    finished exactly once and at its own address, every partial-sum store picked up later by a load of the
    same block, loads laid out back to back."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    @settings(max_examples=60, deadline=None)
    @given(st.integers(1, 40), st.integers(1, 6), st.integers(1, 40), st.sampled_from(["os", "ws"]),
           st.sampled_from(["mkn", "mnk", "kmn", "knm", "nkm", "nmk"]), st.integers(0, 2), st.integers(0, 2),
           st.integers(0, 2))
    def check(m, k_groups, n, dataflow, order, mi, ki, ni):
        op = _op(m, k_groups * 128, n)
        mp = Mapping(dataflow, order, min(8 << mi, m), min(128 << ki, op.k), min(8 << ni, n))
        target = replace(CFG.target, interleave=True)
        prog = lower(op, mp, target, LayerParams(BIG.core, 1 << 20, 1 << 20, 1 << 20, 1 << 20))
        timed, walk = gemm_tiles(op, mp, target), tile_walk(op, mp)
        assert [c["ld_bytes"] for c in prog.commands] == list(timed.load_bytes)
        addr = 0
        for c in prog.commands:
            assert c["ld_addr"] == addr and c["count"] >= 1 and c["blk_a"] >= 1 and c["blk_n"] >= 1
            addr += c["ld_a"] + c["ld_b"] + c["ld_c"]
        finals = [c["st_addr"] for t, c in enumerate(prog.commands) if c["st_rows"] and walk.final_k[t]]
        assert sorted(finals) == sorted(prog.out_addr.values())
        assert len(finals) == len(set(finals)) == len({(int(a), int(b)) for a, b in zip(walk.m0, walk.n0)})
        resumes = {c["ld_addr"] + c["ld_a"] + c["ld_b"]: t for t, c in enumerate(prog.commands) if c["ld_c"]}
        for t, c in enumerate(prog.commands):
            if c["st_rows"] and not walk.final_k[t]:
                r = resumes[c["st_addr"]]
                assert r > t and (walk.m0[r], walk.n0[r]) == (walk.m0[t], walk.n0[t])
                assert prog.commands[r]["ld_c"] == c["st_rows"]

    check()
