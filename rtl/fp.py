"""Floating-point arithmetic of the FP16 PE: an fp16 x fp16 -> fp32 multiplier (exact) and an fp32 adder
(round to nearest, ties to even), both combinational, bit-exact to `hwsim.functional`'s float mode.

Policy (the functional model's, stated there and in docs/rtl.md):
* The product of two fp16 values is exact in fp32 (11 x 11 significand bits fit in 24; magnitudes from 2**-48
  to 65504**2 < 2**32 are normal fp32), so the multiplier never rounds: fp16 subnormal inputs are normalized,
  the result is always a normal fp32 number or a signed zero (sign = xor of the operand signs).
* The adder rounds to nearest, ties to even, keeps fp32 subnormals (gradual underflow, no flush to zero) and
  rounds overflow to +-inf. x + (-x) is +0.0; -0.0 + -0.0 is -0.0.
* inf and NaN follow IEEE 754 (inf * 0 and inf + -inf are NaN; NaN propagates). Every NaN either unit produces
  is the canonical quiet NaN 0x7FC00000: sign and payload are not kept.
Operands and results are raw bit patterns (unsigned 16 and 32 bits).
"""
from amaranth.hdl import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

FP32_NAN = 0x7FC0_0000
FP32_INF = 0x7F80_0000
F16_BIAS, F32_BIAS = 15, 127
GUARD = 3  # guard, round and sticky bits below the fp32 significand in the adder


def _leading_one(m: Module, value, name: str) -> Signal:
    """Index of the highest set bit of `value` (0 when value is 0): a priority encoder."""
    pos = Signal(range(max(2, len(value))), name=name)
    for i in range(len(value)):  # later assignments win: the highest set bit
        with m.If(value[i]):
            m.d.comb += pos.eq(i)
    return pos


class FP16Mul(wiring.Component):
    """fp16 x fp16 -> fp32, exact (no rounding is ever needed); combinational."""

    a: In(16)
    b: In(16)
    p: Out(32)

    def elaborate(self, platform):
        m = Module()
        a, b = self.a, self.b
        sign = a[15] ^ b[15]
        ea, eb, fa, fb = a[10:15], b[10:15], a[:10], b[:10]
        a_nan, b_nan = (ea == 31) & (fa != 0), (eb == 31) & (fb != 0)
        a_inf, b_inf = (ea == 31) & (fa == 0), (eb == 31) & (fb == 0)
        a_zero, b_zero = (ea == 0) & (fa == 0), (eb == 0) & (fb == 0)
        sig = Signal(22)  # 11 x 11 significand product; >= 1 when neither operand is zero
        m.d.comb += sig.eq(Cat(fa, ea != 0) * Cat(fb, eb != 0))
        lead = _leading_one(m, sig, "lead")
        shl, norm = Signal(range(22)), Signal(22)
        m.d.comb += [shl.eq(21 - lead), norm.eq((sig << shl)[:22])]  # leading one at bit 21
        # value = sig * 2**(xa + xb - 2*15 - 20), xa = max(ea, 1): the fp32 biased exponent is that plus lead + 127
        exp = Signal(8)
        m.d.comb += exp.eq(Mux(ea == 0, 1, ea) + Mux(eb == 0, 1, eb) + lead + (F32_BIAS - 2 * F16_BIAS - 20))
        with m.If(a_nan | b_nan | (a_inf & b_zero) | (a_zero & b_inf)):
            m.d.comb += self.p.eq(FP32_NAN)
        with m.Elif(a_inf | b_inf):
            m.d.comb += self.p.eq(Cat(Const(FP32_INF, 31), sign))
        with m.Elif(a_zero | b_zero):
            m.d.comb += self.p.eq(Cat(Const(0, 31), sign))
        with m.Else():
            m.d.comb += self.p.eq(Cat(Const(0, 2), norm[:21], exp, sign))
        return m


