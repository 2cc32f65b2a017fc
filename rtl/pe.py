"""The N:M sparse processing element: activation muxes, `mults` multipliers, an adder tree and an accumulator.

Per cycle a PE takes `k_step` activations (`groups_per_pe` groups of M) and `mults` compressed weights with
their in-group indices; multiplier j serves group j // N and multiplies its weight by activation
``group * M + index``. Dense is the 1:1 case (no mux). Output-stationary (OS): the accumulator sums the
products of one output over the steps of a tile, restarting on the step flagged `first`. Weight-stationary
(WS): the weights sit in `w_stat` (loaded with `w_load`) and the PE adds its products to the partial sum from
the PE above (0 in the top row). Integer PEs: operands are signed ints of `width` bits, products exact, an adder
tree, sums wrap at `acc_width` bits (order-free). FP16 PEs (`p.floating`): fp16 operands, exact fp32 products
(`fp.FP16Mul`), and a chain of `mults` fp32 adders (`fp.FP32Add`, each rounding to nearest even) that adds the
products to the accumulator (OS; +0.0 on a tile's first step) or to the partial sum from above (WS; +0.0 in the
top row) one at a time in multiplier order, which is ascending reduction position: the sequential order of
`hwsim.functional`. The ports are the same in both; fp32 values travel as their bit patterns.
The A and B operands, and the valid/first flags, leave through one register each: the systolic links.
"""
from amaranth.hdl import Array, ClockSignal, EnableInserter, Instance, Module, Mux, Signal, ResetSignal, signed, \
    unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hwsim.rtl.fp import FP16Mul, FP32Add
from hwsim.rtl.params import MIN_PE_LATENCY, CoreParams


class SparsePE(wiring.Component):
    """One PE; `latency` cycles from operands at its inputs to the updated accumulator at `acc`.

    Stages: [operand mux] -> operand register (when latency >= 3) -> multiplier -> product register(s)
    -> adder tree + accumulator register; depth = the config's array.pipeline_depth (>= 2)."""

    def __init__(self, p: CoreParams, top_row: bool = False):
        self.p = p
        self.top_row = top_row
        bw = p.mults * p.b_lane_width
        super().__init__({
            "ws": In(1),                       # 1: weight-stationary, 0: output-stationary
            "a_in": In(unsigned(p.k_step * p.width)),
            "ctl_in": In(2),                   # bit 0 valid, bit 1 first step of a tile (OS restart)
            "b_in": In(unsigned(bw)),          # OS: streaming compressed weights (value, index) x mults
            "w_load": In(1),                   # WS: capture w_data into the stationary weights
            "w_data": In(unsigned(bw)),
            "psum_in": In(signed(p.acc_width)),
            "a_out": Out(unsigned(p.k_step * p.width)),
            "ctl_out": Out(2),
            "b_out": Out(unsigned(bw)),
            "acc": Out(signed(p.acc_width)),
        })

    @property
    def latency(self) -> int:
        """Cycles from operands at the inputs to their contribution in `acc` (the config's pipeline_depth)."""
        return self.p.pe_latency

    def elaborate(self, platform):
        p = self.p
        m = Module()
        w, ib, lw = p.width, p.idx_width, p.b_lane_width

        # systolic links
        m.d.sync += [self.a_out.eq(self.a_in), self.ctl_out.eq(self.ctl_in), self.b_out.eq(self.b_in)]

        w_stat = Signal(unsigned(p.mults * lw))
        with m.If(self.w_load):
            m.d.sync += w_stat.eq(self.w_data)
        weights = Signal(unsigned(p.mults * lw))
        m.d.comb += weights.eq(Mux(self.ws, w_stat, self.b_in))

        acts = [self.a_in[i * w:(i + 1) * w].as_signed() for i in range(p.k_step)]
        prods = []
        for j in range(p.mults):
            lane = weights[j * lw:(j + 1) * lw]
            value = lane[:w].as_signed()
            g = j // p.keep
            if p.group == 1:
                act = acts[g]
            else:
                act = Array(acts[g * p.group:(g + 1) * p.group])[lane[w:w + ib]]
            if p.pe_latency > MIN_PE_LATENCY:  # operand register between the mux and the multiplier (Fmax)
                act_r, value_r = Signal(signed(w), name=f"act{j}"), Signal(signed(w), name=f"wgt{j}")
                m.d.sync += [act_r.eq(act), value_r.eq(value)]
                act, value = act_r, value_r
            if p.floating:
                m.submodules[f"mul{j}"] = mul = FP16Mul()
                m.d.comb += [mul.a.eq(act), mul.b.eq(value)]
                prod = Signal(32, name=f"prod{j}")
                m.d.sync += prod.eq(mul.p)
            else:
                prod = Signal(signed(2 * w), name=f"prod{j}")
                m.d.sync += prod.eq(act * value)
            prods.append(prod)
        ctl = Signal(2, name="ctl_p0")
        m.d.sync += ctl.eq(self.ctl_in)
        if p.pe_latency > MIN_PE_LATENCY:
            ctl_r = Signal(2, name="ctl_op")
            m.d.sync += ctl_r.eq(ctl)
            ctl = ctl_r
        # further product stages so that the PE latency equals the configured pipeline depth
        for s in range(p.pe_latency - MIN_PE_LATENCY - 1):
            nxt = [Signal.like(prods[j], name=f"prod{j}_s{s + 1}") for j in range(p.mults)]
            m.d.sync += [n.eq(q) for n, q in zip(nxt, prods)]
            prods = nxt
            nctl = Signal(2, name=f"ctl_s{s + 1}")
            m.d.sync += nctl.eq(ctl)
            ctl = nctl
        valid, first = ctl[0], ctl[1]
        if p.floating:
            self._fp_accumulate(m, prods, valid, first)
            return m
        total = Signal(signed(p.acc_width), name="sum")
        m.d.comb += total.eq(_tree(prods))
        with m.If(self.ws):
            m.d.sync += self.acc.eq(total if self.top_row else self.psum_in + total)
        with m.Elif(valid):
            with m.If(first):
                m.d.sync += self.acc.eq(total)
            with m.Else():
                m.d.sync += self.acc.eq(self.acc + total)
        return m

    def _fp_accumulate(self, m, prods, valid, first):
        """acc <- (((base + p0) + p1) + ...), every add rounded: base = psum_in / +0.0 (WS), acc / +0.0 (OS)."""
        base = Signal(32, name="base")
        with m.If(self.ws):
            m.d.comb += base.eq(0 if self.top_row else self.psum_in.as_unsigned())
        with m.Elif(first):
            m.d.comb += base.eq(0)
        with m.Else():
            m.d.comb += base.eq(self.acc.as_unsigned())
        total = base
        for j, prod in enumerate(prods):
            m.submodules[f"add{j}"] = add = FP32Add()
            m.d.comb += [add.a.eq(total), add.b.eq(prod)]
            total = add.s
        with m.If(self.ws | valid):
            m.d.sync += self.acc.eq(total)


