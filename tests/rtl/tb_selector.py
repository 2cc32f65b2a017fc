"""cocotb bench for sat_selector: dense B tiles with many ties stream through the lanes; each group's kept
values and indices must equal hwsim.functional.compress (ties to the lower index), and a gap-free tile must
take `tile_select_cycles` from first weight in to last group out. Config JSON in HWSIM_RTL_CFG."""
import json
import os

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge

from hwsim import functional as F
from hwsim.dataflow.tiling import tile_select_cycles

CFG = json.loads(os.environ.get("HWSIM_RTL_CFG", "{}"))


def tie_heavy(rng, shape, bits):
    """Values from a small pool (+-x pairs, extremes, zeros), so equal magnitudes are common."""
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    pool = np.array([lo, hi, -hi, 0, 1, -1, 2, -2, 7, -7, lo + 1])
    x = rng.choice(pool, size=shape)
    wild = rng.random(shape) < 0.3
    return np.where(wild, rng.integers(lo, hi + 1, size=shape), x)


@cocotb.test()
async def random_groups(dut):
    cfg = CFG
    rng = np.random.default_rng(cocotb.RANDOM_SEED)
    lanes, n, m, w, ib = cfg["lanes"], cfg["keep"], cfg["group"], cfg["width"], cfg["idx_width"]
    dtype = np.int8 if w == 8 else np.int16
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.in_valid.value = 0
    dut.in_data.value = 0
    dut.rst.value = 1
    for _ in range(3):
        await FallingEdge(dut.clk)
    dut.rst.value = 0
    await FallingEdge(dut.clk)
    tiles = int(os.environ.get("HWSIM_RTL_TILES", cfg.get("tiles", 20)))
    for t in range(tiles):
        k = m * int(rng.integers(1, 5))
        ncols = int(rng.integers(1, 2 * lanes + 2))
        b = tie_heavy(rng, (k, ncols), w).astype(dtype)
        want_v, want_i = F.compress(b, n, m, axis=0)
        groups = [(c, g) for c in range(ncols) for g in range(k // m)]  # dealt round-robin to the lanes
        rounds = -(-len(groups) // lanes)
        gaps = t % 2 == 1  # odd tiles: random idle cycles between weights (no timing check)
        got = {}
        cycle, last_out = 0, None
        feed = [(r, e) for r in range(rounds) for e in range(m)]
        pending = list(feed)
        while pending or len(got) < len(groups):
            if pending and not (gaps and rng.random() < 0.3):
                r, e = pending.pop(0)
                word = 0
                for lane in range(lanes):
                    f = r * lanes + lane
                    v = 0
                    if f < len(groups):
                        c, g = groups[f]
                        v = int(b[g * m + e, c])
                    word |= (v & ((1 << w) - 1)) << (lane * w)
                dut.in_valid.value = 1
                dut.in_data.value = word
            else:
                dut.in_valid.value = 0
            if int(dut.out_valid.value):
                vals = dut.out_values.value.to_unsigned()
                idxs = dut.out_idx.value.to_unsigned()
                base = _next_round(got, lanes, len(groups))
                for lane in range(lanes):
                    f = base * lanes + lane
                    if f >= len(groups):
                        continue
                    vv = [(vals >> ((lane * n + j) * w)) & ((1 << w) - 1) for j in range(n)]
                    vv = [x - (1 << w) if x >= 1 << (w - 1) else x for x in vv]
                    ii = [(idxs >> ((lane * n + j) * ib)) & ((1 << ib) - 1) for j in range(n)]
                    got[f] = (vv, ii)
                last_out = cycle
            await FallingEdge(dut.clk)
            cycle += 1
            assert cycle < 100 * (len(feed) + 100), "timeout waiting for selector outputs"
        dut.in_valid.value = 0
        for f, (c, g) in enumerate(groups):
            vv, ii = got[f]
            ev = [int(x) for x in want_v[g * n:(g + 1) * n, c]]
            ei = [int(x) for x in want_i[g * n:(g + 1) * n, c]]
            assert (vv, ii) == (ev, ei), (f"tile {t}, column {c}, group {g} {list(b[g * m:(g + 1) * m, c])}: "
                                          f"rtl values {vv} indices {ii}, functional {ev} {ei}")
        if not gaps:
            expect = int(tile_select_cycles(k, ncols, m, lanes, cfg["select_latency"]))
            assert last_out + 1 == expect, f"tile {t}: rtl {last_out + 1} cycles, simulator {expect}"
        for _ in range(4):  # let the pipeline empty between tiles
            await FallingEdge(dut.clk)
    dut._log.info("%d selector tiles ok", tiles)


def _next_round(got: dict, lanes: int, total: int) -> int:
    """Results arrive one round at a time, in order: the next round is the first one not yet collected."""
    return min(f for f in range(total + lanes) if f not in got) // lanes
