"""Architecture specs: load a preset by name or a YAML file, with one-line errors naming the bad field."""
from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import yaml
from pydantic import ValidationError

from hwsim.config.sat import SATConfig
from hwsim.errors import ConfigError

__all__ = ["SATConfig", "load_arch", "preset_names", "presets"]


def preset_names() -> list[str]:
    """Names of the presets shipped in the package."""
    return sorted(p.name[:-5] for p in resources.files("hwsim.presets").iterdir() if p.name.endswith(".yaml"))


def presets() -> dict[str, SATConfig]:
    return {name: load_arch(name) for name in preset_names()}


def load_arch(spec: str | Path | SATConfig) -> SATConfig:
    """A preset name, a path to a YAML spec, or a config passed through."""
    if isinstance(spec, SATConfig):
        return spec
    text_spec = str(spec)
    if text_spec in preset_names():
        return _parse(resources.files("hwsim.presets").joinpath(f"{text_spec}.yaml").read_text(), f"preset {text_spec}")
    if match := SCALESIM.fullmatch(text_spec):
        return scalesim_preset(match[1], int(match[2]), int(match[3]))
    path = Path(text_spec)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return _parse(_read(path), str(path))
    raise ConfigError(f"arch: unknown preset {text_spec!r} (expected one of: {', '.join(preset_names())}, "
                      "scalesim-os-RxC / scalesim-ws-RxC, or a path to a .yaml spec)", "--arch")


SCALESIM = re.compile(r"scalesim-(os|ws|is)-(\d+)x(\d+)")


def scalesim_preset(dataflow: str, rows: int, cols: int) -> SATConfig:
    """A rows x cols array under SCALE-Sim 3.0.0's assumptions, so that dense compute cycles compare with it.

    One MAC per PE per cycle, one dataflow, no interleave: each fold (block) pays SCALE-Sim's fill and drain,
    rows + cols - 2 cycles, on top of its streaming (OS: the reduction; WS, IS: the streamed rows plus the
    preload of the held block). Buffers large enough to keep a whole reduction on chip, no port limits and a
    fast DRAM, because SCALE-Sim's compute cycles leave memory out. SCALE-Sim counts one cycle less per layer.
    """
    if rows < 1 or cols < 1 or rows > 4096 or cols > 4096:
        raise ConfigError(f"arch: scalesim-{dataflow}-{rows}x{cols} (expected 1 to 4096 rows and columns)",
                          "--arch")
    base = load_arch("sat-vcu1525").model_dump()
    base.update(name=f"scalesim-{dataflow}-{rows}x{cols}", clock_mhz=1000.0,
                description=f"SCALE-Sim 3.0.0 {dataflow.upper()} {rows}x{cols} array (parity preset)")
    base["array"] = {"rows": rows, "cols": cols, "mults_per_pe": 1, "pipeline_depth": 1}
    big = max(65536, 4 * rows * cols * 8 // 1024 + 1)
    base["buffers"] = {"a_kib": big, "b_kib": big, "c_kib": big}
    base["dram"] = {"channels": 64, "mega_transfers": 6400, "bus_bits": 512, "efficiency": 1.0, "latency_ns": 0}
    base["ports"] = {"a_bytes": 0, "b_bytes": 0, "c_bytes": 0}
    base["mapping"] = {"dataflows": [dataflow], "interleave": False, "fill_cycles": rows + cols - 2}
    return SATConfig.model_validate(base)


def _read(path: Path) -> str:
    if path.is_dir():
        raise ConfigError(f"arch: {str(path)!r} is a directory (expected a .yaml spec file)", "--arch")
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"arch: file {str(path)!r} not found", "--arch") from None
    except UnicodeDecodeError:
        raise ConfigError(f"arch: {str(path)!r} is not UTF-8 text (expected a YAML spec)", "--arch") from None
    except OSError as exc:
        raise ConfigError(f"arch: cannot read {str(path)!r}: {exc.strerror or exc}", "--arch") from None


def _parse(text: str, where: str) -> SATConfig:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"invalid YAML{line}: {problem}", where) from None
    if not isinstance(data, dict):
        raise ConfigError(f"spec: {type(data).__name__} at top level (expected a mapping with version:, name:, ...)",
                          where)
    if "version" not in data:
        raise ConfigError("version: missing (expected version: 1)", where)
    try:
        return SATConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_one_line(exc), where) from None


def _one_line(exc: ValidationError) -> str:
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
    return f"{loc}: {err.get('input')!r} ({msg[0].lower() + msg[1:]})"
