"""The AXI4-Lite register block (rtl/axi.py) in Amaranth's simulator: program writes land in the program port,
CTRL starts a run only when idle, status reads follow the machine, AW/W in either order, one response each."""
import pytest

from hwsim.rtl.layer import LayerParams
from hwsim.rtl.params import CoreParams
from tests.rtl.conftest import small_config

pytest.importorskip("amaranth")


def _lp():
    return LayerParams(CoreParams.from_config(small_config(2, 2, 8), "2:4"), 8, 8, 8, 16)


def test_register_block():
    from amaranth.sim import Simulator

    from hwsim.rtl.axi import AxiLiteControl

    dut = AxiLiteControl(_lp(), cmd_bits=70)
    s = dut.s_axi
    seen = {"prog": [], "run": 0}

    async def write(ctx, addr, value, w_first=False):
        if w_first:
            ctx.set(s.wdata, value)
            ctx.set(s.wvalid, 1)
            await ctx.tick()
            assert not ctx.get(s.bvalid)
            ctx.set(s.awaddr, addr)
            ctx.set(s.awvalid, 1)
        else:
            ctx.set(s.awaddr, addr)
            ctx.set(s.awvalid, 1)
            ctx.set(s.wdata, value)
            ctx.set(s.wvalid, 1)
        for _ in range(5):
            await ctx.tick()
            if not ctx.get(s.awready):
                ctx.set(s.awvalid, 0)
            if not ctx.get(s.wready):
                ctx.set(s.wvalid, 0)
            if ctx.get(s.bvalid):
                break
        assert ctx.get(s.bvalid) and ctx.get(s.bresp) == 0
        ctx.set(s.bready, 1)
        await ctx.tick()
        ctx.set(s.bready, 0)
        assert not ctx.get(s.bvalid)

    async def read(ctx, addr):
        ctx.set(s.araddr, addr)
        ctx.set(s.arvalid, 1)
        await ctx.tick()
        ctx.set(s.arvalid, 0)
        assert ctx.get(s.rvalid)
        value = ctx.get(s.rdata)
        ctx.set(s.rready, 1)
        await ctx.tick()
        ctx.set(s.rready, 0)
        return value

    async def monitor(ctx):
        async for clk_edge, rst, en, addr, data, run in ctx.tick().sample(dut.prog_wr_en, dut.prog_wr_addr,
                                                                            dut.prog_wr_data, dut.run):
            if en:
                seen["prog"].append((addr, data))
            seen["run"] += run

    async def bench(ctx):
        word = (0x2A << 64) | (0x1234_5678 << 32) | 0x9ABC_DEF0
        await write(ctx, 0x18, 3)
        for i in range(3):
            await write(ctx, 0x40 + 4 * i, (word >> (32 * i)) & 0xFFFF_FFFF, w_first=bool(i % 2))
        await write(ctx, 0x1C, 0)
        await write(ctx, 0x1C, 0)  # second commit: next slot, same data
        assert await read(ctx, 0x18) == 5
        await write(ctx, 0x04, 7)
        assert await read(ctx, 0x04) == 7
        ctx.set(dut.busy, 1)
        await write(ctx, 0x00, 1)  # refused while busy
        assert await read(ctx, 0x08) == 1
        ctx.set(dut.busy, 0)
        ctx.set(dut.tiles_done, 5)
        ctx.set(dut.array_cycles, (3 << 32) | 99)
        assert await read(ctx, 0x08) == 0
        await write(ctx, 0x00, 1)
        assert await read(ctx, 0x0C) == 5
        assert await read(ctx, 0x10) == 99 and await read(ctx, 0x14) == 3
        assert await read(ctx, 0x30) == 0
        assert seen["prog"] == [(3, word), (4, word)]
        assert seen["run"] == 1

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_process(monitor)
    sim.add_testbench(bench)
    sim.run_until(1e-3)
    assert seen["run"] == 1 and len(seen["prog"]) == 2


def test_axi_top_elaborates_with_the_core_ports():
    from amaranth.back import rtlil

    from hwsim.rtl.axi import SATLayerAXI

    top = SATLayerAXI(_lp())
    text = rtlil.convert(top, name="sat_layer_axi")
    for port in ("s_axi__awaddr", "s_axi__rdata", "rd_cmd__valid", "rd_data__payload", "wr_sts__valid"):
        assert port in text
