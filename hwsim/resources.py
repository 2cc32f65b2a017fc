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
# The PE array and its controller (`core_estimate`), as linear rules over the RTL's structure (`core_features`),
# fitted by least squares to Yosys synth_xilinx -family xcup -flatten of the generated core (logic LUTs;
# reports/rtl/resources.csv; `python reports/rtl_resources.py --calibrate` prints the fit) on 2x2 arrays (int8 and
# int16 with 2, 4 and 8 multipliers per PE at 2:8, int16 dense with 2, fp16 with 2) and a 3x3 int16 one with 2: all
# within 2%. Held out (HELD_OUT) and predicted within 1% (reports/rtl/estimate_vs_synthesis.md): 3x3 int8 and int16
# with 4 multipliers, 1x1 fp16 with 4, 2x2 dense int16 with 4.
# per multiplier: the accumulate and its share of the PE's control (int: the products and adder tree sit in the
# DSP48E2s; fp16: the exact fp16 x fp16 -> fp32 multiplier's normalization and one round-to-nearest-even fp32
# adder of the PE's chain, all in fabric)
LUT_PER_MULT = {"int8": 27.83, "int16": 45.06, "fp16": 1095.66}
LUT_MUX_PER_BIT_LEVEL = 1.56     # per operand bit and per 4:1 level of each multiplier's M:1 activation mux
# per operand bit of each multiplier beyond the 4th in a PE: Yosys/ABC simplify the flattened PE less as it grows.
# The PE module synthesized alone is linear in its multipliers (int16: 326, 644, 1,283 LUTs with 2, 4, 8), the
# flattened 2x2 core is not (1,160, 1,943, 5,242: +783 for the 3rd and 4th multipliers of 4 PEs, +3,299 for the
# 5th to 8th), and the same knee shows in int8 (856, 1,257, 2,998).
LUT_ABOVE4_PER_BIT = 6.98
LUT_PER_PE = 80.7                # the accumulator's update (OS restart, WS partial sum) and the PE's control
LUT_CORE_FIXED = 95.75           # the controller, counters and output stream of one core
LUTRAM_MAX_DEPTH = 64            # Yosys puts memories up to this depth in LUT RAM, deeper ones in block RAM
FF_PER_REGISTER_BIT = 1.0        # not fitted: every register bit of the RTL that drives something is one FDRE
                                 # (`register_bits` counts them from rtl/pe.py, array.py and core.py)
FF_CORE_FIXED = 29.6             # the controller's counters and state (fitted: the mean of synthesis - count)
# Board estimate only (`estimate`, not `core_estimate`): the SAT design point accumulates floating-point products
# in the DSP48E2 post-adders as wide fixed point, costing the int16 datapath plus ~40 LUTs per multiplier of
# alignment and normalization. An assumption, not a synthesis result: the generated fp16 RTL adds every product with
# its own fabric fp32 adder (LUT_PER_MULT["fp16"]), which at sat-vcu1525's 4,096 multipliers would need about 4.8M
# LUTs, 4.0x the XCVU9P's (core_estimate, core_board_fit: what `hwsim rtl` reports).
LUT_FP_ALIGN_PER_MULT = 40
HELD_OUT = {("sat-small 3x3 m4 int16", "2:8"), ("sat-small 3x3 m4 int8", "2:8"), ("sat-small 1x1 m4 fp16", "2:8"),
            ("sat-small 2x2 m4 int16", "dense")}
