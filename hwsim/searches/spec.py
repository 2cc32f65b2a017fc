"""The search spec: a sweep's keys with `space` instead of `grid`, plus objectives, constraints and the sampler.

Checked in full before any trial runs (the base arch, every space path at its ends and choices, every model and
method), so a bad spec fails with one line naming the field and leaves no files.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from hwsim.config import SATConfig, load_arch
from hwsim.config.sat import one_line
from hwsim.errors import HwsimError
from hwsim.sweeps import ModelEntry, _Strict, spec_document

OBJECTIVES = ("latency", "energy", "edp", "resources")
RESOURCES = ("dsp", "lut", "ff", "bram", "uram")
BOUNDED = (*OBJECTIVES, *RESOURCES)
# Simulation options a space or `options` may set: name -> the `hwsim simulate` flag that reproduces a value.
OPTIONS = {"objective": "--objective", "dataflow": "--dataflow", "pregen": "--no-pregen", "fuse": "--no-fuse",
           "pad": "--no-pad", "offline": "--no-offline", "interleave": "--no-interleave",
           "dense_ends": "--sparse-ends"}
MAX_TRIALS = 100_000


class Range(_Strict):
    """An integer or real interval; `step` for a grid of integers or reals, `log` to sample on a log scale."""

    low: int | float
    high: int | float
    step: int | float | None = None
    log: bool = False

    @model_validator(mode="after")
    def _check(self):
        if not self.low <= self.high:
            raise ValueError(f"range: low {self.low} > high {self.high} (expected low <= high)")
        if self.step is not None and self.step <= 0:
            raise ValueError(f"range: step {self.step} (expected a positive step)")
        if self.log and (self.low <= 0 or self.step not in (None, 1)):
            raise ValueError(f"range: log scale from {self.low} with step {self.step} (expected low > 0, no step)")
        return self

    @property
    def integer(self) -> bool:
        return all(isinstance(v, int) for v in (self.low, self.high, self.step or 1))


class Workload(ModelEntry):
    """A model of the search with its weight in the objectives (weights are normalized to sum to 1)."""

    weight: float = Field(1.0, gt=0, le=1e6)


class Constraints(_Strict):
    """`board`: skip configurations over the board's resource budget (not simulated); `max`: upper bounds on
    objectives (latency s, energy J, edp J s, resources = largest utilization) or on resource counts."""

    board: bool = True
    max: dict[Literal[BOUNDED], float] = Field(default_factory=dict, strict=False)

    @field_validator("max")
    @classmethod
    def _positive(cls, bounds):
        for name, value in bounds.items():
            if not value > 0:
                raise ValueError(f"constraints.max.{name}: {value} (expected a positive bound)")
        return bounds


class SearchSpec(_Strict):
    """The search file (docs/search.md)."""

    version: int = Field(ge=1, le=1)
    arch: str = Field("sat-vcu1525", min_length=1, max_length=4096, description="base preset or spec file")
    space: dict[str, Range | list[Any]] = Field(min_length=1, max_length=64, strict=False,
                                                description="config path, `method` or `options.NAME` -> range "
                                                            "or choices")
    models: list[str | Workload] = Field(min_length=1, max_length=100)
    methods: list[str] = Field(["dense"], min_length=1, max_length=100, description="dense, bdwp:2:8, ...: "
                                                                                       "searched when several")
    batch: int = Field(32, ge=1, le=1_000_000)
    options: dict[str, Any] = Field(default_factory=dict, description="fixed simulation options")
    objectives: list[Literal[OBJECTIVES]] = Field(["latency", "energy"], min_length=1, max_length=4, strict=False)
    constraints: Constraints = Constraints()
    trials: int = Field(100, ge=1, le=MAX_TRIALS)
    sampler: Literal["tpe", "nsga2", "random"] = "tpe"
    seed: int = Field(0, ge=0, le=2**31 - 1)

    @field_validator("space")
    @classmethod
    def _space(cls, space):
        for path, dom in space.items():
            if isinstance(dom, list) and not 1 <= len(dom) <= 10_000:
                raise ValueError(f"space.{path}: {len(dom)} choices (expected 1 to 10,000)")
        return space

    @field_validator("objectives")
    @classmethod
    def _unique(cls, objectives):
        if len(set(objectives)) != len(objectives):
            raise ValueError(f"objectives: {objectives} (expected each objective once)")
        return objectives

    @property
    def workloads(self) -> list[Workload]:
        return [m if isinstance(m, Workload) else Workload(name=m) for m in self.models]


def load_search_spec(spec: str | Path | dict | SearchSpec) -> SearchSpec:
    """A search spec from a YAML file, a dict or a SearchSpec, or a one-line HwsimError naming the bad field."""
    if isinstance(spec, SearchSpec):
        return spec
    data, where = spec_document(spec, "search", "version:, space:, ...")
    if "grid" in data:
        raise HwsimError("grid: a sweep key (expected space: config paths to ranges or choices)", where)
    try:
        return SearchSpec.model_validate(data)
    except ValidationError as exc:
        raise HwsimError(one_line(exc), where) from None


def split_methods(texts: list[str]) -> list[tuple[str, str | None]]:
    """'bdwp:2:8' -> ('bdwp', '2:8'), checked."""
    from hwsim.dataflow.sparsity import SparsityError, resolve

    out = []
    for text in texts:
        if not isinstance(text, str):
            raise HwsimError(f"method: {text!r} (expected a string like dense or bdwp:2:8)", "search spec")
        name, _, nm = text.partition(":")
        try:
            meth, nm_spec = resolve(name, nm or None)
        except SparsityError as exc:
            raise HwsimError(f"methods: {text!r}: {exc}", "search spec") from None
        out.append((meth.value, str(nm_spec) if nm_spec else None))
    return out


def check(spec: SearchSpec) -> SATConfig:
    """Everything that can be checked before the first trial; returns the base config."""
    from hwsim import models

    base = load_arch(spec.arch)
    split_methods(spec.space.get("method", spec.methods))
    for path, dom in spec.space.items():
        if path == "method":
            if not isinstance(dom, list):
                raise HwsimError("space.method: a range (expected a list of methods like [dense, bdwp:2:8])",
                                 "search spec")
            continue
        if path.startswith("options."):
            if not isinstance(dom, list):
                raise HwsimError(f"space.{path}: a range (expected a list of choices)", "search spec")
            for value in dom:
                _check_option(path[8:], value, f"space.{path}")
            continue
        for value in ([dom.low, dom.high] if isinstance(dom, Range) else dom):
            _check_value(base, path, value)
    for name, value in spec.options.items():
        _check_option(name, value, f"options.{name}")
    for entry in spec.workloads:
        try:
            models.load(entry.name, resolution=entry.resolution, classes=entry.classes)
        except models.ModelError as exc:
            raise HwsimError(f"models: {exc}", "search spec") from None
    return base


def _check_option(name: str, value: Any, where: str) -> None:
    """A simulation option's name and value, as `hwsim.simulate` takes them."""
    if name not in OPTIONS:
        raise HwsimError(f"{where}: unknown option (expected one of: {', '.join(OPTIONS)})", "search spec")
    if name in ("objective", "dataflow"):
        allowed = ("latency", "energy", "edp") if name == "objective" else ("os", "ws", "is")
        if value not in allowed:
            raise HwsimError(f"{where}: {value!r} (expected one of: {', '.join(allowed)})", "search spec")
    elif not isinstance(value, bool):
        raise HwsimError(f"{where}: {value!r} (expected true or false)", "search spec")


def _check_value(base: SATConfig, path: str, value: Any) -> None:
    """A space value on its own: an unknown path, a wrong type or a value out of the field's range is a bad spec;
    a value that only fails with others (a buffer too small for the array) makes that trial invalid instead."""
    from hwsim.config.sat import _assign

    try:
        _assign(base.model_dump(), path, value)
        base.derive({path: value})
    except HwsimError as exc:
        if "unknown field" in exc.what or "is a section" in exc.what or "cannot be set" in exc.what or \
                "input should be" in exc.what:
            raise HwsimError(f"space.{path}: {exc.what}", "search spec") from None


def choice_label(value: Any) -> Any:
    """Optuna categorical choices must be scalars: a list or mapping choice is given as its JSON text."""
    return value if value is None or isinstance(value, (bool, int, float, str)) else json.dumps(value)
