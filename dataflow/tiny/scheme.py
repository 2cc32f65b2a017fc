"""Sparse-update schemes: which biases and which (slices of) weights a training step updates.

A scheme is ``bias_depth`` k (the biases of the last k convs are updated, so backprop reaches that deep),
the conv indices (forward order over the model's convs, the classifier excluded) whose weights are also
updated, and per such layer the fraction of input channels updated (depthwise: of channels). The
classifier is always trained.

Spellings accepted by :func:`parse_scheme`:

- ``full``: every conv's weights and bias;
- ``last-K``: weights and biases of the last K convs;
- ``bias-only`` (every conv's bias) or ``bias-only-K`` (the last K convs' biases);
- ``MODEL:LABEL`` (or ``LABEL`` alone for the model's own table): a published scheme packaged from the
  reference implementation, e.g. ``mcunet-5fps:99kb``;
- a path to a ``.yaml``/``.yml`` file holding ``{bias_update_depth, weight_layers, ratios}``.

The reference writes ratio 0 for "bias only" inside ``weight_layers``; the packaged schemes are read with
those entries dropped (the same scheme). A user's file must use ratios in (0, 1].
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

import yaml


class SchemeError(ValueError):
    """A scheme does not parse or does not fit the model. One line, ``<field>: <value> ... (expected ...)``."""


@dataclass(frozen=True)
class Scheme:
    """A validated sparse-update scheme (model-independent checks here; :meth:`check` fits it to a model)."""

    name: str
    bias_depth: int
    weight_layers: tuple[int, ...] = ()
    ratios: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.bias_depth, int) or isinstance(self.bias_depth, bool) or self.bias_depth < 0:
            raise SchemeError(f"bias_update_depth: {self.bias_depth!r} (expected an integer >= 0)")
        layers, ratios = tuple(self.weight_layers), tuple(self.ratios)
        if len(layers) != len(ratios):
            raise SchemeError(f"ratios: {len(ratios)} given for {len(layers)} weight_layers "
                              "(expected one ratio per layer)")
        for idx in layers:
            if not isinstance(idx, int) or isinstance(idx, bool) or idx < 0:
                raise SchemeError(f"weight_layers: {idx!r} (expected conv indices >= 0)")
        if len(set(layers)) != len(layers):
            raise SchemeError(f"weight_layers: {list(layers)} repeats a layer (expected distinct indices)")
        for r in ratios:
            if isinstance(r, bool) or not isinstance(r, (int, float)) or not math.isfinite(r) or not 0 < r <= 1:
                raise SchemeError(f"ratios: {r!r} (expected a fraction in (0, 1]; to update only a layer's "
                                  "bias, leave it out of weight_layers)")
        pairs = sorted(zip(layers, (float(r) for r in ratios)))
        object.__setattr__(self, "weight_layers", tuple(p[0] for p in pairs))
        object.__setattr__(self, "ratios", tuple(p[1] for p in pairs))

    def check(self, n_convs: int, model: str) -> None:
        """Raise SchemeError unless the scheme fits a model with ``n_convs`` convs."""
        if self.bias_depth > n_convs:
            raise SchemeError(f"bias_update_depth: {self.bias_depth} exceeds the {n_convs} convs of {model} "
                              f"(expected 0..{n_convs})")
        for idx in self.weight_layers:
            if idx >= n_convs:
                raise SchemeError(f"weight_layers: {idx} is out of range for the {n_convs} convs of {model} "
                                  f"(expected 0..{n_convs - 1})")
            if idx < n_convs - self.bias_depth:
                raise SchemeError(f"weight_layers: {idx} lies below the bias-update depth {self.bias_depth} of "
                                  f"{model} (expected layers >= {n_convs - self.bias_depth}: backprop stops there)")

    def ratio(self, idx: int) -> float | None:
        """The updated channel fraction of conv ``idx``, or None if its weights are frozen."""
        try:
            return self.ratios[self.weight_layers.index(idx)]
        except ValueError:
            return None

    def bias_updated(self, idx: int, n_convs: int) -> bool:
        return idx >= n_convs - self.bias_depth


def updated_channels(channels: int, ratio: float) -> int:
    """Channels updated at ``ratio``: the reference's ``int(channels * ratio)``, at least one."""
    return max(1, int(channels * ratio))


