"""The layer machine: runs a whole GEMM op from a tile program, the way the simulator's engine times it.

Parts (docs/rtl-layer.md has the host's view):
  - a program memory of `TileCommand`s (one per tile, written by the host: rtl/program.py lowers the scheduler's
    schedule of an op to it);
  - A and B buffers of two slots each (ping-pong: the command names the slot, so the next tile loads while this
    one computes), and a C buffer of two banks that accumulates partial sums across the k blocks of a tile and
    across the k tiles of a C block (read-modify-write: new = (first ? 0 : old) + array row);
  - a DMA sequencer with one queue to memory, in the engine's order (load tile 0, load 1, store 0, load 2, store
    1, ...): the load of tile t waits for the compute of tile t - 2 (its slot), the store of a C block for the
    compute of its last tile. Memory is reached through command/data streams shaped like the AXI DataMover's
    (read command: address, words, bytes; read data; write command; write data; write status);
  - a compute sequencer that walks a tile's blocks back to back: OS blocks (rows x cols of C over `count` k steps)
    follow each other every P = max(count, rows, cols) cycles, the finished block draining from the array's
    shadow accumulators while the next streams; WS blocks (rows * k_step x cols of B against `count` rows of A)
    every P = max(count, rows, cols) cycles, the next block's weights preloading into the shadow weights under
    the stream. A tile takes `LayerParams.tile_cycles` (tests/rtl/tb_layer.py measures it).

Timing reference: the cycle the DMA presents its first read command is cycle 0 of the op (the engine's start).
"""
from dataclasses import dataclass

from amaranth.hdl import Cat, Module, Mux, Signal, unsigned
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from hwsim.rtl.array import PEArray
from hwsim.rtl.params import CoreParams

ADDR_BITS = 32
WORD_BITS = 24  # words of one transfer / rows of a tile
BYTE_BITS = 32


@dataclass(frozen=True)
class LayerParams:
    """The core's parameters plus the layer machine's buffer slots (in words/rows) and program depth."""

    core: CoreParams
    a_slot: int  # A words per slot (two slots)
    b_slot: int  # B words per slot
    c_slot: int  # C rows (cols x int32) per bank (two banks)
    prog_depth: int  # tile commands the program memory holds

    def __post_init__(self):
        for name in ("a_slot", "b_slot", "c_slot", "prog_depth"):
            if getattr(self, name) < 1:
                raise ValueError(f"LayerParams.{name}: {getattr(self, name)} (expected >= 1)")

    @property
    def data_bits(self) -> int:
        """Width of the read/write data streams: the widest buffer word (A, B or a C row)."""
        p = self.core
        return max(p.a_word, p.b_word, p.cols * p.acc_width)

    def period(self, count: int) -> int:
        """Cycles between the starts of two blocks of a tile: the block's steps (OS) or A rows (WS), at least
        rows (the drain of R output rows, the preload of R weight rows) and cols (the shadow hand-over)."""
        return max(count, self.core.rows, self.core.cols)

    def tile_cycles(self, ws: bool, blocks: int, count: int) -> int:
        """A tile's cycles in the layer machine, first buffer read to the cycle after its last C write.

        OS: (blocks - 1) * P + count + fill, the simulator's `blocks * count + fill` when count >= rows, cols.
        WS: 2 + (blocks - 1) * P + count + fill: the first block's weights take 2 cycles before its first A row
        (later blocks preload under the stream); the simulator charges blocks * max(count, rows) + fill."""
        return int(layer_tile_cycles(self.core.rows, self.core.cols, self.core.fill_cycles, ws, blocks, count))


def layer_tile_cycles(rows: int, cols: int, fill: int, ws: bool, blocks, count):
    """`LayerParams.tile_cycles` from the array shape and fill alone (ints or numpy arrays)."""
    import numpy as np

    period = np.maximum(count, max(rows, cols))
    return np.where(ws, 2, 0) + (blocks - 1) * period + count + fill