"""The calibration rows left out of the fit, (config, nm) of reports/rtl/resources.csv: 3x3 int8 and int16 arrays
and a 1x1 fp16 one with 4 multipliers per PE, and a dense 2x2 int16 one with 4."""
MULTS_BEFORE_KNEE = 4            # LUT_ABOVE4_PER_BIT applies to the multipliers of a PE beyond this many
# Beyond the calibrated PE array:
DSPS_PER_VECTOR_LANE = 3         # FP32 fused multiply-add: 2 DSPs for the 24x24 product, 1 for the add
LUT_PER_VECTOR_LANE = 300        # FP32 add normalization and rounding in fabric
LUT_PER_SELECTOR_COMPARE = 20    # a 16-bit magnitude compare and the swap mux of one insertion slot
FF_PER_LUT = 1.2                 # pipelined datapaths register almost every LUT output (typical 1-1.5)
DESIGN_KEEP = 2                  # board estimate: PEs sized for 2:M (the paper's 2:8), the widest A port per PE


def held_out(row) -> bool:
    """Whether a synthesized row (reports/rtl/resources.csv) was left out of the fit, to check the rules on."""
    return (row.config, row.nm) in HELD_OUT


def operand_format(cfg) -> str:
    """int8, int16, fp16, ... (the RTL's dtype naming)."""
    return cfg.precision.operand_name
BLOCK_PORT_BYTES = 8             # data bytes per port of a memory block at its widest: URAM288 72-bit and
                                 # BRAM36 512x72 both carry 64 data bits (the rest is ECC/parity)


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


def register_bits(cfg, group: int | None, keep: int) -> dict[str, int]:
    """Register bits of the generated core at N:M keep:group (group None: dense), by part, as Yosys keeps them:
    per multiplier the operand registers (pipeline depth >= 3), the product and its extra pipeline stages and the
    stationary weight; per PE the accumulator and the valid/first flags; the activations and weights a PE forwards
    to its right and lower neighbour (the last column's and last row's drive nothing and are removed); the input
    skew and WS output deskew delay lines; the output register of a buffer in LUT RAM (block RAM has its own);
    the output beat."""
    a, w = cfg.array, 8 * cfg.precision.operand_bytes
    R, C, m, depth = a.rows, a.cols, a.mults_per_pe, a.pipeline_depth
    k_step = m // min(keep, m) * group if group else m
    lane = w + (ceil(log2(group)) if group else 0)
    prod = 32 if cfg.precision.is_float else 2 * w
    per_mult = (2 * w if depth > 2 else 0) + prod * (1 + max(0, depth - 3)) + lane
    tri_r, tri_c = R * (R - 1) // 2, C * (C - 1) // 2
    return {"pe": R * C * (m * per_mult + 32 + 2 * (depth - 1)),
            "links": R * (C - 1) * k_step * w + (R - 1) * C * m * lane,
            "skew": tri_r * k_step * w + tri_c * (m * lane + 32),
            "lutram_out": _lutram_word_bits(cfg, group, keep),
            "out": C * 32 + 2}


