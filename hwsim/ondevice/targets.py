"""Targets of the 256KB engines: an MCU with a per-kernel cycle model, or an NPU built from the SAT core.

Presets are YAML files in ``hwsim/ondevice/presets`` with a one-line reason for every assumption.
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, StrictInt, ValidationError

from hwsim.config.sat import SATConfig
from hwsim.errors import ConfigError

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
    text = str(spec)
    if text in target_names():
        source = resources.files("hwsim.ondevice").joinpath("presets", f"{text}.yaml").read_text(encoding="utf-8")
        where = f"preset {text}"
    elif text.endswith((".yaml", ".yml")):
        try:
            source = Path(text).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"target: cannot read {text!r}: {getattr(exc, 'strerror', None) or exc}",
                              "--target") from None
        where = text
    else:
        raise ConfigError(f"target: unknown target {text!r} (expected one of: {', '.join(target_names())}, "
                          "or a .yaml file)", "--target")
    try:
        data = yaml.safe_load(source)
    except yaml.YAMLError as exc:
        raise ConfigError(f"target: invalid YAML ({str(exc).splitlines()[0]})", where) from None
    if not isinstance(data, dict) or data.get("kind") not in ("mcu", "npu"):
        raise ConfigError(f"kind: {data.get('kind') if isinstance(data, dict) else data!r} (expected mcu or npu)",
                          where)
    try:
        return (MCUTarget if data["kind"] == "mcu" else NPUTarget).model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        raise ConfigError(f"{loc}: {err.get('input')!r} ({err['msg'][0].lower() + err['msg'][1:]})", where) from None
