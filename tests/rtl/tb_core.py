"""cocotb bench for sat_core: random tiles through the Verilog and through hwsim.functional; bit-identical
outputs, and per tile the cycles from first buffer read to last output beat equal the simulator's
`tile_compute_cycles` plus the cycles the bench held the output back. Parameters come as JSON in
HWSIM_RTL_CFG (written by test_core.py); numpy is seeded from cocotb.RANDOM_SEED."""
import json
import os

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge

from hwsim import functional as F
from hwsim.dataflow.tiling import tile_compute_cycles

CFG = json.loads(os.environ.get("HWSIM_RTL_CFG", "{}"))


def rand_values(rng, shape, bits):
    """Random signed ints with the type's extremes, -1, 0 and 1 mixed in."""
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    x = rng.integers(lo, hi + 1, size=shape, dtype=np.int64)
    special = rng.choice(np.array([lo, hi, -1, 0, 1, lo + 1]), size=shape)
    pick = rng.random(shape) < 0.3
    return np.where(pick, special, x)


def random_nm(rng, k, n_cols, keep, group, bits):
    """Compressed B with random N:M patterns: (values, indices), shape (k*keep/group, n_cols)."""
    g = k // group
    idx = np.empty((g, keep, n_cols), dtype=np.int64)
    for gi in range(g):
        for c in range(n_cols):
            idx[gi, :, c] = np.sort(rng.choice(group, size=keep, replace=False))
    return rand_values(rng, (g * keep, n_cols), bits), idx.reshape(g * keep, n_cols)


def pack(items, bits):
    """Little-endian bit packing of signed/unsigned ints, item 0 at bit 0."""
    word, mask = 0, (1 << bits) - 1
    for i, v in enumerate(items):
        word |= (int(v) & mask) << (i * bits)
    return word


def b_words(cfg, values, idx, words):
    """B buffer words: word s, column j, lane l = compressed row s*mults + l as (value | index << width)."""
    w, ib, mults, cols = cfg["width"], cfg["idx_width"], cfg["mults"], cfg["cols"]
    lw = w + ib
    out = []
    for s in range(words):
        lanes = []
        for j in range(cols):
            for l in range(mults):
                r = s * mults + l
                lanes.append((int(values[r, j]) & ((1 << w) - 1)) | (int(idx[r, j]) << w))
        out.append(pack(lanes, lw))
    return out


def unpack_row(word, cols):
    vals = [(word >> (32 * j)) & 0xFFFF_FFFF for j in range(cols)]
    return [v - (1 << 32) if v >= 1 << 31 else v for v in vals]


class Bench:
    def __init__(self, dut, cfg, rng):
        self.dut, self.cfg, self.rng = dut, cfg, rng
        self.cycle = 0

    async def tick(self):
        await FallingEdge(self.dut.clk)
        self.cycle += 1

    async def write(self, port, words):
        d = self.dut
        for addr, word in enumerate(words):
            getattr(d, f"{port}_wr_en").value = 1
            getattr(d, f"{port}_wr_addr").value = addr
            getattr(d, f"{port}_wr_data").value = word
            await self.tick()
        getattr(d, f"{port}_wr_en").value = 0

    async def run_tile(self, mode, count, beats, p_ready):
        """Start a tile, collect `beats` rows under random back-pressure; return (rows, cycles, stalls)."""
        d = self.dut
        d.mode.value = 1 if mode == "ws" else 0
        d.count.value = count
        d.start.value = 1
        start_cycle = self.cycle
        await self.tick()
        d.start.value = 0
        rows, stalls, last_cycle = [], 0, None
        limit = 100 * (count + beats + 1000)
        for _ in range(limit):
            ready = int(self.rng.random() < p_ready)
            d.out__ready.value = ready
            valid = int(d.out__valid.value)
            if valid and not ready:
                stalls += 1
            if valid and ready:
                payload = d.out__payload.value.to_unsigned()
                rows.append(unpack_row(payload, self.cfg["cols"]))
                last = payload >> (32 * self.cfg["cols"])
                assert last == (len(rows) == beats), f"last flag {last} on beat {len(rows)} of {beats}"
                if len(rows) == beats:
                    last_cycle = self.cycle
                    await self.tick()
                    break
            await self.tick()
        assert last_cycle is not None, f"timeout: {len(rows)} of {beats} beats"
        d.out__ready.value = 0
        return np.array(rows, dtype=np.int64), last_cycle - start_cycle, stalls