PE_MODULE, PE_TOP_MODULE = "sat_pe", "sat_pe_top"


def pe_module_name(top_row: bool) -> str:
    """Verilog module name of the PE: the top row's takes no partial sum from above, so it is its own module."""
    return PE_TOP_MODULE if top_row else PE_MODULE


class GatedPE(wiring.Component):
    """A `SparsePE` with a clock enable `en` (its registers hold while `en` is low), as its own Verilog module.

    The core exports the PE once per variant and instantiates it rows x cols times (`pe_instance`): elaboration
    and Verilog writing then grow with the array's wiring, not with rows x cols copies of the PE datapath (a
    paper-scale fp16 core has 4,096 fp32 adders). `en` stands for the EnableInserter the core puts around the
    array, which does not reach into an instance."""

    def __init__(self, p: CoreParams, top_row: bool = False):
        self.pe = SparsePE(p, top_row)
        super().__init__({"en": In(1), **dict(self.pe.signature.members.items())})

    def elaborate(self, platform):
        m = Module()
        m.submodules.pe = EnableInserter(self.en)(self.pe)
        for name, member in self.pe.signature.members.items():
            inner, outer = getattr(self.pe, name), getattr(self, name)
            m.d.comb += inner.eq(outer) if member.flow == In else outer.eq(inner)
        return m


def pe_instance(pe: SparsePE, en) -> Instance:
    """An instance of the exported PE module (`GatedPE`, named `pe_module_name`) wired to `pe`'s port signals,
    which the array drives and reads as if `pe` were its submodule (`pe` itself is not elaborated)."""
    pe._MustUse__silence = True
    kwargs = {"i_clk": ClockSignal(), "i_rst": ResetSignal(), "i_en": en}
    for name, member in pe.signature.members.items():
        kwargs[("i_" if member.flow == In else "o_") + name] = getattr(pe, name)
    return Instance(pe_module_name(pe.top_row), **kwargs)


def _tree(values):
    """Balanced adder tree (sums widen; the accumulator assignment wraps to its width)."""
    values = list(values)
    while len(values) > 1:
        values = [values[i] + values[i + 1] if i + 1 < len(values) else values[i] for i in range(0, len(values), 2)]
    return values[0]
