"""Architecture specs: load a preset by name or a YAML file, with one-line errors naming the bad field."""
from __future__ import annotations

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
    path = Path(text_spec)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return _parse(_read(path), str(path))
    raise ConfigError(f"arch: unknown preset {text_spec!r} (expected one of: {', '.join(preset_names())}, "
                      "or a path to a .yaml spec)", "--arch")


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