def _lutram_word_bits(cfg, group: int | None, keep: int) -> int:
    """Word bits of the tile buffers shallow enough (LUTRAM_MAX_DEPTH) for Yosys to put in LUT RAM."""
    a, bits = cfg.array, 8 * cfg.precision.operand_bytes
    mults = a.mults_per_pe
    k_step = mults // min(keep, mults) * group if group else mults
    lane = bits + (ceil(log2(group)) if group else 0)
    a_word, b_word = a.rows * k_step * bits, a.cols * mults * lane
    a_depth = cfg.buffers.a_kib * 1024 * 8 // 2 // a_word
    b_depth = max(cfg.buffers.b_kib * 1024 * 8 // 2 // b_word, a.rows)
    return a_word * (a_depth <= LUTRAM_MAX_DEPTH) + b_word * (b_depth <= LUTRAM_MAX_DEPTH)


def core_features(cfg, group: int | None, keep: int) -> tuple[dict, dict]:
    """The regressors of the LUT and FF rules for `cfg`'s core at N:M keep:group (group None: dense). LUT:
    multipliers (per format: one entry, the others 0), mux bit-levels, operand bits of multipliers beyond the 4th
    of a PE, and 1 for the fixed part; FF: the register bits (`register_bits`) and 1. `calibrate` fits the constants on them; `core_estimate`
    applies them."""
    a, bits = cfg.array, 8 * cfg.precision.operand_bytes
    pes, mults = a.rows * a.cols, a.mults_per_pe
    fmt = operand_format(cfg)
    per_mult = {f"mult_{f}": pes * mults * (fmt == f) for f in LUT_PER_MULT}
    lut = {**per_mult, "mux": pes * mults * (ceil(group / 4) * bits if group else 0),
           "above4": pes * max(0, mults - MULTS_BEFORE_KNEE) * bits, "pe": pes, "fixed": 1}
    ff = {"regs": sum(register_bits(cfg, group, keep).values()), "fixed": 1}
    return lut, ff


def _constants(cfg) -> tuple[dict, dict]:
    """The fitted constants, keyed like `core_features` (formats outside the fit extrapolated by width)."""
    fmt = operand_format(cfg)
    lut = {f"mult_{f}": LUT_PER_MULT[f] for f in LUT_PER_MULT}
    if fmt not in LUT_PER_MULT:  # its multipliers are counted under the nearest format, scaled
        near = "fp16" if cfg.precision.is_float else "int16"
        lut[f"mult_{near}"] = _per_mult(LUT_PER_MULT, cfg)
    lut.update(mux=LUT_MUX_PER_BIT_LEVEL, above4=LUT_ABOVE4_PER_BIT, pe=LUT_PER_PE, fixed=LUT_CORE_FIXED)
    ff = {"regs": FF_PER_REGISTER_BIT, "fixed": FF_CORE_FIXED}
    return lut, ff


def _features_for(cfg, group, keep):
    lut, ff = core_features(cfg, group, keep)
    fmt = operand_format(cfg)
    if fmt not in LUT_PER_MULT:
        near = "fp16" if cfg.precision.is_float else "int16"
        lut[f"mult_{near}"] = cfg.array.rows * cfg.array.cols * cfg.array.mults_per_pe
    return lut, ff


def _apply(feats: dict, consts: dict) -> float:
    return sum(v * consts[k] for k, v in feats.items())


def pe_luts(cfg, group: int | None, as_generated: bool = True) -> float:
    """Logic LUTs of one PE: per multiplier its datapath (by operand format) and its M:1 activation mux for N:M
    groups up to `group` (None: dense). `as_generated` False: floating point as the board estimate assumes it
    (DSP post-adder accumulation, LUT_FP_ALIGN_PER_MULT), not as the RTL builds it."""
    bits = 8 * cfg.precision.operand_bytes
    if cfg.precision.is_float and not as_generated:
        per_mult = LUT_PER_MULT["int16"] * cfg.precision.operand_bytes / 2 + LUT_FP_ALIGN_PER_MULT
    else:
        per_mult = _per_mult(LUT_PER_MULT, cfg)
    if group:
        per_mult += ceil(group / 4) * bits * LUT_MUX_PER_BIT_LEVEL
    return cfg.array.mults_per_pe * per_mult + max(0, cfg.array.mults_per_pe - MULTS_BEFORE_KNEE) * bits \
        * LUT_ABOVE4_PER_BIT + LUT_PER_PE


def core_ffs(cfg, group: int | None, keep: int = DESIGN_KEEP) -> float:
    """Flip-flops of the PE array and controller: its register bits (`register_bits`) and the controller."""
    return _apply(_features_for(cfg, group, keep)[1], _constants(cfg)[1])


def estimate(cfg) -> Resources:
    """DSPs, LUTs, FFs and memory blocks of `cfg` (a SATConfig) by the rules above, the PEs sized for the largest
    group size the selector supports at 2:M; floating-point LUTs as the SAT design assumes them (see
    LUT_FP_ALIGN_PER_MULT), not as the fp16 RTL builds them (`core_estimate`)."""
    a, board = cfg.array, cfg.board
    m_max = max(cfg.selector.group_sizes)
    pes = a.rows * a.cols
    mults = pes * a.mults_per_pe
    dsp = ceil(mults * DSPS_PER_MULT.get(operand_format(cfg), DSPS_PER_MULT_OTHER)) \
        + cfg.vector.lanes * DSPS_PER_VECTOR_LANE
    # Each selector lane keeps a sorted top-N over a group of M: one compare slot per kept value, N up to M/2.
    lut_sel = cfg.selector.lanes * (m_max // 2) * LUT_PER_SELECTOR_COMPARE + cfg.selector.lanes * ceil(log2(m_max))
    lut_array = ceil(pes * pe_luts(cfg, m_max, as_generated=False) + LUT_CORE_FIXED)
    lut = lut_array + cfg.vector.lanes * LUT_PER_VECTOR_LANE + lut_sel
    ff = ceil(core_ffs(cfg, m_max)) + ceil(FF_PER_LUT * (lut - lut_array))
    bram, uram = _memories(cfg)
    budget = {"dsp": board.dsp, "lut": board.lut, "ff": board.ff, "bram": board.bram, "uram": board.uram}
    return Resources(dsp=dsp, lut=lut, ff=ff, bram=bram, uram=uram, budget=budget)


def core_estimate(cfg, nm: str) -> dict:
    """The estimate of what `hwsim rtl` generates for `cfg`: the PE array and its controller only (no vector
    engine; the selector is a separate module), for an N:M pattern (e.g. "2:8") or "dense"; to set beside
    synthesis (logic LUTs, FFs, DSPs)."""
    keep, group = (1, None) if nm == "dense" else map(int, nm.split(":"))
    lut_f, ff_f = _features_for(cfg, group, keep)
    lut_c, ff_c = _constants(cfg)
    mults = cfg.array.rows * cfg.array.cols * cfg.array.mults_per_pe
    return {"LUT_est": ceil(_apply(lut_f, lut_c)), "FF_est": ceil(_apply(ff_f, ff_c)),
            "DSP_est": ceil(mults * DSPS_PER_MULT.get(operand_format(cfg), DSPS_PER_MULT_OTHER))}


def core_board_fit(cfg, nm: str) -> dict:
    """The generated core (`core_estimate`: PE array and controller, no vector engine or selector, so a lower bound
    for a whole design) against `cfg`'s board: counts, utilization and whether it fits. Unlike `estimate`, floating
    point is counted as the RTL builds it (a fabric fp32 adder per multiplier): the paper-scale fp16 core does not
    fit its board as generated."""
    est = core_estimate(cfg, nm)
    used = {"lut": est["LUT_est"], "ff": est["FF_est"], "dsp": est["DSP_est"]}
    budget = {k: getattr(cfg.board, k) for k in used}
    util = {f"{k}_util": round(v / budget[k], 4) for k, v in used.items()}
    over = [f"{k} {v:,}/{budget[k]:,}" for k, v in used.items() if v > budget[k]]
    return {"board": cfg.board.name, **used, **util, "fits_board": not over, "over": over}


def buffer_banks(board, kib: int) -> tuple[int, int]:
    """(blocks, data bytes per port) of a `kib` buffer on `board`: UltraRAM when the device has it (dense, 32 KiB
    blocks), else block RAM; each block is a bank with its own ports."""
    block_kib = board.uram_kib if board.uram else board.bram_kib
    return ceil(kib / block_kib), BLOCK_PORT_BYTES


def _memories(cfg) -> tuple[int, int]:
    """Buffers go to UltraRAM when the device has it, else to block RAM (see buffer_banks)."""
    board, sizes = cfg.board, (cfg.buffers.a_kib, cfg.buffers.b_kib, cfg.buffers.c_kib)
    blocks = sum(buffer_banks(board, kib)[0] for kib in sizes)
    return (0, blocks) if board.uram else (blocks, 0)