class FP32Add(wiring.Component):
    """fp32 + fp32 -> fp32, round to nearest even, subnormals kept; combinational.

    The larger magnitude is `big`; the smaller significand is aligned to it with guard, round and sticky bits,
    added or subtracted, normalized (left shifts stop at the subnormal exponent), rounded, and reassembled as
    ((exponent - 1) << 23) + significand so that a carry out of the significand (rounding up to the next binade,
    or a subnormal rounding up to the smallest normal) bumps the exponent by itself."""

    a: In(32)
    b: In(32)
    s: Out(32)

    def elaborate(self, platform):
        m = Module()
        a, b = self.a, self.b
        ea, eb = a[23:31], b[23:31]
        a_nan, b_nan = (ea == 255) & (a[:23] != 0), (eb == 255) & (b[:23] != 0)
        a_inf, b_inf = (ea == 255) & (a[:23] == 0), (eb == 255) & (b[:23] == 0)

        swap = Signal()
        m.d.comb += swap.eq(a[:31] < b[:31])
        big, small = Signal(32), Signal(32)
        m.d.comb += [big.eq(Mux(swap, b, a)), small.eq(Mux(swap, a, b))]
        eff_sub = a[31] ^ b[31]
        xb = Mux(big[23:31] == 0, 1, big[23:31])  # exponent of the significand's unit bit (subnormals: 1)
        xs = Mux(small[23:31] == 0, 1, small[23:31])
        w = 24 + GUARD
        mb = Signal(w)
        ms = Signal(w)
        m.d.comb += [mb.eq(Cat(Const(0, GUARD), big[:23], big[23:31] != 0)),
                     ms.eq(Cat(Const(0, GUARD), small[:23], small[23:31] != 0))]
        diff = Signal(8)
        m.d.comb += diff.eq(xb - xs)
        shift = Signal(range(w + 1))
        m.d.comb += shift.eq(Mux(diff > w, w, diff))
        aligned = Signal(w)
        m.d.comb += aligned.eq(ms >> shift)
        sticky = Signal()
        m.d.comb += sticky.eq((aligned << shift)[:w] != ms)  # a bit was shifted out
        ms_al = Signal(w)
        m.d.comb += ms_al.eq(aligned | sticky)

        total = Signal(w + 1)  # |big| >= |small|: the difference is never negative
        m.d.comb += total.eq(Mux(eff_sub, mb - ms_al, mb + ms_al))

        norm = Signal(w)  # unit bit at w - 1 (or below it: subnormal)
        xr = Signal(9)  # exponent of bit w - 1 after normalization, >= 1
        with m.If(total[w]):  # carry out: one right shift, keeping the shifted-out bit as sticky
            m.d.comb += [norm.eq(total[1:] | total[0]), xr.eq(xb + 1)]
        with m.Else():
            lead = _leading_one(m, total[:w], "lead")
            lz = Signal(range(w + 1))
            m.d.comb += lz.eq(w - 1 - lead)
            left = Signal(range(w + 1))
            m.d.comb += left.eq(Mux(lz < xb - 1, lz, xb - 1))  # stop at the subnormal exponent
            m.d.comb += [norm.eq((total[:w] << left)[:w]), xr.eq(xb - left)]

        kept = norm[GUARD:]  # 24 bits: unit bit and fraction
        g, rest = norm[GUARD - 1], norm[:GUARD - 1] != 0
        up = g & (rest | kept[0])
        mag = Signal(unsigned(33))
        m.d.comb += mag.eq(((xr - 1) << 23) + kept + up)

        sign = Signal()
        m.d.comb += sign.eq(big[31])
        with m.If(a_nan | b_nan | (a_inf & b_inf & eff_sub)):
            m.d.comb += self.s.eq(FP32_NAN)
        with m.Elif(a_inf | b_inf):
            m.d.comb += self.s.eq(Cat(Const(FP32_INF, 31), Mux(a_inf, a[31], b[31])))
        with m.Elif(total == 0):  # exact cancellation is +0.0; -0.0 + -0.0 stays -0.0
            m.d.comb += self.s.eq(Cat(Const(0, 31), sign & ~eff_sub))
        with m.Elif(mag >= FP32_INF):
            m.d.comb += self.s.eq(Cat(Const(FP32_INF, 31), sign))
        with m.Else():
            m.d.comb += self.s.eq(Cat(mag[:31], sign))
        return m
