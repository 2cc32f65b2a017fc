"""SATConfig: one frozen, validated description of the SAT accelerator.

Everything else is derived from it: the scheduler's view of the target (`target`), the engine's DRAM
rate (`dram_bytes_per_cycle`), the resource estimate and static power (`resources`, `static_w`), and the RTL
parameters. Loaded from YAML specs with `version: 1`; `derive` makes a validated variant whose name says so.

Every field is strictly typed (a YAML `true` or `"32"` is not an integer) and bounded to a physically sensible
range, so a typo fails at load time with the field, the value and the range instead of running silently.
"""
from __future__ import annotations

from functools import cached_property
from math import ceil
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, model_validator

from hwsim.dataflow.sparsity import NM
from hwsim.dataflow.target import ArrayTarget
from hwsim.errors import ConfigError

KIB = 1024
MAX_KIB = 1 << 24  # 16 GiB: more on-chip SRAM than any FPGA or accelerator die holds

BANKS = "banks"
"""The value that ties a port width to its buffer's banking (in a spec, `--set` or `derive`)."""
TIES = {
    "ports.a_bytes": ("buffers.a_kib", 1),
    "ports.b_bytes": ("buffers.b_kib", 1),
    "ports.c_bytes": ("buffers.c_kib", 2),
}
"""Fields that may follow from others: port width = banks of the buffer x a block's port width x ports used
toward the array (C reads partial sums out and writes them back at once: both ports of each dual-port block;
A and B keep the second port for the DMA). Banks and block widths: hwsim.resources.buffer_banks."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False, strict=True)


class ArraySpec(_Frozen):
    """The sparse tensor engine: rows x cols PEs, each with `mults_per_pe` multipliers."""

    rows: int = Field(ge=1, le=4096, description="PE rows (output rows of an OS tile)")
    cols: int = Field(ge=1, le=4096, description="PE columns")
    mults_per_pe: int = Field(ge=1, le=64, description="multipliers per PE: the dense k step per cycle")
    pipeline_depth: int = Field(ge=1, le=256, description="PE latency from operand in to accumulated result")


class BufferSpec(_Frozen):
    """On-chip buffers, each double-buffered (the size is the total of both halves)."""

    a_kib: int = Field(ge=1, le=MAX_KIB, description="activation (A operand) buffer, KiB")
    b_kib: int = Field(ge=1, le=MAX_KIB, description="weight (B operand) buffer, KiB")
    c_kib: int = Field(ge=1, le=MAX_KIB, description="partial-sum/output (C) buffer, KiB")


class PortSpec(_Frozen):
    """Bytes per cycle the ports of each buffer move to or from the array (banks x width); 0: not limited.

    In a spec, `banks` instead of a number ties the width to the buffer's banking (see `TIES`), so it follows
    the buffer size when a sweep or a search changes it."""

    a_bytes: int = Field(0, ge=0, le=1 << 20, description="A buffer (activations) to the array's row edge")
    b_bytes: int = Field(0, ge=0, le=1 << 20, description="B buffer (weights, compressed under N:M) to the column "
                                                          "edge")
    c_bytes: int = Field(0, ge=0, le=1 << 20, description="C buffer (FP32 partial sums) to and from the array")


class MappingSpec(_Frozen):
    """What the mapper may use: dataflows, interleave mapping, and the array's fill + drain per block.

    The defaults are SAT's; a model of another machine narrows them (the SCALE-Sim presets: one dataflow,
    no interleave, SCALE-Sim's rows + cols - 2 fill and drain)."""

    dataflows: tuple[Literal["os", "ws", "is"], ...] = Field(("os", "ws", "is"), min_length=1, max_length=3,
                                                             strict=False,
                                                             description="dataflows the mapper may choose from")
    interleave: bool = Field(True, description="interleave mapping available (fill/drain once per tile)")
    fill_cycles: int | None = Field(None, ge=0, le=100_000, description="fill + drain per block; default: rows + "
                                                                        "cols + pipeline_depth")


class DramSpec(_Frozen):
    """Off-chip memory: peak rate from channels x transfers x bus width, derated by `efficiency`."""

    channels: int = Field(ge=1, le=64, description="independent DRAM channels")
    mega_transfers: int = Field(ge=100, le=20_000, description="MT/s per channel, e.g. 2400 for DDR4-2400")
    bus_bits: int = Field(ge=8, le=8192, description="data bits per channel (HBM pseudo-channels up to 1024+)")
    efficiency: float = Field(ge=0.01, le=1, description="sustained fraction of peak bandwidth")
    latency_ns: float = Field(ge=0, le=1e5, description="request-to-first-data latency, charged per transfer")

    @property
    def bytes_per_second(self) -> float:
        return self.channels * self.mega_transfers * 1e6 * self.bus_bits / 8 * self.efficiency


