"""CoreParams: the elaboration parameters of the SAT RTL, derived from an `hwsim.config.SATConfig`.

One frozen object from which every Amaranth component is built, so the RTL and the simulator read the same
numbers (array shape, multipliers per PE, PE pipeline depth, selector lanes and latency, operand and
accumulator widths, buffer sizes, number format). The N:M pattern the PE muxes implement is chosen at elaboration.

Number formats (`dtype`): int8 and int16 operands with int32 accumulators that wrap; fp16 operands (IEEE
binary16) with fp32 products and accumulators (see `hwsim.rtl.fp`). Anything else is refused with a ConfigError.
"""
from dataclasses import dataclass

from hwsim.config import SATConfig
from hwsim.dataflow.sparsity import NM, SparsityError
from hwsim.errors import ConfigError

KIB = 1024
MIN_PE_LATENCY = 2  # product register + accumulator register
MIN_SELECT_LATENCY = 2  # rank registers + compressed-output register


def _ceil_log2(x: int) -> int:
    return max(0, (x - 1).bit_length())


@dataclass(frozen=True)
class CoreParams:
    """What the RTL generator needs: shape, N:M, widths, latencies and buffer depths (in words)."""

    name: str
    rows: int
    cols: int
    mults: int
    keep: int  # N of N:M (1 with group 1 for dense: every multiplier its own 1:1 group)
    group: int  # M of N:M
    width: int  # operand bits (8 or 16)
    acc_width: int  # accumulator bits (32: int32 that wraps, or fp32)
    pe_latency: int  # PE operand in -> accumulator/partial sum out (the config's array.pipeline_depth)
    select_lanes: int
    select_latency: int
    a_depth: int  # A buffer words (one half of the config's double buffer)
    b_depth: int
    floating: bool = False  # fp16 operands, fp32 accumulation (else signed integers)

    @property
    def dtype(self) -> str:
        """Operand format: 'int8', 'int16' or 'fp16'."""
        return f"{'fp' if self.floating else 'int'}{self.width}"

    @property
    def acc_dtype(self) -> str:
        return "fp32" if self.floating else "int32"

    @property
    def dense(self) -> bool:
        return self.group == 1

    @property
    def nm_text(self) -> str:
        return "dense" if self.dense else f"{self.keep}:{self.group}"

    @property
    def groups_per_pe(self) -> int:
        return self.mults // self.keep

    @property
    def k_step(self) -> int:
        """Reduction positions one PE consumes per cycle (the simulator's `ArrayTarget.k_step`)."""
        return self.groups_per_pe * self.group

    @property
    def idx_width(self) -> int:
        return _ceil_log2(self.group)

    @property
    def b_lane_width(self) -> int:
        """Bits of one compressed weight: value then in-group index."""
        return self.width + self.idx_width

    @property
    def a_word(self) -> int:
        return self.rows * self.k_step * self.width

    @property
    def b_word(self) -> int:
        return self.cols * self.mults * self.b_lane_width

    @property
    def fill_cycles(self) -> int:
        """Skew in (rows), skew out (cols) and the PE pipeline: what `SATConfig.fill_cycles` charges."""
        return self.rows + self.cols + self.pe_latency

    @classmethod
    def from_config(cls, cfg: SATConfig, nm: "NM | str | None" = "2:8") -> "CoreParams":
        """Read the config; `nm` is the N:M the PEs implement ('dense' or None for dense)."""
        if isinstance(nm, str):
            try:
                nm = None if nm.strip().lower() == "dense" else NM.parse(nm)
            except SparsityError as exc:
                raise ConfigError(str(exc), "--nm") from None
        if nm is not None:
            cfg.check_nm(nm)
        width = cfg.precision.operand_bytes * 8
        floating = cfg.precision.is_float
        if floating and width != 16:
            raise ConfigError(f"precision.operand_bytes: {cfg.precision.operand_bytes} with operand_type float "
                              "(expected 2: the RTL implements fp16, int8 and int16 operands)", cfg.name)
        if width not in (8, 16):
            raise ConfigError(f"precision.operand_bytes: {cfg.precision.operand_bytes} (expected 1 or 2: "
                              "the RTL implements int8 and int16 operands)", cfg.name)
        if cfg.precision.acc_bytes != 4:
            raise ConfigError(f"precision.acc_bytes: {cfg.precision.acc_bytes} (expected 4: "
                              f"{'fp32' if floating else 'int32'} accumulation)", cfg.name)
        fill = cfg.array.rows + cfg.array.cols + cfg.array.pipeline_depth
        if cfg.mapping.fill_cycles not in (None, fill):  # the simulator would time another machine
            raise ConfigError(f"mapping.fill_cycles: {cfg.mapping.fill_cycles} (expected unset or {fill}: the RTL's "
                              "fill is rows + cols + pipeline_depth)",
                              cfg.name)
        if cfg.array.pipeline_depth < MIN_PE_LATENCY:
            raise ConfigError(f"array.pipeline_depth: {cfg.array.pipeline_depth} (expected >= {MIN_PE_LATENCY}: "
                              "the RTL PE has a product and an accumulator register)", cfg.name)
        keep, group = (1, 1) if nm is None else (nm.keep, nm.group)
        mults = cfg.array.mults_per_pe
        k_step = mults // keep * group
        a_bytes = cfg.array.rows * k_step * width // 8
        b_bytes = cfg.array.cols * mults * width // 8
        return cls(name=cfg.name, rows=cfg.array.rows, cols=cfg.array.cols, mults=mults, keep=keep, group=group,
                   width=width, acc_width=32, pe_latency=cfg.array.pipeline_depth,
                   select_lanes=cfg.selector.lanes, select_latency=cfg.selector.latency,
                   a_depth=cfg.buffers.a_kib * KIB // 2 // a_bytes,
                   b_depth=max(cfg.buffers.b_kib * KIB // 2 // b_bytes, cfg.array.rows), floating=floating)
