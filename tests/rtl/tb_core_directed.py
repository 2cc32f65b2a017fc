"""Directed cocotb checks of sat_core's host protocol (the corner cases random tiles do not reach):
`busy` covers an output beat that is still held back, a start with count 0 is refused (no lock, no stale beat),
and full-depth tiles (count = the A buffer depth) run bit-exact and on time. Config as in tb_core.py."""
import cocotb
import numpy as np

from hwsim import functional as F
from hwsim.dataflow.tiling import tile_compute_cycles
from tb_core import CFG, Bench, b_words, pack, rand_values, random_nm


async def _reset(dut):
    from cocotb.clock import Clock

    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    for name in ("a_wr_en", "b_wr_en", "start", "load_w", "mode", "count", "out__ready", "a_wr_addr",
                 "a_wr_data", "b_wr_addr", "b_wr_data"):
        getattr(dut, name).value = 0
    dut.rst.value = 1
    bench = Bench(dut, CFG, np.random.default_rng(cocotb.RANDOM_SEED))
    for _ in range(3):
        await bench.tick()
    dut.rst.value = 0
    await bench.tick()
    return bench


def _operands(bench, mode, count):
    """Random A and B for an OS tile of `count` steps or a WS tile of `count` rows, written as buffer words."""
    cfg, rng = bench.cfg, bench.rng
    R, C, ks, w = cfg["rows"], cfg["cols"], cfg["k_step"], cfg["width"]
    dtype = np.int8 if w == 8 else np.int16
    m_rows, k = (R, count * ks) if mode == "os" else (count, R * ks)
    a = rand_values(rng, (m_rows, k), w).astype(dtype)
    if cfg["dense"]:
        values = rand_values(rng, (k, C), w).astype(dtype)
        idx = np.zeros_like(values, dtype=np.int64)
        golden = F.dense_gemm(a, values)
    else:
        values, idx = random_nm(rng, k, C, cfg["keep"], cfg["group"], lambda shape: rand_values(rng, shape, w))
        values = values.astype(dtype)
        golden = F.sparse_gemm(a, values, idx.astype(np.uint8), cfg["keep"], cfg["group"])
    if mode == "os":
        a_words = [pack([a[i, s * ks + e] for i in range(R) for e in range(ks)], w) for s in range(count)]
        bw = b_words(cfg, values, idx, count)
    else:
        a_words = [pack(a[t], w) for t in range(count)]
        bw = b_words(cfg, values, idx, R)
    return a_words, bw, golden, m_rows, k


async def _load(bench, mode, a_words, bw):
    dut = bench.dut
    await bench.write("a", a_words)
    await bench.write("b", bw)
    if mode == "ws":
        dut.load_w.value = 1
        await bench.tick()
        dut.load_w.value = 0
        while int(dut.busy.value):
            await bench.tick()


@cocotb.test()
async def busy_covers_a_pending_beat(dut):
    """Hold `ready` low for a long time after the tile's compute is over: while a beat is valid, busy stays high;
    a host that starts the next tile when busy falls gets every beat of both tiles."""
    bench = await _reset(dut)
    R = CFG["rows"]
    for mode in ("os", "ws"):
        count = 3 if mode == "os" else R + 1
        tiles = [_operands(bench, mode, count) for _ in range(2)]
        a_words, bw, golden, *_ = tiles[0]
        await _load(bench, mode, a_words, bw)
        dut.mode.value = int(mode == "ws")
        dut.count.value = count
        dut.start.value = 1
        await bench.tick()
        dut.start.value = 0
        beats = R if mode == "os" else count
        got = []
        held = 0
        for _ in range(40 * (beats + R + CFG["cols"] + 10)):
            valid = int(dut.out__valid.value)
            if valid:
                assert int(dut.busy.value), f"{mode}: busy low while output beat {len(got) + 1} is pending"
            # keep the output stalled for 30 cycles on every beat: the pipeline finishes long before the host reads
            ready = int(valid and held >= 30)
            held = 0 if ready else held + int(valid)
            dut.out__ready.value = ready
            if valid and ready:
                from tb_core import unpack_row

                got.append(unpack_row(dut.out__payload.value.to_unsigned(), CFG["cols"]))
            await bench.tick()
            dut.out__ready.value = 0
            if len(got) == beats:
                break
        assert np.array_equal(np.array(got, dtype=np.int64), golden.astype(np.int64)), f"{mode}: outputs differ"
        assert not int(dut.busy.value), f"{mode}: busy still high after the last beat was taken"


@cocotb.test()
async def count_zero_is_refused(dut):
    """A start with count 0 (OS or WS) runs nothing: busy stays low, no beat appears, the next tile is exact."""
    bench = await _reset(dut)
    R = CFG["rows"]
    dut.out__ready.value = 1
    for mode in ("os", "ws"):
        a_words, bw, golden, m_rows, k = _operands(bench, mode, 2 if mode == "os" else R)
        await _load(bench, mode, a_words, bw)
        dut.mode.value = int(mode == "ws")
        dut.count.value = 0
        dut.start.value = 1
        await bench.tick()
        dut.start.value = 0
        for _ in range(3 * (R + CFG["cols"] + 10)):
            assert not int(dut.out__valid.value), f"{mode}: a start with count 0 emitted a beat"
            assert not int(dut.busy.value), f"{mode}: a start with count 0 left the core busy"
            await bench.tick()
        count = 2 if mode == "os" else R
        got, cycles, stalls = await bench.run_tile(mode, count, R if mode == "os" else count, 1.0)
        assert np.array_equal(got, golden.astype(np.int64)), f"{mode}: the tile after a count-0 start differs"


@cocotb.test()
async def full_depth_tiles(dut):
    """OS with as many k steps, WS with as many rows of A, as the A buffer holds: exact and on time."""
    bench = await _reset(dut)
    depth, R, C, ks = CFG["a_depth"], CFG["rows"], CFG["cols"], CFG["k_step"]
    for mode in ("os", "ws"):
        a_words, bw, golden, m_rows, k = _operands(bench, mode, depth)
        assert len(a_words) == depth
        await _load(bench, mode, a_words, bw)
        got, cycles, stalls = await bench.run_tile(mode, depth, R if mode == "os" else depth, 1.0)
        assert np.array_equal(got, golden.astype(np.int64)), f"{mode}: full-depth tile ({depth}) outputs differ"
        expect = int(tile_compute_cycles(mode, m_rows, k, C, R, C, ks, CFG["fill_cycles"], True))
        assert cycles == expect, f"{mode}: full-depth tile took {cycles} cycles, simulator {expect}"
