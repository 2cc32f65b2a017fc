"""The rows x cols systolic PE array with its input skew and (WS) output deskew.

A enters at the left, one `k_step`-wide slice per PE row; row i is delayed i cycles (skew) and then moves
right one PE per cycle. OS: compressed B enters at the top, column j delayed j cycles, and moves down one PE
per cycle; PE(i, j) therefore sees step s at cycle s + i + j and row r of C is final `os_row_offset(steps)
+ r` cycles after step 0 entered; `acc_sel` picks the row read out at `os_out`. WS: the weights of PE row i
(B rows i*k_step .. (i+1)*k_step) are preloaded into the PEs, A row t streams in as above, partial sums move
down, and the bottom row's column j is delayed cols-1-j cycles so that `ws_out` shows row t of C, aligned,
`ws_row_offset + t` cycles after A row 0 entered. These offsets are what the simulator's fill charges.

Back to back (the layer machine, rtl/layer.py). OS: `last_in` flags a block's last step; each PE's final sum is
copied into a shadow register the cycle it is complete, so the next block's steps stream right behind while
`os_sh_out` reads row `acc_sel` of the finished block (shadows of columns 0..cols-2, the live accumulator of the
last column, which is read the cycle it completes). WS: `sw_load` fills PE row `sw_row`'s shadow weights from
`w_data`; `swap_in`, raised the cycle before a block's first A row enters, travels with the A skew and moves each
PE's shadow into its stationary weights just before that row reaches it, so the next block's weights preload
under the current block's stream. Both need a block period of at least max(rows, cols) cycles (see layer.py).
"""
from amaranth.hdl import Array, Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hwsim.rtl.params import CoreParams
from hwsim.rtl.pe import SparsePE, pe_instance


class PEArray(wiring.Component):
    """rows x cols `SparsePE`s in OS or WS (`ws` input), with skew and deskew registers.

    `pe_modules` True: each PE is an instance of the separately exported PE module (`pe.GatedPE`, clock enable
    `en`), for Verilog export of large arrays; False: the PEs are submodules (Amaranth's simulator, the layer
    machine), and `en` is unused (an enclosing EnableInserter gates them)."""

    def __init__(self, p: CoreParams, pe_modules: bool = False):
        self.p = p
        self.pe_modules = pe_modules
        R, C = p.rows, p.cols
        super().__init__({
            "en": In(1, init=1),             # clock enable of the PE instances (pe_modules only)
            "ws": In(1),
            "a_in": In(unsigned(R * p.k_step * p.width)),
            "ctl_in": In(2),
            "b_in": In(unsigned(C * p.mults * p.b_lane_width)),
            "w_load": In(1),
            "w_row": In(range(R)),
            "w_data": In(unsigned(C * p.mults * p.b_lane_width)),
            "acc_sel": In(range(R)),
            "last_in": In(1),
            "swap_in": In(1),
            "sw_load": In(1),
            "sw_row": In(range(R)),
            "os_sh_out": Out(unsigned(C * p.acc_width)),
            "os_out": Out(unsigned(C * p.acc_width)),
            "ws_out": Out(unsigned(C * p.acc_width)),
        })

    @property
    def latency(self) -> int:
        """PE pipeline depth (operands in -> accumulator)."""
        return self.p.pe_latency

    def os_row_offset(self, steps: int) -> int:
        """OS: cycles from step 0 at the array inputs until row 0 of C is final (row r: + r)."""
        return steps - 1 + self.p.cols - 1 + self.latency

    @property
    def ws_row_offset(self) -> int:
        """WS: cycles from A row 0 at the array inputs until row 0 of C is at `ws_out` (row t: + t)."""
        return self.p.rows - 1 + self.p.cols - 1 + self.latency

    def elaborate(self, platform):
        p = self.p
        R, C = p.rows, p.cols
        aw, bw = p.k_step * p.width, p.mults * p.b_lane_width
        m = Module()
        pes = [[SparsePE(p, top_row=(i == 0)) for j in range(C)] for i in range(R)]
        for i in range(R):
            for j in range(C):
                m.submodules[f"pe_{i}_{j}"] = pe_instance(pes[i][j], self.en) if self.pe_modules else pes[i][j]

        def delayed(sig, n, name):
            """`sig` through n registers."""
            for d in range(n):
                nxt = Signal.like(sig, name=f"{name}_d{d}")
                m.d.sync += nxt.eq(sig)
                sig = nxt
            return sig

        # OS: the capture flag reaches PE(i, j) latency + i + j cycles after the last step entered; WS: the swap
        # flag reaches it i + j cycles after being raised. Both ride skew chains beside A.
        last_l = delayed(self.last_in, self.latency, "lastpipe")
        cap = [[None] * C for _ in range(R)]
        swp = [[None] * C for _ in range(R)]
        for i in range(R):  # A and flags: skew, then left to right
            a = delayed(self.a_in[i * aw:(i + 1) * aw], i, f"askew{i}")
            ctl = delayed(self.ctl_in, i, f"cskew{i}")
            lc = delayed(last_l, i, f"lskew{i}")
            sc = delayed(self.swap_in, i, f"sskew{i}")
            for j in range(C):
                pe = pes[i][j]
                m.d.comb += [pe.a_in.eq(a), pe.ctl_in.eq(ctl), pe.ws.eq(self.ws)]
                a, ctl = pe.a_out, pe.ctl_out
                cap[i][j], swp[i][j] = lc, sc
                if j < C - 1:
                    lc, sc = delayed(lc, 1, f"lc{i}_{j}"), delayed(sc, 1, f"sc{i}_{j}")
        shadow = [[Signal(signed(p.acc_width), name=f"shacc{i}_{j}") for j in range(C - 1)] for i in range(R)]
        for i in range(R):
            for j in range(C - 1):
                with m.If(cap[i][j]):
                    m.d.sync += shadow[i][j].eq(pes[i][j].acc)
        sw = [[Signal(unsigned(bw), name=f"shw{i}_{j}") for j in range(C)] for i in range(R)]
        for i in range(R):
            for j in range(C):
                with m.If(self.sw_load & (self.sw_row == i)):
                    m.d.sync += sw[i][j].eq(self.w_data[j * bw:(j + 1) * bw])
        for j in range(C):  # B: skew, then top to bottom; WS partial sums top to bottom
            b = delayed(self.b_in[j * bw:(j + 1) * bw], j, f"bskew{j}")
            for i in range(R):
                pe = pes[i][j]
                m.d.comb += [pe.b_in.eq(b),
                             pe.w_data.eq(Mux(swp[i][j], sw[i][j], self.w_data[j * bw:(j + 1) * bw])),
                             pe.w_load.eq((self.w_load & (self.w_row == i)) | swp[i][j])]
                if i > 0:
                    m.d.comb += pe.psum_in.eq(pes[i - 1][j].acc)
                b = pe.b_out
        rows = Array(Cat(*(pes[i][j].acc for j in range(C))) for i in range(R))
        m.d.comb += self.os_out.eq(rows[self.acc_sel])
        sh_rows = Array(Cat(*shadow[i], pes[i][C - 1].acc) for i in range(R))
        m.d.comb += self.os_sh_out.eq(sh_rows[self.acc_sel])
        m.d.comb += self.ws_out.eq(Cat(*(delayed(pes[R - 1][j].acc, C - 1 - j, f"deskew{j}") for j in range(C))))
        return m