@cache
def published() -> dict[str, dict[str, dict]]:
    """The packaged schemes of the reference implementation: model -> label -> raw entry."""
    text = resources.files("hwsim.models").joinpath("data", "schemes.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def published_names() -> list[str]:
    """Every packaged scheme as ``MODEL:LABEL``."""
    return [f"{m}:{label}" for m, table in published().items() for label in table]


MAX_SCHEME_BYTES = 64 * 1024
"""Largest scheme file (a scheme lists at most a few hundred layer indices and ratios: a few KB)."""

_LAST = re.compile(r"last-(\d+)$")
_BIAS = re.compile(r"bias-only(?:-(\d+))?$")


def parse_scheme(spec: object, n_convs: int, model: str) -> Scheme:
    """A Scheme from its spelling (see the module doc), checked against a model with ``n_convs`` convs."""
    if isinstance(spec, Scheme):
        spec.check(n_convs, model)
        return spec
    if isinstance(spec, Path) or (isinstance(spec, str) and spec.lower().endswith((".yaml", ".yml"))):
        scheme = _from_file(Path(spec))
    elif not isinstance(spec, str) or not spec:
        raise SchemeError(f"scheme: {spec!r} (expected full, last-K, bias-only[-K], MODEL:LABEL or a .yaml file)")
    elif spec == "full":
        scheme = Scheme("full", n_convs, tuple(range(n_convs)), (1.0,) * n_convs)
    elif m := _LAST.match(spec):
        k = int(m.group(1))
        if not 1 <= k <= n_convs:
            raise SchemeError(f"scheme: {spec!r} asks for {k} convs but {model} has {n_convs} (expected "
                              f"last-1..last-{n_convs})")
        scheme = Scheme(spec, k, tuple(range(n_convs - k, n_convs)), (1.0,) * k)
    elif m := _BIAS.match(spec):
        k = n_convs if m.group(1) is None else int(m.group(1))
        scheme = Scheme(spec, k)
    else:
        scheme = _published(spec, model)
    scheme.check(n_convs, model)
    return scheme


def _published(spec: str, model: str) -> Scheme:
    table_model, _, label = spec.rpartition(":")
    table_model = table_model or model
    tables = published()
    if table_model not in tables or label not in tables[table_model]:
        raise SchemeError(f"scheme: unknown scheme {spec!r} (expected full, last-K, bias-only[-K], a .yaml file, "
                          f"or one of: {', '.join(published_names())})")
    if table_model != model:
        raise SchemeError(f"scheme: {spec!r} indexes the convs of {table_model}, not of {model} "
                          f"(expected a scheme of {model}, or a .yaml file)")
    raw = tables[table_model][label]
    keep = [(i, r) for i, r in zip(raw["weight_layers"], raw["ratios"]) if r != 0]  # ratio 0 = bias only
    return Scheme(f"{table_model}:{label}", raw["bias_update_depth"], tuple(i for i, _ in keep),
                  tuple(r for _, r in keep))


def _from_file(path: Path) -> Scheme:
    from hwsim.models.yamlsafe import YAMLInputError, load_file

    try:  # bounded like every YAML reader: size, file type, aliases, depth, duplicate keys
        data = load_file(path, max_bytes=MAX_SCHEME_BYTES)
    except YAMLInputError as exc:
        raise SchemeError(f"scheme: {exc}") from None
    fields = {"bias_update_depth", "weight_layers", "ratios"}
    if not isinstance(data, dict) or "bias_update_depth" not in data:
        raise SchemeError(f"scheme: {str(path)!r} (expected a mapping with bias_update_depth, weight_layers, ratios)")
    if unknown := set(data) - fields - {"name"}:
        raise SchemeError(f"scheme: unknown field {sorted(unknown)[0]!r} in {str(path)!r} "
                          f"(expected {', '.join(sorted(fields))})")
    layers, ratios = data.get("weight_layers") or [], data.get("ratios") or []
    if not isinstance(layers, list) or not isinstance(ratios, list):
        raise SchemeError(f"weight_layers: {layers!r} / ratios: {ratios!r} (expected two lists of equal length)")
    return Scheme(str(data.get("name", path.stem)), data["bias_update_depth"], tuple(layers), tuple(ratios))
