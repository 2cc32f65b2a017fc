"""Architecture specs: presets by name, YAML files (optionally `base:` + changes), `--set` overrides.

Every failure is a one-line ConfigError naming the field, the value and what was expected.
"""
from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Any, Iterable


from hwsim.config.sat import SATConfig, validate
from hwsim.errors import ConfigError

__all__ = ["SATConfig", "load_arch", "parse_set", "preset_names", "presets", "schema"]

MAX_BASE_DEPTH = 8  # base: chains deeper than this are refused (and catch cycles)


def preset_names() -> list[str]:
    """Names of the presets shipped in the package."""
    return sorted(p.name[:-5] for p in resources.files("hwsim.presets").iterdir() if p.name.endswith(".yaml"))


def presets() -> dict[str, SATConfig]:
    return {name: load_arch(name) for name in preset_names()}


def schema() -> dict:
    """JSON Schema of the arch spec format, from the config model (plus the file-only `base:` key)."""
    out = SATConfig.model_json_schema()
    out["properties"]["base"] = {"type": "string", "description": "a preset name or a spec file (relative to this "
                                 "file) that this spec starts from; then give only the fields that change"}
    out["title"] = "hwsim SAT architecture spec (version 1)"
    return out


def load_arch(spec: str | Path | SATConfig, overrides: Iterable[str] | dict | None = None) -> SATConfig:
    """A preset name, a path to a YAML spec, or a config passed through; then `overrides` applied.

    overrides: command-line style "array.rows=64" strings, or a {"array.rows": 64} dict.
    """
    cfg = _load(spec, depth=0)
    if overrides:
        changes = overrides if isinstance(overrides, dict) else dict(parse_set(s) for s in overrides)
        cfg = cfg.derive(changes)
    return cfg


SET_MAX_NODES = 1_000
"""Most values one --set value may hold (the longest list field, selector group sizes, has a handful)."""
SET_MAX_DEPTH = 8
"""Deepest nesting of one --set value."""


def parse_set(text: str) -> tuple[str, Any]:
    """'array.rows=64' -> ('array.rows', 64): the value is read as a YAML scalar or list, like in a spec file."""
    if not isinstance(text, str) or "=" not in text:
        raise ConfigError(f"set: {text!r} (expected PATH=VALUE, e.g. array.rows=64)", "--set")
    path, _, raw = text.partition("=")
    path = path.strip()
    if len(raw) > 1000:
        raise ConfigError(f"set: value for {path} is {len(raw)} characters long (expected a short value)", "--set")
    from hwsim.models.yamlsafe import YAMLInputError, load

    try:  # bounded like every YAML reader: aliases, depth, count, duplicate keys
        value = load(raw, max_nodes=SET_MAX_NODES, max_depth=SET_MAX_DEPTH) if raw.strip() else raw
    except YAMLInputError as exc:
        if "invalid YAML" not in str(exc):
            raise ConfigError(f"set: value for {path}: {exc}", "--set") from None
        value = raw  # not YAML: the text itself (the field's validation says whether it fits)
    return path, value


def _load(spec, depth: int, relative_to: Path | None = None) -> SATConfig:
    if isinstance(spec, SATConfig):
        return spec
    if not isinstance(spec, (str, Path)):
        raise TypeError(f"arch: {type(spec).__name__} (expected a preset name, a path or a SATConfig)")
    text_spec = str(spec)
    if text_spec in preset_names():
        text = resources.files("hwsim.presets").joinpath(f"{text_spec}.yaml").read_text()
        return _parse(text, f"preset {text_spec}", None, depth)
    if match := SCALESIM.fullmatch(text_spec):
        return scalesim_preset(match[1], int(match[2]), int(match[3]))
    path = Path(text_spec)
    if relative_to is not None and not path.is_absolute():
        path = relative_to / path
    if path.suffix in (".yaml", ".yml") or _exists(path):
        return _parse(path, str(path), path.parent, depth)
    raise ConfigError(f"arch: unknown preset {_clip(text_spec)!r} (expected one of: {', '.join(preset_names())}, "
                      "scalesim-os|ws|is-RxC, or a path to a .yaml spec)", "--arch")


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
    base["tied"] = ()
    base["mapping"] = {"dataflows": [dataflow], "interleave": False, "fill_cycles": rows + cols - 2}
    return SATConfig.model_validate(base)


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:  # a name too long for the file system, say: not a file we can read
        return False