@cocotb.test()
async def random_tiles(dut):
    cfg = CFG
    rng = np.random.default_rng(cocotb.RANDOM_SEED)
    R, C, ks, w = cfg["rows"], cfg["cols"], cfg["k_step"], cfg["width"]
    keep, group, mults = cfg["keep"], cfg["group"], cfg["mults"]
    dtype = np.int8 if w == 8 else np.int16
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    for name in ("a_wr_en", "b_wr_en", "start", "load_w", "mode", "count", "out__ready", "a_wr_addr",
                 "a_wr_data", "b_wr_addr", "b_wr_data"):
        getattr(dut, name).value = 0
    dut.rst.value = 1
    bench = Bench(dut, cfg, rng)
    for _ in range(3):
        await bench.tick()
    dut.rst.value = 0
    await bench.tick()
    tiles = int(os.environ.get("HWSIM_RTL_TILES", cfg.get("tiles", 20)))
    for t in range(tiles):
        mode = str(rng.choice(cfg["modes"]))
        p_ready = float(rng.choice([1.0, 0.8, 0.5, 0.2])) if t else 1.0
        if mode == "os":
            steps = int(rng.integers(1, min(cfg["a_depth"], cfg["max_steps"]) + 1))
            m_rows, k = R, steps * ks
            count, beats, b_count = steps, R, steps
        else:
            m_rows = int(rng.integers(R, min(cfg["a_depth"], 3 * R) + 1))  # m >= rows: see test_core.py
            k = R * ks
            count, beats, b_count = m_rows, m_rows, R
        a = rand_values(rng, (m_rows, k), w).astype(dtype)
        if cfg["dense"]:
            values = rand_values(rng, (k, C), w).astype(dtype)
            idx = np.zeros_like(values, dtype=np.int64)
            golden = F.dense_gemm(a, values)
        else:
            values, idx = random_nm(rng, k, C, keep, group, w)
            values = values.astype(dtype)
            golden = F.sparse_gemm(a, values, idx.astype(np.uint8), keep, group)
        if mode == "os":
            a_words = [pack([a[i, s * ks + e] for i in range(R) for e in range(ks)], w) for s in range(steps)]
        else:
            a_words = [pack(a[t_], w) for t_ in range(m_rows)]
        await bench.write("a", a_words)
        await bench.write("b", b_words(cfg, values, idx, b_count))
        if mode == "ws":
            dut.load_w.value = 1
            await bench.tick()
            dut.load_w.value = 0
            busy = 0
            while int(dut.busy.value):
                busy += 1
                await bench.tick()
            assert busy == R + 1, f"tile {t}: WS weight preload took {busy} cycles (documented: rows + 1 = {R + 1})"
        got, cycles, stalls = await bench.run_tile(mode, count, beats, p_ready)
        assert got.shape == golden.shape, f"tile {t}: shape {got.shape} vs golden {golden.shape}"
        bad = np.argwhere(got != golden.astype(np.int64))
        assert not len(bad), (f"tile {t} ({mode}, m={m_rows}, k={k}): {len(bad)} outputs differ, first at "
                              f"{tuple(bad[0])}: rtl {got[tuple(bad[0])]} golden {golden[tuple(bad[0])]}")
        expect = int(tile_compute_cycles(mode, m_rows, k, C, R, C, ks, cfg["fill_cycles"], True))
        assert cycles == expect + stalls, (f"tile {t} ({mode}, m={m_rows}, k={k}): rtl {cycles} cycles "
                                           f"with {stalls} stalls, simulator {expect} + {stalls}")
    dut._log.info("%d tiles ok", tiles)
