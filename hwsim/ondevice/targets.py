"""Targets of the 256KB engines: an MCU with a per-kernel cycle model, or an NPU built from the SAT core.

Presets are YAML files in ``hwsim/ondevice/presets`` with a one-line reason for every assumption.
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, StrictInt, ValidationError

from hwsim.config.sat import SATConfig
from hwsim.errors import ConfigError
from hwsim.models.reading import show_path
from hwsim.models.yamlsafe import YAMLInputError, load, load_file

MAX_TARGET_BYTES = 64 * 1024
"""Largest target file (a target is a few dozen numbers: about 2 KB)."""

FAMILIES = ("pw", "conv", "dw", "linear")
ELEMENTWISE = ("clamp", "add", "pool", "gpool", "act", "copy", "accumulate", "loss", "bias", "requantize", "cast")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class Rates(_Frozen):
    """Sustained MACs per cycle of each kernel family."""

    pw: PositiveFloat
    conv: PositiveFloat
    dw: PositiveFloat
    linear: PositiveFloat


class KernelRates(_Frozen):
    forward: Rates
    dx: Rates
    dw: Rates


class GradPrecision(_Frozen):
    grad: Literal[1, 2, 4]
    wgrad: Literal[1, 2, 4]


class _Target(_Frozen):
    version: StrictInt = Field(ge=1, le=1)
    name: str
    description: str = ""
    sram_kb: PositiveInt
    sram_budget_kb: PositiveInt
    flash_kb: PositiveInt
    code_flash_kb: int = Field(ge=0)
    power_mw: float = Field(ge=0)
    precision: GradPrecision
    patches: PositiveInt = 1


class MCUTarget(_Target):
    """A microcontroller: every kernel's cycles from MACs / rate, elements x cycles, Flash bytes, overhead."""

    kind: Literal["mcu"]
    clock_mhz: float = Field(ge=1, le=10_000)
    macs_per_cycle: KernelRates
    elementwise_cycles: dict[Literal[ELEMENTWISE], float]
    update_cycles_per_param: float = Field(ge=0)
    flash_cycles_per_byte: float = Field(ge=0)
    op_overhead_cycles: int = Field(ge=0)

    @property
    def clock_hz(self) -> float:
        return self.clock_mhz * 1e6


class NPUTarget(_Target):
    """A SAT core with an SRAM arena: the training graph's GEMMs and vector passes go through the SAT engine."""

    kind: Literal["npu"]
    sat: SATConfig

    @property
    def clock_hz(self) -> float:
        return self.sat.clock_hz


Target = MCUTarget | NPUTarget


def target_names() -> list[str]:
    """The shipped target presets."""
    folder = resources.files("hwsim.ondevice").joinpath("presets")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_target(spec: str | Path | MCUTarget | NPUTarget) -> Target:
    """A target preset by name, a YAML file, or a target passed through."""
    if isinstance(spec, (MCUTarget, NPUTarget)):
        return spec
    if not isinstance(spec, (str, Path)):
        raise TypeError(f"target: a {type(spec).__name__} (expected a preset name, a .yaml path or a target)")
    text = str(spec)
    if text in target_names():
        source = resources.files("hwsim.ondevice").joinpath("presets", f"{text}.yaml").read_text(encoding="utf-8")
        where = f"preset {text}"
    elif text.endswith((".yaml", ".yml")):
        source, where = Path(text), text
    else:
        raise ConfigError(f"target: unknown target {show_path(text)!r} (expected one of: "
                          f"{', '.join(target_names())}, or a .yaml file)", "--target")
    try:  # bounded like every YAML reader: size, file type, aliases, depth, duplicate keys
        data = load_file(source, max_bytes=MAX_TARGET_BYTES) if isinstance(source, Path) else load(source)
    except YAMLInputError as exc:
        raise ConfigError(f"target: {exc}", "--target") from None
    if not isinstance(data, dict) or data.get("kind") not in ("mcu", "npu"):
        raise ConfigError(f"kind: {data.get('kind') if isinstance(data, dict) else data!r} (expected mcu or npu)",
                          where)
    try:
        return (MCUTarget if data["kind"] == "mcu" else NPUTarget).model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        raise ConfigError(f"{loc}: {err.get('input')!r} ({err['msg'][0].lower() + err['msg'][1:]})", where) from None
