"""SATConfig: one frozen, validated description of the SAT accelerator.

Everything else is derived from it: the scheduler's view of the target (`target`), the engine's DRAM
rate (`dram_bytes_per_cycle`), and (next) the RTL parameters. Loaded from YAML specs with `version: 1`.
"""
from __future__ import annotations

from math import ceil
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, StrictInt, model_validator

from hwsim.dataflow.sparsity import NM
from hwsim.dataflow.target import ArrayTarget
from hwsim.errors import ConfigError

KIB = 1024


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class ArraySpec(_Frozen):
    """The sparse tensor engine: rows x cols PEs, each with `mults_per_pe` FP16 multipliers."""

    rows: PositiveInt
    cols: PositiveInt
    mults_per_pe: PositiveInt
    pipeline_depth: PositiveInt = Field(description="PE latency from operand in to accumulated result")


class BufferSpec(_Frozen):
    """On-chip buffers, each double-buffered: A (activations), B (weights), C (partial sums/outputs)."""

    a_kib: PositiveInt
    b_kib: PositiveInt
    c_kib: PositiveInt


class PortSpec(_Frozen):
    """Bytes per cycle the ports of each buffer move to or from the array (banks x width); 0: not limited."""

    a_bytes: int = Field(0, ge=0, description="A buffer (activations) to the array's row edge")
    b_bytes: int = Field(0, ge=0, description="B buffer (weights, compressed under N:M) to the column edge")
    c_bytes: int = Field(0, ge=0, description="C buffer (FP32 partial sums) to and from the array")


class MappingSpec(_Frozen):
    """What the mapper may use: dataflows, interleave mapping, and the array's fill + drain per block.

    The defaults are SAT's; a model of another machine narrows them (the SCALE-Sim presets: one dataflow,
    no interleave, SCALE-Sim's rows + cols - 2 fill and drain)."""

    dataflows: tuple[Literal["os", "ws", "is"], ...] = Field(("os", "ws", "is"), min_length=1)
    interleave: bool = True
    fill_cycles: int | None = Field(None, ge=0, description="default: rows + cols + pipeline_depth")


class DramSpec(_Frozen):
    channels: PositiveInt
    mega_transfers: PositiveInt = Field(description="MT/s per channel, e.g. 2400 for DDR4-2400")
    bus_bits: PositiveInt
    efficiency: float = Field(ge=0.01, le=1, description="sustained fraction of peak bandwidth")
    latency_ns: float = Field(ge=0, le=1e6)

    @property
    def bytes_per_second(self) -> float:
        return self.channels * self.mega_transfers * 1e6 * self.bus_bits / 8 * self.efficiency


class VectorSpec(_Frozen):
    """Weight-update vector engine: FP32 lanes for the optimizer and the non-GEMM layers."""

    lanes: PositiveInt
    latency: int = Field(ge=0)


class SelectorSpec(_Frozen):
    """Sparse online reduction engine (SORE): lanes pick the top N of each group of M, M cycles per group."""

    lanes: PositiveInt
    group_sizes: tuple[int, ...] = Field(min_length=1)


class PrecisionSpec(_Frozen):
    operand_bytes: PositiveInt = 2
    acc_bytes: PositiveInt = 4


class EnergySpec(_Frozen):
    """Energy per action in pJ (and static power in W); defaults cited in the preset files."""

    mac_pj: float = Field(ge=0)
    vector_op_pj: float = Field(ge=0)
    select_pj: float = Field(ge=0)
    reg_byte_pj: float = Field(ge=0)
    sram_byte_pj: float = Field(ge=0)
    dram_byte_pj: float = Field(ge=0)
    static_w: float = Field(ge=0)


class SATConfig(_Frozen):
    """The SAT accelerator. Derived quantities are properties; see presets/*.yaml for the reasons."""

    version: StrictInt = Field(ge=1, le=1)
    name: str
    description: str = ""
    clock_mhz: float = Field(ge=1, le=10_000)
    array: ArraySpec
    buffers: BufferSpec
    dram: DramSpec
    vector: VectorSpec
    selector: SelectorSpec
    precision: PrecisionSpec = PrecisionSpec()
    energy: EnergySpec
    ports: PortSpec = PortSpec()
    mapping: MappingSpec = MappingSpec()

    @model_validator(mode="after")
    def _check(self) -> SATConfig:
        for m in self.selector.group_sizes:
            if m < 2:
                raise ValueError(f"selector.group_sizes: {m} (expected group sizes M >= 2)")
        # The smallest tile the mapper may choose must fit each buffer twice (double buffering).
        eb, acc = self.precision.operand_bytes, self.precision.acc_bytes
        k_max = self.array.mults_per_pe * max(self.selector.group_sizes)
        need = {
            "a_kib": 2 * self.array.rows * k_max * eb,
            "b_kib": 2 * k_max * self.array.cols * eb,
            "c_kib": 2 * self.array.rows * self.array.cols * acc,
        }
        for field, nbytes in need.items():
            have = getattr(self.buffers, field) * KIB
            if have < nbytes:
                raise ValueError(f"buffers.{field}: {have // KIB} KiB is smaller than one double-buffered tile "
                                 f"(expected >= {ceil(nbytes / KIB)} KiB for a {self.array.rows}x{self.array.cols} "
                                 f"array at k step {k_max})")
        return self

    @property
    def peak_macs_per_cycle(self) -> int:
        return self.array.rows * self.array.cols * self.array.mults_per_pe

    @property
    def clock_hz(self) -> float:
        return self.clock_mhz * 1e6

    @property
    def dram_bytes_per_cycle(self) -> float:
        return self.dram.bytes_per_second / self.clock_hz

    @property
    def dram_latency_cycles(self) -> int:
        return ceil(self.dram.latency_ns * 1e-9 * self.clock_hz)

    @property
    def fill_cycles(self) -> int:
        """Skewed fill plus drain of one block through the systolic array."""
        if self.mapping.fill_cycles is not None:
            return self.mapping.fill_cycles
        return self.array.rows + self.array.cols + self.array.pipeline_depth

    @property
    def target(self) -> ArrayTarget:
        """What the scheduler needs to know about this accelerator."""
        return ArrayTarget(
            rows=self.array.rows, cols=self.array.cols, mults=self.array.mults_per_pe,
            a_buffer_bytes=self.buffers.a_kib * KIB, b_buffer_bytes=self.buffers.b_kib * KIB,
            c_buffer_bytes=self.buffers.c_kib * KIB, elem_bytes=self.precision.operand_bytes,
            acc_bytes=self.precision.acc_bytes, fill_cycles=self.fill_cycles, vector_lanes=self.vector.lanes,
            vector_latency=self.vector.latency, select_lanes=self.selector.lanes,
            a_port_bytes=self.ports.a_bytes, b_port_bytes=self.ports.b_bytes, c_port_bytes=self.ports.c_bytes,
        )

    def check_nm(self, nm: NM) -> None:
        """Raise ConfigError unless the selector and the PEs support this N:M."""
        sizes = ", ".join(map(str, self.selector.group_sizes))
        if nm.group not in self.selector.group_sizes:
            raise ConfigError(f"nm: {nm} has group size M={nm.group}, not supported by {self.name} "
                              f"(expected M in {sizes})", "--nm")
        if self.array.mults_per_pe % nm.keep:
            raise ConfigError(f"nm: {nm} keeps N={nm.keep}, which does not divide the {self.array.mults_per_pe} "
                              f"multipliers per PE of {self.name} (expected N dividing {self.array.mults_per_pe})",
                              "--nm")
