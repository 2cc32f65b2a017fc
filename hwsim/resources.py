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
# Products accumulate in the DSP's 48-bit post-adder as wide fixed point; aligning and normalizing around it
# costs about 40 LUTs per multiplier (a barrel shift of the product plus a leading-zero count).
LUT_ALIGN_PER_MULT = 40
# A LUT6 is a 4:1 mux: an M:1 operand mux (the N:M activation select) is ceil(M/4) LUTs per bit (one level
# for M <= 4, a second level of muxes above).
LUT_CONTROL_PER_PE = 30          # PE-local control: valid bits, mode (OS/WS) select, accumulator clear
DSPS_PER_VECTOR_LANE = 3         # FP32 fused multiply-add: 2 DSPs for the 24x24 product, 1 for the add
LUT_PER_VECTOR_LANE = 300        # FP32 add normalization and rounding in fabric
LUT_PER_SELECTOR_COMPARE = 20    # a 16-bit magnitude compare and the swap mux of one insertion slot
FF_PER_LUT = 1.2                 # pipelined datapaths register almost every LUT output (typical 1-1.5)


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


def estimate(cfg) -> Resources:
    """DSPs, LUTs, FFs and memory blocks of `cfg` (a SATConfig) by the rules above."""
    a, board = cfg.array, cfg.board
    bits = 8 * cfg.precision.operand_bytes
    m_max = max(cfg.selector.group_sizes)
    mults = a.rows * a.cols * a.mults_per_pe
    dsp = ceil(mults * DSPS_PER_MULT.get(cfg.precision.operand_bytes, 10.0)) + cfg.vector.lanes * DSPS_PER_VECTOR_LANE
    mux = ceil(m_max / 4) * bits  # per multiplier: pick one of M activations
    lut_pe = a.mults_per_pe * (mux + LUT_ALIGN_PER_MULT) + LUT_CONTROL_PER_PE
    # Each selector lane keeps a sorted top-N over a group of M: one compare slot per kept value, N up to M/2.
    lut_sel = cfg.selector.lanes * (m_max // 2) * LUT_PER_SELECTOR_COMPARE + cfg.selector.lanes * ceil(log2(m_max))
    lut = a.rows * a.cols * lut_pe + cfg.vector.lanes * LUT_PER_VECTOR_LANE + lut_sel
    # Registers: every PE latches a group of M activations and its accumulator, plus the datapath registers.
    ff_pe = m_max * bits + 8 * cfg.precision.acc_bytes + a.pipeline_depth * bits
    ff = a.rows * a.cols * ff_pe + ceil(FF_PER_LUT * (lut - a.rows * a.cols * lut_pe))
    bram, uram = _memories(cfg)
    budget = {"dsp": board.dsp, "lut": board.lut, "ff": board.ff, "bram": board.bram, "uram": board.uram}
    return Resources(dsp=dsp, lut=lut, ff=ff, bram=bram, uram=uram, budget=budget)


def _memories(cfg) -> tuple[int, int]:
    """Buffers go to UltraRAM when the device has it (dense, 32 KiB blocks), else to block RAM."""
    board, sizes = cfg.board, (cfg.buffers.a_kib, cfg.buffers.b_kib, cfg.buffers.c_kib)
    if board.uram:
        return 0, sum(ceil(kib / board.uram_kib) for kib in sizes)
    return sum(ceil(kib / board.bram_kib) for kib in sizes), 0