def command_layout(lp: LayerParams) -> data.StructLayout:
    """One tile of the program (see rtl/program.py for how each field is derived from the schedule)."""
    cb = max(lp.a_slot, lp.core.rows, lp.core.cols).bit_length() + 1
    return data.StructLayout({
        "ws": 1,  # 0 OS, 1 WS
        "blk_a": unsigned(WORD_BITS),  # OS: row blocks of m; WS: k blocks (inner loop of the blocks)
        "blk_n": unsigned(WORD_BITS),  # column blocks (outer)
        "count": unsigned(cb),  # OS: k steps per block; WS: rows of A per block (>= 1)
        "a_slot": 1, "b_slot": 1, "c_slot": 1,
        "c_first": 1,  # this tile starts its C block from zero (else it adds to the partial sums in C)
        "ld_a": unsigned(WORD_BITS), "ld_b": unsigned(WORD_BITS), "ld_c": unsigned(WORD_BITS),  # words loaded
        "ld_addr": unsigned(ADDR_BITS), "ld_bytes": unsigned(BYTE_BITS),
        "st_rows": unsigned(WORD_BITS),  # C rows written out after this tile (0: none)
        "st_addr": unsigned(ADDR_BITS), "st_bytes": unsigned(BYTE_BITS),
    })


def _xfer_layout(lp: LayerParams) -> data.StructLayout:
    return data.StructLayout({"addr": unsigned(ADDR_BITS), "words": unsigned(WORD_BITS),
                              "bytes": unsigned(BYTE_BITS)})