class VectorSpec(_Frozen):
    """Weight-update vector engine: FP32 lanes for the optimizer and the non-GEMM layers."""

    lanes: int = Field(ge=1, le=65_536, description="FP32 lanes, one element op per lane per cycle")
    latency: int = Field(ge=0, le=10_000, description="pipeline latency in cycles, paid once per pass")
    # issue 12a: the banks of the A and C buffers that vector passes own under offline scheduling
    a_share: float = Field(0.25, gt=0, le=0.5, description="fraction of the A buffer's banks (capacity and port "
                                                           "bytes) kept for vector-pass input under offline "
                                                           "scheduling; GEMM tiles get the rest")
    c_share: float = Field(0.25, gt=0, le=0.5, description="fraction of the C buffer's banks (capacity and port "
                                                           "bytes) kept for vector-pass output under offline "
                                                           "scheduling; GEMM tiles get the rest")


class SelectorSpec(_Frozen):
    """Sparse online reduction engine (SORE): lanes pick the top N of each group of M, M cycles per group."""

    lanes: int = Field(ge=1, le=65_536, description="parallel top-N-of-M lanes, one weight per lane per cycle")
    group_sizes: tuple[StrictInt, ...] = Field(min_length=1, max_length=16, strict=False,
                                               description="N:M group sizes M that the selector and PEs support")
    latency: int = Field(2, ge=2, le=64, description="cycles from a group's last weight in to its top N out")


class PrecisionSpec(_Frozen):
    operand_bytes: int = Field(2, ge=1, le=8, description="bytes per activation/weight/gradient operand")
    acc_bytes: int = Field(4, ge=1, le=16, description="bytes per accumulator / partial sum")
    operand_type: Literal["int", "float"] | None = Field(
        None, description="operand number format; default: int for 1-byte operands, float (FP16, FP32) for wider")

    @property
    def is_float(self) -> bool:
        """Floating-point operands (the default for 2 bytes and more: FP16 training)."""
        return self.operand_type == "float" if self.operand_type else self.operand_bytes >= 2

    @property
    def operand_name(self) -> str:
        """int8, int16, fp16, fp32, ...: the operand format as the RTL and reports name it."""
        return f"{'fp' if self.is_float else 'int'}{8 * self.operand_bytes}"


class EnergySpec(_Frozen):
    """Energy per action in pJ; defaults cited in the preset files."""

    mac_pj: float = Field(ge=0, le=1e6, description="one multiply-accumulate")
    vector_op_pj: float = Field(ge=0, le=1e6, description="one vector-engine element op")
    select_pj: float = Field(ge=0, le=1e6, description="one selector element visit")
    reg_byte_pj: float = Field(ge=0, le=1e6, description="one pipeline-register byte")
    sram_byte_pj: float = Field(ge=0, le=1e6, description="one on-chip buffer byte read or written")
    dram_byte_pj: float = Field(ge=0, le=1e6, description="one DRAM byte")
    clock_ff_fj: float = Field(0.0, ge=0, le=1e4, description="clock-tree energy per flip-flop per cycle, fJ "
                                                              "(activity-independent, charged as static)")


class BoardSpec(_Frozen):
    """The device a configuration is built on: its resource budget and its leakage."""

    name: str = Field(min_length=1, max_length=80, description="board and device, e.g. VCU1525 (XCVU9P)")
    dsp: int = Field(ge=0, le=1_000_000, description="DSP slices (hard multipliers)")
    lut: int = Field(ge=0, le=100_000_000, description="6-input LUTs")
    ff: int = Field(ge=0, le=200_000_000, description="flip-flops")
    bram: int = Field(ge=0, le=1_000_000, description="block RAMs")
    bram_kib: float = Field(ge=0.5, le=1024, description="usable KiB per block RAM")
    uram: int = Field(0, ge=0, le=1_000_000, description="UltraRAM blocks (0 if the device has none)")
    uram_kib: float = Field(32, ge=1, le=4096, description="usable KiB per UltraRAM block")
    static_w: float = Field(ge=0, le=1000, description="device leakage power at nominal temperature, W")


