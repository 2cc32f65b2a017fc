"""cocotb bench for sat_core: random tiles through the Verilog and through hwsim.functional; bit-identical
outputs (int32, or fp32 bit patterns for fp16 cores), and per tile the cycles from first buffer read to last
output beat equal the simulator's `tile_compute_cycles` plus the cycles the bench held the output back.
Parameters come as JSON in HWSIM_RTL_CFG (written by test_core.py); numpy is seeded from cocotb.RANDOM_SEED."""
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


F16_SPECIAL = np.array([0x0000, 0x8000, 0x0001, 0x8001, 0x03FF, 0x83FF, 0x0400, 0x7BFF, 0xFBFF, 0x3C00, 0xBC00,
                        0x1400, 0x9400], dtype=np.uint16)  # zeros, subnormals, min normal, +-65504, +-1, +-2**-10
F16_NONFINITE = np.array([0x7C00, 0xFC00, 0x7E00, 0xFE01], dtype=np.uint16)  # +-inf, NaNs


def rand_fp16(rng, shape, p_nonfinite):
    """fp16 bit patterns (as int64): normal values over a 2**+-8 spread of scales, 20% extremes and subnormals,
    and inf/NaN at rate `p_nonfinite` (most tiles 0, so finite rounding is checked, not masked by NaN)."""
    x = (rng.standard_normal(shape) * np.exp2(rng.integers(-8, 9, size=shape))).astype(np.float16).view(np.uint16)
    x = np.where(rng.random(shape) < 0.2, rng.choice(F16_SPECIAL, size=shape), x)
    x = np.where(rng.random(shape) < p_nonfinite, rng.choice(F16_NONFINITE, size=shape), x)
    return x.astype(np.int64)


def operands(rng, shape, cfg, p_nonfinite):
    """Random operands: signed ints of cfg's width, or fp16 bit patterns."""
    return rand_fp16(rng, shape, p_nonfinite) if cfg["floating"] else rand_values(rng, shape, cfg["width"])


def random_nm(rng, k, n_cols, keep, group, make):
    """Compressed B with random N:M patterns: (values, indices), shape (k*keep/group, n_cols)."""
    g = k // group
    idx = np.empty((g, keep, n_cols), dtype=np.int64)
    for gi in range(g):
        for c in range(n_cols):
            idx[gi, :, c] = np.sort(rng.choice(group, size=keep, replace=False))
    return make((g * keep, n_cols)), idx.reshape(g * keep, n_cols)


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


def unpack_row(word, cols, floating=False):
    """One output beat: `cols` int32 values, or fp32 bit patterns (unsigned) for an fp16 core."""
    vals = [(word >> (32 * j)) & 0xFFFF_FFFF for j in range(cols)]
    return vals if floating else [v - (1 << 32) if v >= 1 << 31 else v for v in vals]


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
                rows.append(unpack_row(payload, self.cfg["cols"], self.cfg["floating"]))
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
    dtype = np.float16 if cfg["floating"] else np.int8 if w == 8 else np.int16
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
        # one tile in four is long: up to the full buffer depth, so every bit of the count registers is used
        long_tile = t % 4 == 3
        if mode == "os":
            depth = min(cfg["a_depth"], cfg["b_depth"])  # an OS step reads one word of each buffer
            lo, hi = (depth // 2 + 1, depth) if long_tile else (1, min(depth, cfg["max_steps"]))
            steps = hi if long_tile and t % 8 == 7 else int(rng.integers(lo, hi + 1))
            m_rows, k = R, steps * ks
            count, beats, b_count = steps, R, steps
        else:
            hi = cfg["a_depth"] if long_tile else min(cfg["a_depth"], 3 * R)
            m_rows = int(rng.integers(max(R, hi // 2) if long_tile else R, hi + 1))  # m >= rows: see test_core.py
            k = R * ks
            count, beats, b_count = m_rows, m_rows, R
        p_nonfinite = float(rng.choice([0.0, 0.0, 0.0, 0.01]))  # inf/NaN in a quarter of the fp16 tiles

        def make(shape):
            return operands(rng, shape, cfg, p_nonfinite)

        a = make((m_rows, k))
        if cfg["dense"]:
            values, idx = make((k, C)), np.zeros((k, C), dtype=np.int64)
        else:
            values, idx = random_nm(rng, k, C, keep, group, make)
        if cfg["floating"]:  # the bit patterns as fp16; the golden fp32 results as bit patterns
            fa, fv = a.astype(np.uint16).view(np.float16), values.astype(np.uint16).view(np.float16)
            golden = F.dense_gemm(fa, fv) if cfg["dense"] else F.sparse_gemm(fa, fv, idx.astype(np.uint8), keep,
                                                                             group)
            golden = F.to_bits(golden)
        else:
            a, values = a.astype(dtype), values.astype(dtype)
            golden = (F.dense_gemm(a, values) if cfg["dense"]
                      else F.sparse_gemm(a, values, idx.astype(np.uint8), keep, group))
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
