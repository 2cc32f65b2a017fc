"""Graphs from YAML files (``--model FILE``).

Format::

    name: tiny-cnn              # optional; defaults to the file name without extension
    input: [3, 32, 32]          # per-sample input shape, no batch dim: (C, H, W) or (T, D)
    input_grad: false           # optional; true for a block cut from inside a network (its input needs dX)
    layers:                     # in execution order; the last layer is the output
      - {name: c1, op: conv2d, out_channels: 16, kernel: 3, padding: 1}
      - {op: relu}              # name defaults to <stem><n> (relu1); inputs to the previous layer
      - {op: add, inputs: [c1, relu1]}
      - {op: pool, mode: avg, global: true}
      - {op: reshape, shape: [-1]}
      - {op: linear, out_features: 10}

Each layer has ``op`` (an op kind of ``hwsim.models.ops``: conv2d, linear, matmul, pool, add, act, norm,
reshape, slice, posembed, concat, relayout; or an activation name as a shortcut for ``{op: act, fn: <name>}``), an optional
``name``, optional ``inputs`` (a layer name, ``input``, or a list of them) and the op's fields, spelled as
in ``hwsim.models.ops`` (``global`` for Pool's ``global_``). ``in_channels`` (conv2d) and ``in_features``
(linear) may be left out: they are taken from the input's shape. Pairs (kernel, stride, padding) take an
int or a two-int list.

``hwsim.models.load`` refuses ``resolution``/``classes`` with a file (a file fixes its own shapes) rather
than ignoring them.

Every problem raises one ModelError line naming the file, the layer (by name, or ``layers[i]`` if unnamed)
and the field, e.g. ``model file net.yaml: layer 'c1'.groups: 3 does not divide ...``.
"""

import dataclasses
from pathlib import Path

from hwsim.models import checks, yamlsafe
from hwsim.models.builder import GraphBuilder
from hwsim.models.errors import ModelError, show
from hwsim.models.graph import Graph
from hwsim.models.ops import OPS, Activation, Op

MAX_LAYERS = 25_000
"""Most layers in a model file (ResNet-152 has about 500; a 96-block transformer about 3,000)."""
_TOP_KEYS = ("name", "input", "layers", "input_grad")
_LAYER_KEYS = ("name", "op", "inputs")
_YAML_KEYS = {"global_": "global"}  # op fields spelled differently in YAML
_INFERRED = {"conv2d": ("in_channels", 0), "linear": ("in_features", -1)}  # field, input dim it copies


def load_file(path: str | Path) -> Graph:
    """Read and parse the YAML graph file at ``path`` (read through ``yamlsafe``: size, aliases and depth capped)."""
    try:
        doc = yamlsafe.load_file(path)
    except yamlsafe.YAMLInputError as error:
        raise ModelError(f"model {error}") from None
    source = str(path)
    try:
        stem = Path(path).stem  # the default name; a file name that is no valid name gives "model"
        return _graph(doc, stem if stem.isprintable() and 0 < len(stem) <= checks.MAX_NAME else "model")
    except ModelError as error:
        raise error.prefixed(f"model file {yamlsafe.show_path(source)}: ") from None


def parse(text: str, source: str = "<string>", default_name: str = "model") -> Graph:
    """Parse YAML ``text``; ``source`` names it in errors."""
    try:
        return _graph(_yaml(text), default_name)
    except ModelError as error:
        raise error.prefixed(f"model file {source}: ") from None


def _yaml(text: str) -> object:
    try:
        return yamlsafe.load(text)
    except yamlsafe.YAMLInputError as error:
        raise ModelError(str(error)) from None


def _graph(doc: object, default_name: str) -> Graph:
    if not isinstance(doc, dict):
        raise ModelError(f"top level: {show(doc)} (expected a mapping with keys {', '.join(_TOP_KEYS)})")
    _known_keys("at top level", doc, _TOP_KEYS)
    for key in ("input", "layers"):
        if key not in doc:
            raise ModelError(f"{key}: missing (expected a mapping with keys {', '.join(_TOP_KEYS)})")
    layers = doc["layers"]
    if not isinstance(layers, list) or not layers:
        raise ModelError(f"layers: {show(layers)} (expected a non-empty list of layer mappings)")
    if len(layers) > MAX_LAYERS:
        raise ModelError(f"layers: {len(layers):,} entries (expected at most {MAX_LAYERS:,})")
    input_grad = doc.get("input_grad", False)
    if not isinstance(input_grad, bool):
        raise ModelError(f"input_grad: {show(input_grad)} (expected true or false)")
    b = GraphBuilder(checks.name("name", doc.get("name", default_name)), checks.shape("input", doc["input"]),
                     input_grad)
    for index, spec in enumerate(layers):
        _add_layer(b, index, spec)
    return b.build()


def _add_layer(b: GraphBuilder, index: int, spec: object) -> None:
    if not isinstance(spec, dict):
        raise ModelError(f"layers[{index}]: {show(spec)} (expected a mapping with an 'op' key)")
    name = spec.get("name")
    where = f"layers[{index}]" if name is None else f"layer {show(checks.name(f'layers[{index}].name', name))}"
    try:
        inputs = _inputs(spec.get("inputs"))
        op = _op(spec, b.shape(inputs[0] if inputs else b.last))
    except ModelError as error:
        raise error.prefixed(f"{where}.") from None
    b.add(op, *inputs, name=name)


def _op(spec: dict, in_shape: tuple[int, ...]) -> Op:
    """The op of a layer mapping; ``in_shape`` (of its first input) fills in_channels / in_features."""
    kind = spec.get("op")
    shortcut = isinstance(kind, str) and kind in Activation.FUNCTIONS
    if not shortcut and not (isinstance(kind, str) and kind in OPS):
        expected = ", ".join((*OPS, *Activation.FUNCTIONS))
        raise ModelError(f"op: {'missing' if kind is None else show(kind)} (expected one of: {expected})")
    cls = Activation if shortcut else OPS[kind]
    fields = {_YAML_KEYS.get(f.name, f.name): f  # by YAML key
              for f in dataclasses.fields(cls) if not (shortcut and f.name == "fn")}
    args = {"fn": kind} if shortcut else {}
    for key, value in spec.items():
        if key not in _LAYER_KEYS and key not in fields:
            raise ModelError(f"{_key(key)}: unknown field of op {kind} (expected one of: {', '.join(fields)})")
        if key not in _LAYER_KEYS:
            args[fields[key].name] = tuple(value) if isinstance(value, list) else value
    if kind in _INFERRED and _INFERRED[kind][0] not in args:
        field, dim = _INFERRED[kind]
        args[field] = in_shape[dim]
    for key, f in fields.items():
        if f.name not in args and f.default is dataclasses.MISSING:
            raise ModelError(f"{key}: missing (expected a value: op {kind} requires it)")
    return cls(**args)


def _inputs(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(i, str) for i in items):
        raise ModelError(f"inputs: {show(value)} (expected a layer name or a non-empty list of them)")
    return tuple(items)


def _known_keys(where: str, mapping: dict, allowed: tuple[str, ...]) -> None:
    for key in mapping:
        if key not in allowed:
            raise ModelError(f"{_key(key)}: unknown key {where} (expected one of: {', '.join(allowed)})")


def _key(key: object) -> str:
    """A mapping key as a field name: bare if it is a string, else its repr."""
    return key if isinstance(key, str) and key.isprintable() else show(key)
