"""rtl/coverage.py: which simulated array cycles the layer machine times exactly (hand-worked single-op cases)."""
from dataclasses import replace
from types import SimpleNamespace

import numpy as np

from hwsim.dataflow.ops import GemmOp, Phase
from hwsim.dataflow.sparsity import NM
from hwsim.dataflow.tiling import Mapping, gemm_tiles
from hwsim.rtl.coverage import run_coverage, schedule_coverage
from tests.rtl.test_layer import layer_config

CFG = layer_config()  # 8x8 x 4 multipliers, 2:8 k step 16, fill 19


def _sched(op, mp):
    t = gemm_tiles(op, mp, replace(CFG.target, interleave=True))
    return SimpleNamespace(mappings=(mp,), compute=t.compute_cycles, offsets=np.array([0, len(t)]))


def _op(groups=1):
    return GemmOp("g", "g", Phase.FF, 32, 512, 32, groups=groups, nm=NM.parse("2:8"))


def test_os_blocks_of_enough_steps_are_exact():
    op, mp = _op(), Mapping("os", "mnk", 32, 128, 32)  # 8 k steps per block = rows: back to back
    cov = schedule_coverage([op], _sched(op, mp), CFG)
    assert cov["differs"] == cov["not_lowered"] == 0
    assert cov["exact"] == cov["rtl_lowered"] == 4 * (16 * 8 + 19)


def test_short_os_blocks_and_ws_tiles_differ_by_the_stated_rules():
    op = _op()
    cov = schedule_coverage([op], _sched(op, Mapping("os", "mnk", 32, 64, 32)), CFG)  # 4 steps < 8
    rtl_tile = 15 * 8 + 4 + 19  # a block every 8 cycles (its 8 rows drain), the last one's 4 steps, fill
    # tile 0: 16 * 4 + 19; tiles 1-7 read and write partial sums: 2 * 32 * 32 * 4 B at the C port's 64 B/cycle
    assert cov["exact"] == 0 and (cov["os_short_sim"], cov["os_short_rtl"]) == (16 * 4 + 19, rtl_tile)
    assert (cov["port_sim"], cov["port_rtl"]) == (7 * 128, 7 * rtl_tile)
    cov = schedule_coverage([op], _sched(op, Mapping("ws", "mnk", 32, 128, 32)), CFG)  # m 32 >= rows
    assert cov["ws_rtl"] - cov["ws_sim"] == 2 * 4  # 2 cycles per tile


def test_grouped_and_input_stationary_not_lowered():
    op = _op(groups=2)
    cov = schedule_coverage([op], _sched(op, Mapping("os", "mnk", 32, 128, 32)), CFG)
    assert cov["exact"] == 0 and cov["not_lowered"] == 2 * 4 * (16 * 8 + 19)
    op = _op()
    cov = schedule_coverage([op], _sched(op, Mapping("is", "mnk", 32, 128, 32)), CFG)
    assert cov["exact"] == 0 and cov["not_lowered"] > 0


def test_run_coverage_partitions_the_gemm_cycles():
    r = run_coverage("resnet9", "sat-small", "bdwp", "2:8", batch=2)
    assert r["exact"] + r["differs"] + r["not_lowered"] == r["gemm_cycles"] > 0
    assert abs(r["exact_share"] + r["differs_share"] + r["not_lowered_share"] - 1) < 1e-12
    assert r["os_short_sim"] + r["ws_sim"] + r["port_sim"] == r["differs"]
