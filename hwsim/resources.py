"""Resource estimate of a SAT configuration on its board, one stated rule per resource.

The rules are first-order and deliberately simple; each constant says where it comes from. They are meant to
answer "does this configuration fit the board, and roughly how full is it", and to be calibrated against
synthesis of the RTL (reports/rtl/) rather than trusted to the last LUT.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from math import ceil, log2

# DSP slices per multiplier by operand width: two int8 products share one DSP48E2 (Xilinx WP486); an FP16
# mantissa product (11x11) fits one 27x18 DSP; FP32 (24x24) takes two plus one for the exponent path.
DSPS_PER_MULT = {1: 0.5, 2: 1.0, 4: 3.0, 8: 10.0}
# Calibrated on Yosys synth_xilinx of the generated RTL (reports/rtl/resources.csv: 4x4, 6x6, 8x8 arrays, int16,
# 2 multipliers per PE, dense and 2:8; logic LUTs, the LUTs used as RAM being buffers): a dense PE is 138-147
# LUTs, i.e. ~57 per multiplier (operand and accumulator pipeline, the int32 accumulate beside the DSP) + 30 of
# control; N:M support adds ~101 logic LUTs per PE, ~1.6 LUTs per operand bit per 4:1 mux level (the M:1
# activation select plus its index decode).
LUT_DATAPATH_PER_MULT = 57
LUT_CONTROL_PER_PE = 30          # PE-local control: valid bits, mode (OS/WS) select, accumulator clear
LUT_MUX_PER_BIT_LEVEL = 1.6      # per operand bit and per 4:1 level of the M:1 activation mux
# Floating point only (not in the integer RTL, so not calibrated): products accumulate in the DSP's 48-bit
# post-adder as wide fixed point; aligning and normalizing around it costs ~40 LUTs per multiplier.
LUT_ALIGN_PER_MULT = 40
DSPS_PER_VECTOR_LANE = 3         # FP32 fused multiply-add: 2 DSPs for the 24x24 product, 1 for the add
LUT_PER_VECTOR_LANE = 300        # FP32 add normalization and rounding in fabric
LUT_PER_SELECTOR_COMPARE = 20    # a 16-bit magnitude compare and the swap mux of one insertion slot
FF_PER_LUT = 1.2                 # pipelined datapaths register almost every LUT output (typical 1-1.5)
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


def pe_luts(cfg, group: int | None, floating: bool) -> float:
    """LUTs of one PE: datapath and control, the M:1 activation mux for N:M groups up to `group` (None: dense),
    and the floating-point alignment when operands are FP."""
    bits = 8 * cfg.precision.operand_bytes
    per_mult = LUT_DATAPATH_PER_MULT + (LUT_ALIGN_PER_MULT if floating else 0)
    if group:
        per_mult += ceil(group / 4) * bits * LUT_MUX_PER_BIT_LEVEL
    return cfg.array.mults_per_pe * per_mult + LUT_CONTROL_PER_PE


def pe_ffs(cfg, group: int | None) -> int:
    """Registers of one PE: its accumulator, the operand pipeline of each multiplier, the activation forwarded to
    the next PE, and under N:M the latched group of M activations and the N weight indices. Against synthesis of
    the RTL (reports/rtl) this lands within about 10%."""
    bits, a = 8 * cfg.precision.operand_bytes, cfg.array
    ff = 8 * cfg.precision.acc_bytes + (a.pipeline_depth + 1) * bits * a.mults_per_pe
    if group:
        ff += group * bits + a.mults_per_pe * ceil(log2(group))
    return ff


def estimate(cfg) -> Resources:
    """DSPs, LUTs, FFs and memory blocks of `cfg` (a SATConfig) by the rules above (FP16/FP32 operands are
    floating point, int8 operands integer)."""
    a, board = cfg.array, cfg.board
    m_max = max(cfg.selector.group_sizes)
    mults = a.rows * a.cols * a.mults_per_pe
    dsp = ceil(mults * DSPS_PER_MULT.get(cfg.precision.operand_bytes, 10.0)) + cfg.vector.lanes * DSPS_PER_VECTOR_LANE
    lut_pe = pe_luts(cfg, m_max, floating=cfg.precision.operand_bytes >= 2)
    # Each selector lane keeps a sorted top-N over a group of M: one compare slot per kept value, N up to M/2.
    lut_sel = cfg.selector.lanes * (m_max // 2) * LUT_PER_SELECTOR_COMPARE + cfg.selector.lanes * ceil(log2(m_max))
    lut_array = ceil(a.rows * a.cols * lut_pe)
    lut = lut_array + cfg.vector.lanes * LUT_PER_VECTOR_LANE + lut_sel
    ff = a.rows * a.cols * pe_ffs(cfg, m_max) + ceil(FF_PER_LUT * (lut - lut_array))
    bram, uram = _memories(cfg)
    budget = {"dsp": board.dsp, "lut": board.lut, "ff": board.ff, "bram": board.bram, "uram": board.uram}
    return Resources(dsp=dsp, lut=lut, ff=ff, bram=bram, uram=uram, budget=budget)


def core_estimate(cfg, nm: str) -> dict:
    """The estimate of what `hwsim rtl` generates for `cfg`: the integer PE array only (no vector engine; the
    selector is a separate module), for an N:M pattern (e.g. "2:8") or "dense"; to set beside synthesis."""
    group = None if nm == "dense" else int(nm.split(":")[1])
    pes = cfg.array.rows * cfg.array.cols
    mults = pes * cfg.array.mults_per_pe
    return {"LUT_est": ceil(pes * pe_luts(cfg, group, floating=False)), "FF_est": pes * pe_ffs(cfg, group),
            "DSP_est": ceil(mults * DSPS_PER_MULT.get(cfg.precision.operand_bytes, 10.0))}


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
