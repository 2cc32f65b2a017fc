"""AXI4-Lite control/status registers for the layer machine, and the top that drops into a block design.

Registers (32-bit, byte addresses; docs/rtl-layer.md has the host sequence):
  0x00 CTRL        write 1 to bit 0: run the program (ignored while busy)
  0x04 N_TILES     tiles to run
  0x08 STATUS      bit 0: busy (the last transfer or tile of the run is not over)
  0x0C TILES_DONE  tiles computed in this run
  0x10 CYCLES_LO   array cycles of this run (the compute sequencer running a tile), bits 31..0
  0x14 CYCLES_HI   bits 39..32
  0x18 PROG_ADDR   program slot the next commit writes (increments on every commit)
  0x1C PROG_COMMIT write anything: PROG_DATA -> program[PROG_ADDR]
  0x40 + 4 i       PROG_DATA word i (command bits 32 i .. 32 i + 31)
Reads of other addresses return 0; every response is OKAY. One write and one read are handled at a time; AW and
W may arrive in either order or together.
"""
from amaranth.hdl import Cat, Module, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hwsim.rtl.layer import LayerParams, SATLayer

ADDR_BITS = 8


def axi_lite_signature(addr_bits: int = ADDR_BITS) -> dict:
    """The slave's ports with AXI4-Lite names (s_axi_ prefix in the Verilog: awaddr, wdata, ...)."""
    return {
        "awaddr": In(addr_bits), "awvalid": In(1), "awready": Out(1),
        "wdata": In(32), "wstrb": In(4), "wvalid": In(1), "wready": Out(1),
        "bresp": Out(2), "bvalid": Out(1), "bready": In(1),
        "araddr": In(addr_bits), "arvalid": In(1), "arready": Out(1),
        "rdata": Out(32), "rresp": Out(2), "rvalid": Out(1), "rready": In(1),
    }


class AxiLiteControl(wiring.Component):
    """The register block: AXI4-Lite slave on one side, the layer machine's control ports on the other."""

    def __init__(self, lp: LayerParams, cmd_bits: int):
        self.lp = lp
        self.cmd_bits = cmd_bits
        self.data_words = -(-cmd_bits // 32)
        if 0x40 + 4 * self.data_words > (1 << ADDR_BITS):
            raise ValueError(f"command of {cmd_bits} bits needs {self.data_words} data registers (expected <= 48)")
        super().__init__({
            "s_axi": Out(wiring.Signature(axi_lite_signature())),
            "prog_wr_en": Out(1), "prog_wr_addr": Out(range(lp.prog_depth)),
            "prog_wr_data": Out(unsigned(cmd_bits)),
            "run": Out(1), "n_tiles": Out(range(lp.prog_depth + 1)),
            "busy": In(1), "tiles_done": In(range(lp.prog_depth + 1)), "array_cycles": In(40),
        })

    def elaborate(self, platform):
        m = Module()
        s = self.s_axi
        data = [Signal(32, name=f"prog_data{i}") for i in range(self.data_words)]
        m.d.comb += self.prog_wr_data.eq(Cat(*data)[:self.cmd_bits])
        m.d.sync += [self.run.eq(0), self.prog_wr_en.eq(0)]

        # write channel: latch AW and W (either order), act, respond
        aw_ok, w_ok = Signal(), Signal()
        aw, wd = Signal(ADDR_BITS), Signal(32)
        m.d.comb += [s.awready.eq(~aw_ok & ~s.bvalid), s.wready.eq(~w_ok & ~s.bvalid), s.bresp.eq(0)]
        with m.If(s.awvalid & s.awready):
            m.d.sync += [aw.eq(s.awaddr), aw_ok.eq(1)]
        with m.If(s.wvalid & s.wready):
            m.d.sync += [wd.eq(s.wdata), w_ok.eq(1)]
        with m.If(aw_ok & w_ok):
            m.d.sync += [aw_ok.eq(0), w_ok.eq(0), s.bvalid.eq(1)]
            with m.Switch(aw[2:]):
                with m.Case(0x00 >> 2):
                    with m.If(wd[0] & ~self.busy):
                        m.d.sync += self.run.eq(1)
                with m.Case(0x04 >> 2):
                    m.d.sync += self.n_tiles.eq(wd)
                with m.Case(0x18 >> 2):
                    m.d.sync += self.prog_wr_addr.eq(wd)
                with m.Case(0x1C >> 2):
                    m.d.sync += self.prog_wr_en.eq(1)
                for i in range(self.data_words):
                    with m.Case((0x40 >> 2) + i):
                        m.d.sync += data[i].eq(wd)
        with m.If(self.prog_wr_en):
            m.d.sync += self.prog_wr_addr.eq(self.prog_wr_addr + 1)
        with m.If(s.bvalid & s.bready):
            m.d.sync += s.bvalid.eq(0)

        # read channel
        m.d.comb += [s.arready.eq(~s.rvalid), s.rresp.eq(0)]
        with m.If(s.arvalid & s.arready):
            m.d.sync += s.rvalid.eq(1)
            with m.Switch(s.araddr[2:]):
                with m.Case(0x04 >> 2):
                    m.d.sync += s.rdata.eq(self.n_tiles)
                with m.Case(0x08 >> 2):
                    m.d.sync += s.rdata.eq(self.busy | self.run)  # a run just written counts as busy
                with m.Case(0x0C >> 2):
                    m.d.sync += s.rdata.eq(self.tiles_done)
                with m.Case(0x10 >> 2):
                    m.d.sync += s.rdata.eq(self.array_cycles[:32])
                with m.Case(0x14 >> 2):
                    m.d.sync += s.rdata.eq(self.array_cycles[32:])
                with m.Case(0x18 >> 2):
                    m.d.sync += s.rdata.eq(self.prog_wr_addr)
                with m.Default():
                    m.d.sync += s.rdata.eq(0)
        with m.If(s.rvalid & s.rready):
            m.d.sync += s.rvalid.eq(0)
        return m


class SATLayerAXI(wiring.Component):
    """SATLayer with its control behind `AxiLiteControl` (s_axi_*) and its memory streams as they are
    (rd_cmd, rd_data, wr_cmd, wr_data, wr_sts: AXI4-Stream valid/ready/payload)."""

    def __init__(self, lp: LayerParams):
        self.core = SATLayer(lp)
        self.ctrl = AxiLiteControl(lp, self.core.cmd_layout.size)
        sig = {"s_axi": Out(wiring.Signature(axi_lite_signature()))}
        for name in ("rd_cmd", "rd_data", "wr_cmd", "wr_data", "wr_sts"):
            sig[name] = self.core.signature.members[name]
        super().__init__(sig)

    def elaborate(self, platform):
        m = Module()
        m.submodules.core = core = self.core
        m.submodules.ctrl = ctrl = self.ctrl
        wiring.connect(m, wiring.flipped(self.s_axi), ctrl.s_axi)
        for name in ("prog_wr_en", "prog_wr_addr", "prog_wr_data", "run", "n_tiles"):
            m.d.comb += getattr(core, name).eq(getattr(ctrl, name))
        for name in ("busy", "tiles_done", "array_cycles"):
            m.d.comb += getattr(ctrl, name).eq(getattr(core, name))
        for name in ("rd_cmd", "wr_cmd", "wr_data"):
            wiring.connect(m, wiring.flipped(getattr(self, name)), getattr(core, name))
        for name in ("rd_data", "wr_sts"):
            wiring.connect(m, wiring.flipped(getattr(self, name)), getattr(core, name))
        return m
