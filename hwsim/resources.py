"""Resource estimate of a SAT configuration on its board, one stated rule per resource.

The rules are first-order and deliberately simple; each constant says where it comes from. They are meant to
answer "does this configuration fit the board, and roughly how full is it", and to be calibrated against
synthesis of the RTL (reports/rtl/) rather than trusted to the last LUT.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from math import ceil, log2

# DSP slices per multiplier as Yosys synth_xilinx maps the generated RTL (reports/rtl/calibration.csv): one
# DSP48E2 per int8, int16 or fp16 product (the int8 pair packing of Xilinx WP486 is not what the RTL does; an fp16
# significand product, 11x11, fits one 27x18 DSP); fp32 operands (24x24, not generated) would take two plus one.
DSPS_PER_MULT = {"int8": 1.0, "int16": 1.0, "fp16": 1.0, "fp32": 3.0}
DSPS_PER_MULT_OTHER = 10.0       # 8-byte operands: a 53x53 product over many DSPs
# The PE array and its controller, as linear rules over the RTL's structure, fitted by least squares to Yosys
# synth_xilinx -family xcup of the generated core (reports/rtl/calibration.csv, `python reports/rtl_resources.py
# --calibrate`): 2x2 arrays with 2 and 8 multipliers per PE in int8, int16 and fp16 at 2:8, dense beside 2:8 (int16,
# fp16), a 3x3 int16 array for what does not scale with the PEs. Held out and predicted: the 4-multiplier PEs of
# each format (reports/rtl/estimate_vs_synthesis.md: within 15%). Logic LUTs only: LUTs used as RAM hold tile
# buffers, which the board estimate places in block RAM.
# per multiplier: operand and product pipeline and the accumulate (int32 add; fp16: the exact fp16 x fp16 -> fp32
# multiplier's normalization and one round-to-nearest-even fp32 adder of the PE's chain)
LUT_PER_MULT = {"int8": 57.0, "int16": 57.0, "fp16": 500.0}
LUT_MUX_PER_BIT_LEVEL = 1.6      # per operand bit and per 4:1 level of each multiplier's M:1 activation mux
LUT_CONTROL_PER_PE = 30.0        # PE-local control: valid/first flags, OS/WS select, weight-load decode
LUT_CORE_FIXED = 100.0           # the controller, counters, output stream and buffer read muxes of one core
FF_PER_MULT = {"int8": 40.0, "int16": 70.0, "fp16": 100.0}  # operand, product and weight registers
FF_PER_LINK_BIT = 1.0            # per forwarded activation bit (k step x operand bits) of a PE
FF_CONTROL_PER_PE = 40.0         # accumulator and the flags of every stage
HELD_OUT_MULTS = 4                # the calibration's held-out PEs: every format at 4 multipliers
FF_CORE_FIXED = 60.0             # the controller's state, counters, address and output registers
# Beyond the calibrated PE array:
DSPS_PER_VECTOR_LANE = 3         # FP32 fused multiply-add: 2 DSPs for the 24x24 product, 1 for the add
LUT_PER_VECTOR_LANE = 300        # FP32 add normalization and rounding in fabric
LUT_PER_SELECTOR_COMPARE = 20    # a 16-bit magnitude compare and the swap mux of one insertion slot
FF_PER_LUT = 1.2                 # pipelined datapaths register almost every LUT output (typical 1-1.5)
DESIGN_KEEP = 2                  # board estimate: PEs sized for 2:M (the paper's 2:8), the widest A port per PE


def operand_format(cfg) -> str:
    """int8, int16, fp16, ... (the RTL's dtype naming)."""
    return cfg.precision.operand_name


@dataclass(frozen=True)
class Resources:
    """Estimated use. `fits` compares every resource against the board's budget."""

    dsp: int
    lut: int
    ff: int
    bram: int
    uram: int
    budget: dict

    @property
    def utilization(self) -> dict[str, float]:
        return {k: getattr(self, k) / v if v else (0.0 if getattr(self, k) == 0 else float("inf"))
                for k, v in self.budget.items()}

    @property
    def fits(self) -> bool:
        return all(u <= 1.0 for u in self.utilization.values())

    @property
    def over(self) -> list[str]:
        """The resources over budget, as 'dsp 9,600/6,840'."""
        return [f"{k} {getattr(self, k):,}/{v:,}" for k, v in self.budget.items() if getattr(self, k) > v]

    def to_dict(self) -> dict:
        out = {k: v for k, v in asdict(self).items() if k != "budget"}
        out.update({f"{k}_util": round(u, 4) for k, u in self.utilization.items()})
        out["fits_board"] = self.fits
        return out


def _per_mult(table: dict, cfg) -> float:
    """A per-multiplier constant of the operand format; formats the RTL does not generate are extrapolated from
    the nearest one by operand width (fp32 from fp16, wider integers from int16)."""
    fmt = operand_format(cfg)
    if fmt in table:
        return table[fmt]
    base = table["fp16"] if cfg.precision.is_float else table["int16"]
    return base * cfg.precision.operand_bytes / 2


def _k_step(cfg, group: int | None, keep: int) -> int:
    """Activations a PE takes per cycle: groups per PE x M (dense: one per multiplier)."""
    mults = cfg.array.mults_per_pe
    return mults // min(keep, mults) * group if group else mults


def pe_luts(cfg, group: int | None) -> float:
    """Logic LUTs of one PE: per multiplier its datapath (by operand format) and its M:1 activation mux for N:M
    groups up to `group` (None: dense), plus the PE's control."""
    bits = 8 * cfg.precision.operand_bytes
    per_mult = _per_mult(LUT_PER_MULT, cfg)
    if group:
        per_mult += ceil(group / 4) * bits * LUT_MUX_PER_BIT_LEVEL
    return cfg.array.mults_per_pe * per_mult + LUT_CONTROL_PER_PE


def pe_ffs(cfg, group: int | None, keep: int = DESIGN_KEEP) -> float:
    """Registers of one PE: per multiplier (operand, product and weight registers, by format), the forwarded
    activations (k step x operand bits) and the accumulator and flags."""
    bits = 8 * cfg.precision.operand_bytes
    return (cfg.array.mults_per_pe * _per_mult(FF_PER_MULT, cfg) + _k_step(cfg, group, keep) * bits * FF_PER_LINK_BIT
            + FF_CONTROL_PER_PE)


def estimate(cfg) -> Resources:
    """DSPs, LUTs, FFs and memory blocks of `cfg` (a SATConfig) by the rules above, the PEs sized for the largest
    group size the selector supports at 2:M."""
    a, board = cfg.array, cfg.board
    m_max = max(cfg.selector.group_sizes)
    pes = a.rows * a.cols
    mults = pes * a.mults_per_pe
    dsp = ceil(mults * DSPS_PER_MULT.get(operand_format(cfg), DSPS_PER_MULT_OTHER)) \
        + cfg.vector.lanes * DSPS_PER_VECTOR_LANE
    # Each selector lane keeps a sorted top-N over a group of M: one compare slot per kept value, N up to M/2.
    lut_sel = cfg.selector.lanes * (m_max // 2) * LUT_PER_SELECTOR_COMPARE + cfg.selector.lanes * ceil(log2(m_max))
    lut_array = ceil(pes * pe_luts(cfg, m_max) + LUT_CORE_FIXED)
    lut = lut_array + cfg.vector.lanes * LUT_PER_VECTOR_LANE + lut_sel
    ff = ceil(pes * pe_ffs(cfg, m_max) + FF_CORE_FIXED) + ceil(FF_PER_LUT * (lut - lut_array))
    bram, uram = _memories(cfg)
    budget = {"dsp": board.dsp, "lut": board.lut, "ff": board.ff, "bram": board.bram, "uram": board.uram}
    return Resources(dsp=dsp, lut=lut, ff=ff, bram=bram, uram=uram, budget=budget)


def core_estimate(cfg, nm: str) -> dict:
    """The estimate of what `hwsim rtl` generates for `cfg`: the PE array and its controller only (no vector
    engine; the selector is a separate module), for an N:M pattern (e.g. "2:8") or "dense"; to set beside
    synthesis (logic LUTs, FFs, DSPs)."""
    keep, group = (None, None) if nm == "dense" else map(int, nm.split(":"))
    pes = cfg.array.rows * cfg.array.cols
    mults = pes * cfg.array.mults_per_pe
    return {"LUT_est": ceil(pes * pe_luts(cfg, group) + LUT_CORE_FIXED),
            "FF_est": ceil(pes * pe_ffs(cfg, group, keep or 1) + FF_CORE_FIXED),
            "DSP_est": ceil(mults * DSPS_PER_MULT.get(operand_format(cfg), DSPS_PER_MULT_OTHER))}


def _memories(cfg) -> tuple[int, int]:
    """Buffers go to UltraRAM when the device has it (dense, 32 KiB blocks), else to block RAM."""
    board, sizes = cfg.board, (cfg.buffers.a_kib, cfg.buffers.b_kib, cfg.buffers.c_kib)
    if board.uram:
        return 0, sum(ceil(kib / board.uram_kib) for kib in sizes)
    return sum(ceil(kib / board.bram_kib) for kib in sizes), 0
