"""rtl.fp against numpy's IEEE arithmetic (Amaranth's simulator, no Verilog): fp16 x fp16 -> fp32 products and
fp32 sums, bit for bit, on random bit patterns plus the hard cases (subnormals, ties, cancellation, overflow,
signed zeros, inf, NaN)."""
import numpy as np
import pytest

pytest.importorskip("amaranth")
from amaranth.sim import Simulator  # noqa: E402

from hwsim.rtl.fp import FP32_NAN, FP16Mul, FP32Add  # noqa: E402


def run_comb(dut, inputs: dict[str, np.ndarray], out: str) -> np.ndarray:
    """Drive each input vector into a combinational component and read `out`."""
    n = len(next(iter(inputs.values())))
    got = np.zeros(n, dtype=np.uint64)

    async def bench(ctx):
        for i in range(n):
            for name, vals in inputs.items():
                ctx.set(getattr(dut, name), int(vals[i]))
            got[i] = ctx.get(getattr(dut, out))

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()
    return got


def canonical(x: np.ndarray) -> np.ndarray:
    """fp32 bit patterns with every NaN replaced by the canonical quiet NaN."""
    bits = x.astype(np.float32).view(np.uint32).astype(np.uint64)
    bits[np.isnan(x)] = FP32_NAN
    return bits


def f16_cases(rng, n):
    """Random fp16 bit patterns (all classes) mixed with the special values."""
    special = np.array([0x0000, 0x8000, 0x0001, 0x8001, 0x03FF, 0x0400, 0x7BFF, 0xFBFF, 0x3C00, 0xBC00,
                        0x7C00, 0xFC00, 0x7E00, 0x7C01, 0xFE00, 0x3555], dtype=np.uint16)
    x = rng.integers(0, 1 << 16, size=n, dtype=np.uint64).astype(np.uint16)
    pick = rng.random(n) < 0.25
    return np.where(pick, rng.choice(special, size=n), x)


def test_fp16_mul_is_exact_and_follows_the_nan_inf_policy():
    rng = np.random.default_rng(7)
    n = 3000
    a, b = f16_cases(rng, n), f16_cases(rng, n)
    sub = rng.random(n) < 0.2  # subnormal x subnormal/normal products: the smallest magnitudes
    a[sub] = rng.integers(1, 0x400, size=sub.sum()) | (rng.integers(0, 2, size=sub.sum()) << 15)
    got = run_comb(FP16Mul(), {"a": a, "b": b}, "p")
    with np.errstate(all="ignore"):
        want = canonical(a.view(np.float16).astype(np.float32) * b.view(np.float16).astype(np.float32))
    bad = np.flatnonzero(got != want)
    assert not len(bad), f"{len(bad)} products differ, first a={a[bad[0]]:#06x} b={b[bad[0]]:#06x}: " \
                         f"rtl {int(got[bad[0]]):#010x} numpy {int(want[bad[0]]):#010x}"