def _clip(text: str, n: int = 80) -> str:
    return text if len(text) <= n else text[:n - 3] + "..."


def _parse(source: str | Path, where: str, folder: Path | None, depth: int) -> SATConfig:
    """A spec from preset text or a file path (read through the bounded YAML loader)."""
    data = _yaml(source, where)
    if not isinstance(data, dict):
        raise ConfigError(f"spec: {type(data).__name__} at top level (expected a mapping with version:, name:, ...)",
                          where)
    if "version" not in data:
        raise ConfigError("version: missing (expected version: 1)", where)
    if "base" not in data:
        return validate(data, where)
    base_name = data.pop("base")
    if not isinstance(base_name, str) or not base_name:
        raise ConfigError(f"base: {base_name!r} (expected a preset name or a spec file path)", where)
    if depth >= MAX_BASE_DEPTH:
        raise ConfigError(f"base: {base_name!r} is {depth} levels deep (expected at most {MAX_BASE_DEPTH}; "
                          "a cycle of base: files?)", where)
    base = _load(base_name, depth + 1, folder)
    version = data.pop("version")
    if version != base.version:
        raise ConfigError(f"version: {version!r} (expected {base.version}, the version of base {base_name!r})", where)
    name = data.pop("name", None)
    changes = dict(_flatten(data))
    try:
        return base.derive(changes, name=name)
    except ConfigError as exc:
        raise ConfigError(exc.what, where) from None


def _flatten(data: dict, prefix: str = ""):
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            yield from _flatten(value, path + ".")
        else:
            yield path, value


def _yaml(source: str | Path, where: str):
    from hwsim.models.yamlsafe import YAMLInputError, load, load_file

    try:
        return load_file(source) if isinstance(source, Path) else load(source)
    except YAMLInputError as exc:
        prefix = "arch: " if isinstance(source, Path) else ""
        raise ConfigError(f"{prefix}{exc}", "--arch" if prefix else where) from None


def schema_markdown() -> str:
    """The arch format as markdown tables, one per section, from the JSON Schema (docs/arch-format.md)."""
    s = schema()
    defs = s["$defs"]
    lines = []

    def table(title: str, props: dict, required: set[str]) -> None:
        lines.extend([f"### `{title}`", "", "| field | type | range | default | meaning |", "|---|---|---|---|---|"])
        for name, prop in props.items():
            if "$ref" in prop:
                continue
            kind = prop.get("type") or "/".join(p.get("type", "?") for p in prop.get("anyOf", []))
            if kind == "array":
                kind = f"list of {prop['items'].get('type')}"
            lo, hi = prop.get("minimum", prop.get("exclusiveMinimum")), prop.get("maximum")
            rng = "" if lo is None and hi is None else f"{_num(lo)} .. {_num(hi)}"
            if "minLength" in prop or "maxLength" in prop:
                rng = f"{prop.get('minLength', 0)} .. {prop.get('maxLength')} chars"
            if "minItems" in prop:
                rng = f"{prop['minItems']} .. {prop.get('maxItems')} items"
            default = "required" if name in required else f"`{prop.get('default')!r}`"
            lines.append(f"| `{name}` | {kind} | {rng} | {default} | {prop.get('description', '')} |")
        lines.append("")

    table("top level", s["properties"], set(s.get("required", [])))
    for name, prop in s["properties"].items():
        if "$ref" in prop:
            ref = defs[prop["$ref"].split("/")[-1]]
            table(name, ref["properties"], set(ref.get("required", [])))
    return "\n".join(lines)


def _num(value) -> str:
    if value is None:
        return ""
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"
