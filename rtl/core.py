"""The SAT core: A and B tile buffers (amaranth.lib.memory), the PE array and a controller that runs one tile
GEMM from the loaded buffers and streams C out, one row of `cols` int32 values per beat, with valid/ready.

Buffers. A word = the `rows * k_step` activations the array takes in one cycle: OS, word s holds
A[0..rows-1, s*k_step .. (s+1)*k_step-1] (row i in bits i*k_step*width ..); WS, word t holds the A row t
(positions 0 .. rows*k_step-1). B word s = the compressed weights of step s (OS) or PE row s (WS), for every
column j: `mults` lanes of (value, in-group index), lane l at bits (j*mults + l)*b_lane_width.

Commands (accepted while `busy` is low): `load_w` preloads the WS weights from B words 0..rows-1
(rows + 1 cycles); `start` with `mode` (0 OS, 1 WS) and `count` (OS: k steps; WS: rows of A) runs a tile; a start
with count 0 is ignored (nothing runs, no beat is emitted). `busy` stays high until the last beat has been taken
(an output beat still held back counts): a host that starts the next tile once `busy` is low loses nothing.
The first buffer read happens the cycle after `start`; the tile's cycles, first read to last beat, inclusive,
are `tile_cycles(mode, count)` plus one per cycle the output is held back (valid and not ready): the whole
pipeline stalls then, so no result is dropped. OS emits `rows` beats, WS `count` beats; `last` marks the end.
"""
from amaranth.hdl import EnableInserter, Module, Signal, unsigned
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from hwsim.rtl.array import PEArray
from hwsim.rtl.params import CoreParams

MEM_LATENCY = 1  # synchronous buffer read


class SATCore(wiring.Component):
    """Buffers + controller + PE array + output register; see the module docstring for the protocol."""

    def __init__(self, p: CoreParams, pe_modules: bool = False):
        """`pe_modules`: PEs as instances of the separately exported PE module (Verilog export; see PEArray)."""
        self.p = p
        self.array = PEArray(p, pe_modules)
        self.count_bits = max(p.a_depth, p.rows).bit_length() + 1
        super().__init__({
            "a_wr_en": In(1), "a_wr_addr": In(range(p.a_depth)), "a_wr_data": In(unsigned(p.a_word)),
            "b_wr_en": In(1), "b_wr_addr": In(range(p.b_depth)), "b_wr_data": In(unsigned(p.b_word)),
            "start": In(1), "load_w": In(1), "mode": In(1), "count": In(unsigned(self.count_bits)),
            "busy": Out(1),
            "out": Out(stream.Signature(data.StructLayout({"data": unsigned(p.cols * p.acc_width),
                                                           "last": 1}))),
        })

    @property
    def latency(self) -> int:
        """Buffer read plus PE pipeline: the part of the fill that is not skew."""
        return MEM_LATENCY + self.array.latency

    @property
    def fill_cycles(self) -> int:
        """What one tile costs beyond its steps (OS) or rows (WS): rows + cols + PE pipeline depth."""
        return self.p.rows + self.p.cols + self.array.latency

    def tile_cycles(self, mode: str, count: int) -> int:
        """First buffer read to last output beat (inclusive), without back-pressure, from the design itself."""
        emit_start = MEM_LATENCY + (self.array.os_row_offset(count) if mode == "os" else self.array.ws_row_offset)
        beats = self.p.rows if mode == "os" else count
        return emit_start + beats + 1  # + 1: the output register

    def elaborate(self, platform):
        p = self.p
        m = Module()
        m.submodules.a_mem = a_mem = memory.Memory(shape=unsigned(p.a_word), depth=p.a_depth, init=[])
        m.submodules.b_mem = b_mem = memory.Memory(shape=unsigned(p.b_word), depth=p.b_depth, init=[])
        a_w, b_w = a_mem.write_port(), b_mem.write_port()
        a_r, b_r = a_mem.read_port(), b_mem.read_port()
        m.d.comb += [a_w.en.eq(self.a_wr_en), a_w.addr.eq(self.a_wr_addr), a_w.data.eq(self.a_wr_data),
                     b_w.en.eq(self.b_wr_en), b_w.addr.eq(self.b_wr_addr), b_w.data.eq(self.b_wr_data)]

        en = Signal()  # the whole pipeline advances unless the output beat is held back
        m.d.comb += en.eq(~(self.out.valid & ~self.out.ready))
        m.d.comb += [a_r.en.eq(en), b_r.en.eq(en)]

        gated = Module()  # everything behind the buffers' read ports stalls together
        m.submodules.pipe = EnableInserter(en)(gated)
        gated.submodules.array = arr = self.array

        R, C, L = p.rows, p.cols, self.array.latency
        cbits = self.count_bits + (R + C + L + 4).bit_length() + 1
        state = Signal(range(3))  # 0 idle, 1 run, 2 preload
        ws, count, c = Signal(), Signal(self.count_bits), Signal(cbits)
        rd_valid, first = Signal(), Signal()
        ld = Signal()
        ld_row = Signal(range(R))
        emit_start, beats = Signal(cbits), Signal(cbits)

        gated.d.comb += [self.busy.eq((state != 0) | self.out.valid), arr.ws.eq(ws), arr.en.eq(en)]
        gated.d.comb += [a_r.addr.eq(c), b_r.addr.eq(c), arr.a_in.eq(a_r.data), arr.b_in.eq(b_r.data),
                         arr.w_data.eq(b_r.data)]
        # flags aligned with the buffer data (one read cycle later)
        gated.d.sync += [arr.ctl_in.eq(rd_valid | (first << 1)), arr.w_load.eq(ld), arr.w_row.eq(ld_row)]
        gated.d.comb += [rd_valid.eq(0), first.eq(0), ld.eq(0), ld_row.eq(c)]

        emit = Signal()
        r = Signal(cbits)
        gated.d.comb += [r.eq(c - emit_start), emit.eq((state == 1) & (c >= emit_start) & (r < beats)),
                         arr.acc_sel.eq(r)]
        gated.d.sync += self.out.valid.eq(emit)
        with gated.If(emit):
            with gated.If(ws):
                gated.d.sync += self.out.payload.data.eq(arr.ws_out)
            with gated.Else():
                gated.d.sync += self.out.payload.data.eq(arr.os_out)
            gated.d.sync += self.out.payload.last.eq(r == beats - 1)

        with gated.Switch(state):
            with gated.Case(0):
                with gated.If(self.start & (self.count != 0)):  # count 0 is refused: nothing to run
                    gated.d.sync += [state.eq(1), ws.eq(self.mode), count.eq(self.count), c.eq(0)]
                    os_start = MEM_LATENCY + arr.os_row_offset(0)
                    with gated.If(self.mode):
                        gated.d.sync += [emit_start.eq(MEM_LATENCY + arr.ws_row_offset), beats.eq(self.count)]
                    with gated.Else():
                        gated.d.sync += [emit_start.eq(self.count + os_start), beats.eq(R)]
                with gated.Elif(self.load_w):
                    gated.d.sync += [state.eq(2), c.eq(0)]
            with gated.Case(1):
                gated.d.comb += [rd_valid.eq(c < count), first.eq(c == 0)]
                gated.d.sync += c.eq(c + 1)
                with gated.If(emit & (r == beats - 1)):
                    gated.d.sync += state.eq(0)
            with gated.Case(2):
                gated.d.comb += ld.eq(c < R)
                gated.d.sync += c.eq(c + 1)
                with gated.If(c == R):
                    gated.d.sync += state.eq(0)
        return m