def f32_pairs(rng, n):
    """fp32 operand pairs: random patterns, near-cancellations, rounding ties, subnormals, huge exponent gaps,
    overflow, zeros, inf and NaN."""
    a = rng.integers(0, 1 << 32, size=n, dtype=np.uint64).astype(np.uint32)
    b = rng.integers(0, 1 << 32, size=n, dtype=np.uint64).astype(np.uint32)
    kind = rng.integers(0, 8, size=n)
    # 1: close exponents, either sign (cancellation, carries)
    m = kind == 1
    ea = (a[m] >> 23 & 0xFF).astype(np.int64)
    eb = np.clip(ea + rng.integers(-3, 4, size=m.sum()), 0, 254).astype(np.uint32)
    b[m] = (rng.integers(0, 2, size=m.sum()) << 31).astype(np.uint32) | eb << 23 \
        | rng.integers(0, 1 << 23, size=m.sum()).astype(np.uint32)
    # 2: subnormals (and zero) on both sides
    m = kind == 2
    a[m] = rng.integers(0, 1 << 23, size=m.sum()) | (rng.integers(0, 2, size=m.sum()) << 31)
    b[m] = rng.integers(0, 1 << 24, size=m.sum()) | (rng.integers(0, 2, size=m.sum()) << 31)
    # 3: exact ties: b is half an ulp of a (with a low mantissa bit 0 or 1), either sign
    m = kind == 3
    e = rng.integers(30, 220, size=m.sum()).astype(np.uint32)
    a[m] = (e << 23) | rng.integers(0, 1 << 23, size=m.sum()).astype(np.uint32)
    b[m] = ((e - 24) << 23) | (rng.integers(0, 2, size=m.sum()) << 31).astype(np.uint32) \
        | rng.choice(np.array([0, 0, 1], dtype=np.uint32), size=m.sum())
    # 4: values near the top of the range (overflow to inf)
    m = kind == 4
    a[m] = rng.integers(0x7F00_0000, 0x7F80_0000, size=m.sum()) | (rng.integers(0, 2, size=m.sum()) << 31)
    b[m] = rng.integers(0x7F00_0000, 0x7F80_0000, size=m.sum()) | (rng.integers(0, 2, size=m.sum()) << 31)
    # 5: specials
    m = kind == 5
    special = np.array([0, 0x8000_0000, FP32_NAN, 0xFFC0_0001, 0x7F80_0000, 0xFF80_0000, 0x7F80_0001, 1,
                        0x8000_0001, 0x0080_0000, 0x807F_FFFF, 0x3F80_0000, 0xBF80_0000], dtype=np.uint32)
    a[m] = rng.choice(special, size=m.sum())
    b[m] = np.where(rng.random(m.sum()) < 0.5, rng.choice(special, size=m.sum()), b[m])
    # 6: x + (-x) and -0 + -0
    m = kind == 6
    b[m] = a[m] ^ np.where(rng.random(m.sum()) < 0.8, 0x8000_0000, 0).astype(np.uint32)
    return a, b


def test_fp32_add_rounds_to_nearest_even_with_subnormals():
    rng = np.random.default_rng(11)
    a, b = f32_pairs(rng, 4000)
    got = run_comb(FP32Add(), {"a": a, "b": b}, "s")
    with np.errstate(all="ignore"):
        want = canonical(a.view(np.float32) + b.view(np.float32))
    bad = np.flatnonzero(got != want)
    assert not len(bad), f"{len(bad)} sums differ, first a={a[bad[0]]:#010x} b={b[bad[0]]:#010x}: " \
                         f"rtl {int(got[bad[0]]):#010x} numpy {int(want[bad[0]]):#010x}"


@pytest.mark.parametrize("a,b,want", [
    (0x3F80_0000, 0x3380_0000, 0x3F80_0000),  # 1 + 2**-24: a tie, even stays
    (0x3F80_0001, 0x3380_0000, 0x3F80_0002),  # 1+ulp + half ulp: a tie, rounds up to even
    (0x3FFF_FFFE, 0x34C0_0020, 0x4000_0001),  # carry out with half an ulp and a sticky bit: rounds up
    (0x3F80_0000, 0xBF80_0000, 0x0000_0000),  # 1 - 1 = +0.0
    (0x8000_0000, 0x8000_0000, 0x8000_0000),  # -0 + -0 = -0
    (0x0080_0000, 0x8000_0001, 0x007F_FFFF),  # smallest normal - smallest subnormal: a subnormal
    (0x007F_FFFF, 0x0000_0001, 0x0080_0000),  # subnormal carries into the smallest normal
    (0x7F7F_FFFF, 0x7300_0000, 0x7F80_0000),  # max + half ulp ties to even: overflow to inf
    (0x7F80_0000, 0xFF80_0000, FP32_NAN),  # inf - inf
])
def test_fp32_add_hand_worked(a, b, want):
    assert int(run_comb(FP32Add(), {"a": np.array([a]), "b": np.array([b])}, "s")[0]) == want