class SATLayer(wiring.Component):
    """Program memory + DMA sequencer + ping-pong buffers + compute sequencer + PE array (module docstring)."""

    def __init__(self, lp: LayerParams):
        self.lp = lp
        p = lp.core
        self.array = PEArray(p)
        self.cmd_layout = command_layout(lp)
        db = lp.data_bits
        super().__init__({
            "prog_wr_en": In(1), "prog_wr_addr": In(range(lp.prog_depth)),
            "prog_wr_data": In(unsigned(self.cmd_layout.size)),
            "run": In(1), "n_tiles": In(range(lp.prog_depth + 1)),
            "busy": Out(1),
            "tiles_done": Out(range(lp.prog_depth + 1)),
            "array_cycles": Out(unsigned(40)),  # cycles the compute sequencer was running a tile (this run)
            "rd_cmd": Out(stream.Signature(_xfer_layout(lp))),
            "rd_data": In(stream.Signature(unsigned(db))),
            "wr_cmd": Out(stream.Signature(_xfer_layout(lp))),
            "wr_data": Out(stream.Signature(data.StructLayout({"data": unsigned(db), "last": 1}))),
            "wr_sts": In(stream.Signature(1)),
        })

    def elaborate(self, platform):
        lp, p = self.lp, self.lp.core
        R, C, L = p.rows, p.cols, p.pe_latency
        K = max(R, C)
        m = Module()
        m.submodules.array = arr = self.array
        layout = self.cmd_layout

        # ---- memories
        m.submodules.prog = prog = memory.Memory(shape=unsigned(layout.size), depth=lp.prog_depth, init=[])
        m.submodules.a_mem = a_mem = memory.Memory(shape=unsigned(p.a_word), depth=2 * lp.a_slot, init=[])
        m.submodules.b_mem = b_mem = memory.Memory(shape=unsigned(p.b_word), depth=2 * lp.b_slot, init=[])
        crow = C * p.acc_width
        banks = []
        for i in range(2):
            bank = memory.Memory(shape=unsigned(crow), depth=lp.c_slot, init=[])
            m.submodules[f"c_bank{i}"] = bank
            banks.append((bank.write_port(), bank.read_port(), bank.read_port()))  # write, compute read, DMA read
        prog_w = prog.write_port()
        prog_dma, prog_comp = prog.read_port(), prog.read_port()
        a_w, a_r = a_mem.write_port(), a_mem.read_port()
        b_w, b_r = b_mem.write_port(), b_mem.read_port()
        m.d.comb += [prog_w.en.eq(self.prog_wr_en), prog_w.addr.eq(self.prog_wr_addr),
                     prog_w.data.eq(self.prog_wr_data)]

        # ---- run control and counters
        running = Signal()
        n = Signal.like(self.n_tiles)
        loaded = Signal(range(lp.prog_depth + 2))  # tiles whose load has completed
        done = Signal(range(lp.prog_depth + 2))  # tiles whose compute has completed
        m.d.comb += self.tiles_done.eq(done)

        # ================= DMA sequencer =================
        IDLE, LD, LD_DATA, ST, ST_DATA, ST_WAIT, FIN = range(7)
        dstate = Signal(range(7))
        dt = Signal(range(lp.prog_depth + 1))  # the tile being loaded
        st_tile = Signal(range(lp.prog_depth + 1))  # the tile whose C block is being stored
        cur = Signal(layout)  # command of tile dt
        prev = Signal(layout)  # command of tile dt - 1 (its store is pending)
        nxt = Signal(layout)
        m.d.comb += [nxt.eq(prog_dma.data), prog_dma.addr.eq(Mux(dstate == IDLE, 0, dt + 1))]

        seg = Signal(2)  # 0 A, 1 B, 2 C
        seg_pos = Signal(WORD_BITS)
        ld_total = Signal(WORD_BITS + 2)
        ld_cnt = Signal(WORD_BITS + 2)
        last_beat = Signal()
        loaded_now = Signal()
        m.d.comb += [ld_total.eq(cur.ld_a + cur.ld_b + cur.ld_c), last_beat.eq(ld_cnt == ld_total - 1),
                     self.rd_data.ready.eq(1),
                     loaded_now.eq((dstate == LD_DATA) & self.rd_data.valid & last_beat)]
        with m.If(loaded_now):
            m.d.sync += loaded.eq(loaded + 1)

        # where the current beat goes
        ld_seg = Signal(2)
        m.d.comb += ld_seg.eq(Mux(seg_pos < Mux(seg == 0, cur.ld_a, Mux(seg == 1, cur.ld_b, cur.ld_c)), seg,
                                  seg + 1))
        # skip empty segments: a beat goes to the first segment at or after `seg` that still has room
        eff_seg = Signal(2)
        with m.If(ld_seg == 0):
            with m.If(cur.ld_a != 0):
                m.d.comb += eff_seg.eq(0)
            with m.Elif(cur.ld_b != 0):
                m.d.comb += eff_seg.eq(1)
            with m.Else():
                m.d.comb += eff_seg.eq(2)
        with m.Elif(ld_seg == 1):
            m.d.comb += eff_seg.eq(Mux(cur.ld_b != 0, 1, 2))
        with m.Else():
            m.d.comb += eff_seg.eq(2)
        eff_pos = Signal(WORD_BITS)
        m.d.comb += eff_pos.eq(Mux(eff_seg == seg, seg_pos, 0))
        beat = self.rd_data.valid & (dstate == LD_DATA)
        m.d.comb += [a_w.en.eq(beat & (eff_seg == 0)), a_w.addr.eq(cur.a_slot * lp.a_slot + eff_pos),
                     a_w.data.eq(self.rd_data.payload),
                     b_w.en.eq(beat & (eff_seg == 1)), b_w.addr.eq(cur.b_slot * lp.b_slot + eff_pos),
                     b_w.data.eq(self.rd_data.payload)]
        dma_c_en = Signal()
        dma_c_slot = Signal()
        m.d.comb += [dma_c_en.eq(beat & (eff_seg == 2)), dma_c_slot.eq(cur.c_slot)]
        with m.If(beat):
            m.d.sync += [ld_cnt.eq(ld_cnt + 1), seg.eq(eff_seg), seg_pos.eq(eff_pos + 1)]

        # store streaming from the C bank of the stored tile
        st_row = Signal(WORD_BITS)
        st_rd = Signal()
        st_rd_last = Signal()
        dma_rd_data = Signal(crow)
        m.d.comb += dma_rd_data.eq(Mux(prev.c_slot, banks[1][2].data, banks[0][2].data))
        for i, (_, _, rd) in enumerate(banks):
            m.d.comb += rd.addr.eq(st_row)
        m.d.sync += [self.wr_data.valid.eq(st_rd), self.wr_data.payload.last.eq(st_rd_last)]
        m.d.comb += [self.wr_data.payload.data.eq(dma_rd_data), st_rd.eq(0), st_rd_last.eq(0)]

        slot_free = Signal()
        m.d.comb += slot_free.eq(done + 1 >= dt)  # compute of tile dt - 2 finished
        m.d.comb += [self.rd_cmd.payload.addr.eq(cur.ld_addr), self.rd_cmd.payload.words.eq(ld_total),
                     self.rd_cmd.payload.bytes.eq(cur.ld_bytes),
                     self.wr_cmd.payload.addr.eq(prev.st_addr), self.wr_cmd.payload.words.eq(prev.st_rows),
                     self.wr_cmd.payload.bytes.eq(prev.st_bytes)]

        def advance():
            """After tile dt's load (and the store before it): go on with tile dt + 1, or the final store."""
            m.d.sync += prev.eq(cur)
            with m.If(dt + 1 < n):
                m.d.sync += [cur.eq(nxt), dt.eq(dt + 1), dstate.eq(LD)]
            with m.Elif(cur.st_rows != 0):
                m.d.sync += [st_tile.eq(dt), dt.eq(dt + 1), dstate.eq(ST)]
            with m.Else():
                m.d.sync += [dt.eq(dt + 1), dstate.eq(FIN)]

        with m.Switch(dstate):
            with m.Case(IDLE):
                with m.If(self.run & (self.n_tiles != 0)):
                    m.d.sync += [dstate.eq(LD), dt.eq(0), cur.eq(nxt), n.eq(self.n_tiles), running.eq(1),
                                 loaded.eq(0), done.eq(0)]
            with m.Case(LD):
                m.d.comb += self.rd_cmd.valid.eq(slot_free)
                with m.If(slot_free & self.rd_cmd.ready):
                    m.d.sync += [dstate.eq(LD_DATA), seg.eq(0), seg_pos.eq(0), ld_cnt.eq(0)]
            with m.Case(LD_DATA):
                with m.If(loaded_now):
                    with m.If((dt != 0) & (prev.st_rows != 0)):
                        m.d.sync += [st_tile.eq(dt - 1), dstate.eq(ST)]
                    with m.Else():
                        advance()
            with m.Case(ST):
                ok = done >= st_tile + 1
                m.d.comb += self.wr_cmd.valid.eq(ok)
                with m.If(ok & self.wr_cmd.ready):
                    m.d.sync += [dstate.eq(ST_DATA), st_row.eq(0)]
            with m.Case(ST_DATA):
                m.d.comb += [st_rd.eq(1), st_rd_last.eq(st_row == prev.st_rows - 1)]
                m.d.sync += st_row.eq(st_row + 1)
                with m.If(st_row == prev.st_rows - 1):
                    m.d.sync += dstate.eq(ST_WAIT)
            with m.Case(ST_WAIT):
                with m.If(self.wr_sts.valid):
                    with m.If(dt >= n):  # the final store
                        m.d.sync += dstate.eq(FIN)
                    with m.Else():
                        advance()
            with m.Case(FIN):
                with m.If(done >= n):
                    m.d.sync += [dstate.eq(IDLE), running.eq(0)]
        m.d.comb += self.wr_sts.ready.eq(1)
        # busy falls the cycle the last transfer and the last tile are both over (the engine's end of the op)
        m.d.comb += self.busy.eq(running & ~((dstate == FIN) & (done >= n)))

        # ================= compute sequencer =================
        ccmd = Signal(layout)
        cn = Signal(range(lp.prog_depth + 1))  # next tile to compute
        m.d.comb += prog_comp.addr.eq(cn)
        crun = Signal()
        tc = Signal(WORD_BITS + 8)  # tile cycle
        period = Signal(WORD_BITS)
        m.d.comb += period.eq(Mux(ccmd.count > K, ccmd.count, K))
        with m.If(crun):
            m.d.sync += self.array_cycles.eq(self.array_cycles + 1)
        with m.If((dstate == IDLE) & self.run):
            m.d.sync += self.array_cycles.eq(0)

        # issue walker (undelayed): position in the period, block indices, address pointers
        w_on, w_pos, w_ba, w_bn = Signal(), Signal(WORD_BITS), Signal(WORD_BITS), Signal(WORD_BITS)
        a_blk, b_blk, b_ptr = Signal(WORD_BITS + 2), Signal(WORD_BITS + 2), Signal(WORD_BITS + 2)
        a_base = Signal(range(2 * lp.a_slot))
        b_base = Signal(range(2 * lp.b_slot))
        m.d.comb += [a_base.eq(ccmd.a_slot * lp.a_slot), b_base.eq(ccmd.b_slot * lp.b_slot)]
        wrap = w_pos == period - 1
        with m.If(w_on):
            m.d.sync += w_pos.eq(Mux(wrap, 0, w_pos + 1))
            with m.If(wrap):
                with m.If(w_ba == ccmd.blk_a - 1):
                    m.d.sync += [w_ba.eq(0), a_blk.eq(0)]
                    with m.If(w_bn == ccmd.blk_n - 1):
                        m.d.sync += w_on.eq(0)
                    with m.Else():
                        m.d.sync += [w_bn.eq(w_bn + 1), b_blk.eq(b_blk + ccmd.count)]
                with m.Else():
                    m.d.sync += [w_ba.eq(w_ba + 1), a_blk.eq(a_blk + ccmd.count)]
        # read requests at the walker: OS A and B together; WS B (shadow weights) now, A two cycles later
        os_rd = w_on & ~ccmd.ws & (w_pos < ccmd.count)
        ws_b = w_on & ccmd.ws & (w_pos < R)
        ws_a0 = w_on & ccmd.ws & (w_pos < ccmd.count)
        ws_a1, ws_a2 = Signal(), Signal()
        ws_addr1, ws_addr2 = Signal(WORD_BITS + 2), Signal(WORD_BITS + 2)
        ws_swap1 = Signal()
        m.d.sync += [ws_a1.eq(ws_a0), ws_a2.eq(ws_a1), ws_addr1.eq(a_blk + w_pos), ws_addr2.eq(ws_addr1),
                     ws_swap1.eq(w_on & ccmd.ws & (w_pos == 0))]
        with m.If(ws_b):
            m.d.sync += b_ptr.eq(b_ptr + 1)
        a_rd = Signal()
        m.d.comb += [a_rd.eq(os_rd | ws_a2),
                     a_r.addr.eq(a_base + Mux(ccmd.ws, ws_addr2, a_blk + w_pos)),
                     b_r.addr.eq(b_base + Mux(ccmd.ws, b_ptr, b_blk + w_pos)),
                     arr.a_in.eq(a_r.data), arr.b_in.eq(b_r.data), arr.w_data.eq(b_r.data), arr.ws.eq(ccmd.ws)]
        # flags aligned with the buffer data (one read cycle later)
        m.d.sync += [arr.ctl_in.eq(a_rd | ((os_rd & (w_pos == 0)) << 1)),
                     arr.last_in.eq(os_rd & (w_pos == ccmd.count - 1)),
                     arr.swap_in.eq(ws_swap1),
                     arr.sw_load.eq(ws_b), arr.sw_row.eq(w_pos)]

        # emitter: rows leave the array E0 cycles after the tile's first read, P apart per block
        e_on, e_pos, e_ba, e_bn = Signal(), Signal(WORD_BITS), Signal(WORD_BITS), Signal(WORD_BITS)
        c_ptr, c_blk = Signal(WORD_BITS + 2), Signal(WORD_BITS + 2)
        e0 = Signal(WORD_BITS + 8)
        m.d.comb += e0.eq(Mux(ccmd.ws, R + C + L + 1, ccmd.count + C + L - 1))
        rows_per_blk = Signal(WORD_BITS)
        m.d.comb += rows_per_blk.eq(Mux(ccmd.ws, ccmd.count, R))
        emit = Signal()
        e_last = Signal()
        m.d.comb += [emit.eq(e_on & (e_pos < rows_per_blk)), arr.acc_sel.eq(e_pos),
                     e_last.eq(emit & (e_pos == rows_per_blk - 1) & (e_ba == ccmd.blk_a - 1)
                               & (e_bn == ccmd.blk_n - 1))]
        ewrap = e_pos == period - 1
        with m.If(crun & (tc + 1 == e0)):  # e_on is high from tile cycle e0 on
            m.d.sync += [e_on.eq(1), e_pos.eq(0), e_ba.eq(0), e_bn.eq(0), c_ptr.eq(0), c_blk.eq(0)]
        with m.Elif(e_on):
            m.d.sync += e_pos.eq(Mux(ewrap, 0, e_pos + 1))
            with m.If(emit & ~ccmd.ws):
                m.d.sync += c_ptr.eq(c_ptr + 1)
            with m.If(e_last):
                m.d.sync += e_on.eq(0)
            with m.If(ewrap):
                with m.If(e_ba == ccmd.blk_a - 1):
                    m.d.sync += [e_ba.eq(0), e_bn.eq(e_bn + 1), c_blk.eq(c_blk + ccmd.count)]
                with m.Else():
                    m.d.sync += e_ba.eq(e_ba + 1)
        c_addr = Signal(WORD_BITS + 2)
        m.d.comb += c_addr.eq(Mux(ccmd.ws, c_blk + e_pos, c_ptr))
        acc_old = Signal()
        m.d.comb += acc_old.eq(~(ccmd.c_first & (ccmd.ws.bool() & (e_ba == 0) | ~ccmd.ws)))
        # read-modify-write of C: read at the emit cycle, write the sum the cycle after
        row_r = Signal(crow)
        addr_r, acc_r, wen_r, last_r = Signal(WORD_BITS + 2), Signal(), Signal(), Signal()
        m.d.sync += [row_r.eq(Mux(ccmd.ws, arr.ws_out, arr.os_sh_out)), addr_r.eq(c_addr), acc_r.eq(acc_old),
                     wen_r.eq(emit), last_r.eq(e_last)]
        old = Signal(crow)
        m.d.comb += old.eq(Mux(ccmd.c_slot, banks[1][1].data, banks[0][1].data))
        summed = Signal(crow)
        w = p.acc_width
        m.d.comb += summed.eq(Cat(*((Mux(acc_r, old[j * w:(j + 1) * w], 0) + row_r[j * w:(j + 1) * w])[:w]
                                    for j in range(C))))
        for i, (wp, rp, _) in enumerate(banks):
            mine_dma = dma_c_en & (dma_c_slot == i)
            m.d.comb += [rp.addr.eq(c_addr),
                         wp.en.eq(mine_dma | (wen_r & (ccmd.c_slot == i))),
                         wp.addr.eq(Mux(mine_dma, eff_pos, addr_r)),
                         wp.data.eq(Mux(mine_dma, self.rd_data.payload[:crow], summed))]

        # tile start / end
        tile_end = wen_r & last_r
        avail = (loaded > cn) | (loaded_now & (dt == cn))
        can_start = running & (cn < n) & avail & (~crun | tile_end)
        with m.If(crun):
            m.d.sync += tc.eq(tc + 1)
        with m.If(tile_end):
            m.d.sync += [done.eq(done + 1), crun.eq(0)]
        with m.If(can_start):
            m.d.sync += [ccmd.eq(prog_comp.data), cn.eq(cn + 1), crun.eq(1), tc.eq(0),
                         w_on.eq(1), w_pos.eq(0), w_ba.eq(0), w_bn.eq(0), a_blk.eq(0), b_blk.eq(0), b_ptr.eq(0)]
        with m.If((dstate == IDLE) & self.run):
            m.d.sync += cn.eq(0)
        return m