class SATConfig(_Frozen):
    """The SAT accelerator. Derived quantities are properties; see presets/*.yaml for the reasons."""

    version: int = Field(ge=1, le=1, description="spec format version (1)")
    name: str = Field(min_length=1, max_length=400, description="configuration name, shown in every result")
    description: str = Field("", max_length=2000, description="one line on what this configuration is")
    derived_from: str = Field("", max_length=400, description="the preset or file this config was derived from "
                                                              "(set by derive/base:, not written by hand)")
    clock_mhz: float = Field(ge=1, le=10_000, description="core clock, MHz")
    array: ArraySpec
    buffers: BufferSpec
    dram: DramSpec
    vector: VectorSpec
    selector: SelectorSpec
    precision: PrecisionSpec = PrecisionSpec()
    energy: EnergySpec
    board: BoardSpec
    ports: PortSpec = PortSpec()
    mapping: MappingSpec = MappingSpec()
    tied: tuple[Literal["ports.a_bytes", "ports.b_bytes", "ports.c_bytes"], ...] = Field(
        (), max_length=3, strict=False, description="fields computed from others (listed by the loader where a "
                                                    "spec writes `banks`; an explicit value unties a field)")

    @model_validator(mode="before")
    @classmethod
    def _tie_markers(cls, data: Any) -> Any:
        """`ports.x_bytes: banks` -> the field is tied (listed in `tied`) and computed after validation."""
        if not isinstance(data, dict) or not isinstance(data.get("ports"), dict):
            return data
        ports, tied = dict(data["ports"]), list(data.get("tied", ()))
        for field, value in data["ports"].items():
            if isinstance(value, str) and value == BANKS:
                ports[field] = 0
                if f"ports.{field}" not in tied:
                    tied.append(f"ports.{field}")
        return {**data, "ports": ports, "tied": tuple(tied)}

    @model_validator(mode="after")
    def _check(self) -> SATConfig:
        if self.tied:
            values = {path.split(".")[1]: self.tied_value(path) for path in self.tied}
            for field, value in values.items():
                if value > 1 << 20:
                    source = TIES[f"ports.{field}"][0]
                    raise ValueError(f"ports.{field}: {value} bytes/cycle from the banking of {source} (expected at "
                                     f"most {1 << 20}; give the width explicitly)")
            if any(getattr(self.ports, f) != v for f, v in values.items()):
                return self.model_copy(update={"ports": self.ports.model_copy(update=values)})._check()
        for m in self.selector.group_sizes:
            if not 2 <= m <= 64:
                raise ValueError(f"selector.group_sizes: {m} (expected group sizes M from 2 to 64)")
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

    def derive(self, changes: dict[str, Any], name: str | None = None) -> SATConfig:
        """A validated copy with `changes` ({"array.rows": 64, ...}) applied; its name records them.

        Raises ConfigError naming the path, the value and what was expected. Values keep their types:
        `{"array.rows": "64"}` is refused like `rows: "64"` in a file (use `parse_set` for command-line text).
        """
        if not isinstance(changes, dict):
            raise TypeError(f"changes: {type(changes).__name__} (expected a dict of 'section.field' -> value)")
        data = self.model_dump()
        if "tied" in changes:
            raise ConfigError("tied: cannot be set (expected `banks` as a port width to tie it, a number to untie "
                              "it)", "derive")
        tied = list(self.tied)
        for path, value in changes.items():
            _assign(data, path, value)
            if path in tied and not (isinstance(value, str) and value == BANKS):
                tied.remove(path)  # an explicit value wins over the tie
        data["tied"] = tuple(tied)
        if not changes:
            return self
        label = ",".join(f"{p}={_show(v)}" for p, v in sorted(changes.items()) if p not in ("name", "description"))
        data["name"] = name or changes.get("name") or (f"{self.name}[{label}]" if label else self.name)
        data["derived_from"] = self.derived_from or self.name
        out = validate(data, f"derived from {self.name}")
        if "description" not in changes and label:
            notes = [label] + self._tie_notes(out, changes)
            out = out.model_copy(update={"description": f"{self.description} (derived: {'; '.join(notes)})"[:2000]})
        return out

    def tied_value(self, path: str) -> int:
        """What a tied field follows from: the banks of its buffer x a block's port bytes x ports used."""
        from hwsim.resources import buffer_banks

        source, ports = TIES[path]
        banks, port_bytes = buffer_banks(self.board, getattr(self.buffers, source.split(".")[1]))
        return banks * port_bytes * ports

    def _tie_notes(self, out: SATConfig, changes: dict) -> list[str]:
        """What moved with the changes (tied fields) and what an explicit value overrides."""
        notes = []
        for path, (source, _) in TIES.items():
            field = path.split(".")[1]
            old, new = getattr(self.ports, field), getattr(out.ports, field)
            if path in out.tied and old != new:
                notes.append(f"{path} follows {source}: {old} -> {new}")
            elif path in changes and path not in out.tied and (path in self.tied or source in changes):
                notes.append(f"{path}={new} overrides the {out.tied_value(path)} its banking gives")
        return notes

    @property
    def is_derived(self) -> bool:
        return bool(self.derived_from)

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
        """Whole cycles of DRAM latency: ns x MHz / 1000 rounded up, after rounding away float noise in the
        product (150 ns at 200 MHz is 30 cycles, not ceil(30.000000000000004) = 31)."""
        return ceil(round(self.dram.latency_ns * self.clock_mhz / 1000, 6))

    @property
    def fill_cycles(self) -> int:
        """Skewed fill plus drain of one block through the systolic array."""
        if self.mapping.fill_cycles is not None:
            return self.mapping.fill_cycles
        return self.array.rows + self.array.cols + self.array.pipeline_depth

    @cached_property
    def resources(self):
        """Estimated DSP/LUT/FF/BRAM/URAM use on `board` (see hwsim.resources for each rule)."""
        from hwsim.resources import estimate

        return estimate(self)

    @cached_property
    def static_w(self) -> float:
        """Activity-independent power: the device's leakage plus the clock tree of the registers this
        configuration uses (so a bigger array costs more even when idle)."""
        return self.board.static_w + self.resources.ff * self.energy.clock_ff_fj * 1e-15 * self.clock_hz

    @cached_property
    def target(self) -> ArrayTarget:
        """What the scheduler needs to know about this accelerator."""
        return ArrayTarget(
            rows=self.array.rows, cols=self.array.cols, mults=self.array.mults_per_pe,
            a_buffer_bytes=self.buffers.a_kib * KIB, b_buffer_bytes=self.buffers.b_kib * KIB,
            c_buffer_bytes=self.buffers.c_kib * KIB, elem_bytes=self.precision.operand_bytes,
            acc_bytes=self.precision.acc_bytes, fill_cycles=self.fill_cycles, vector_lanes=self.vector.lanes,
            vector_latency=self.vector.latency, select_lanes=self.selector.lanes,
            select_latency=self.selector.latency,
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


def validate(data: dict, where: str) -> SATConfig:
    """Build a SATConfig from plain data, or raise a one-line ConfigError naming the first bad field."""
    try:
        return SATConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(one_line(exc), where) from None


def one_line(exc: ValidationError) -> str:
    """The first pydantic error as 'field.path: value (expected ...)'."""
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"])
    msg = err["msg"]
    if err["type"] == "value_error":  # our own check: its message already names field and value
        return msg.removeprefix("Value error, ")
    if err["type"] == "missing":
        return f"{loc}: missing (expected a value)"
    if err["type"] == "extra_forbidden":
        return f"{loc}: unknown field (check the spelling against a preset: hwsim presets --json)"
    return f"{loc}: {_show(err.get('input'))} ({msg[0].lower() + msg[1:]})"


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _assign(data: dict, path: Any, value: Any) -> None:
    """Set data[a][b] for path 'a.b', refusing paths that are not fields of the spec."""
    if not isinstance(path, str) or not path:
        raise ConfigError(f"set: {_show(path)} (expected a 'section.field' path string)", "derive")
    if path in ("version", "derived_from"):
        raise ConfigError(f"{path}: cannot be set (expected a field of the spec, e.g. array.rows)", "derive")
    parts = path.split(".")
    node = data
    for i, part in enumerate(parts):
        here = ".".join(parts[:i + 1])
        if not isinstance(node, dict) or part not in node:
            known = ", ".join(sorted(node)) if isinstance(node, dict) else "nothing (a value, not a section)"
            raise ConfigError(f"{here}: unknown field (expected one of: {known})", "derive")
        if i == len(parts) - 1:
            if isinstance(node[part], dict) and not isinstance(value, dict):
                raise ConfigError(f"{here}: is a section (expected a field such as {here}.{next(iter(node[part]))})",
                                  "derive")
            node[part] = value
        else:
            node = node[part]
