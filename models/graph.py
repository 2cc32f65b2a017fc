"""The workload IR: a Graph is a validated, topologically ordered tuple of Layers with inferred shapes."""

import math
from dataclasses import dataclass, field
from functools import cached_property

from hwsim.models import checks
from hwsim.models.errors import ModelError, show
from hwsim.models.ops import Op, Shape

INPUT = "input"
"""The name by which layers refer to the graph input."""


@dataclass(frozen=True)
class Layer:
    """One op applied to named producers. ``out_shape`` is inferred from ``op`` and ``in_shapes``.

    All shapes are per sample (no batch dimension).
    """

    name: str
    op: Op
    inputs: tuple[str, ...]
    in_shapes: tuple[Shape, ...]
    out_shape: Shape = field(init=False)

    def __post_init__(self) -> None:
        where = f"layer {show(self.name)}."
        checks.name(where + "name", self.name)
        if self.name == INPUT:
            raise ModelError(f"{where}name: {INPUT!r} is reserved for the graph input (expected another name)")
        if not isinstance(self.op, Op):
            raise ModelError(f"{where}op: {show(self.op)} (expected an op from models.ops)")
        object.__setattr__(self, "inputs", tuple(checks.name(where + "inputs", i) for i in self.inputs))
        object.__setattr__(self, "in_shapes", tuple(checks.shape(where + "in_shapes", s) for s in self.in_shapes))
        if len(self.inputs) != len(self.in_shapes):
            raise ModelError(f"{where}in_shapes: {len(self.in_shapes)} shapes for {len(self.inputs)} inputs "
                             "(expected one shape per input)")
        try:
            object.__setattr__(self, "out_shape", checks.shape("output", self.op.out_shape(self.in_shapes)))
        except ModelError as error:
            raise error.prefixed(where) from None

    @property
    def macs(self) -> int:
        """Forward multiply-accumulates per sample (GEMM-like ops only)."""
        return self.op.macs(self.in_shapes)

    @property
    def params(self) -> int:
        """Learnable parameters (weights, bias, norm affine, embeddings)."""
        return self.op.params(self.in_shapes)

    @property
    def weighted(self) -> bool:
        """Has a weight matrix (conv2d, linear): one FF, BP and WU GEMM in training."""
        return self.op.weighted

    @property
    def out_elems(self) -> int:
        """Output elements per sample."""
        return math.prod(self.out_shape)


@dataclass(frozen=True)
class Graph:
    """A single-input, single-output workload; ``layers`` are in execution order, the last is the output.

    Construction checks the wiring: unique names, every input produced by an earlier layer (or the graph
    input), shapes matching their producers, and every layer but the last consumed by a later one.
    ``input_grad`` marks a graph cut from inside a network (a transformer block): its input is an
    activation whose gradient training needs, not data. ``notes`` says what an importer folded away or
    ignored on the way (one line per kind, counted); they are not part of the graph's identity.
    """

    name: str
    input_shape: Shape
    layers: tuple[Layer, ...]
    input_grad: bool = False
    notes: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        checks.name("graph.name", self.name)
        object.__setattr__(self, "input_shape", checks.shape("graph.input_shape", self.input_shape))
        object.__setattr__(self, "layers", tuple(self.layers))
        if not self.layers:
            raise ModelError(f"graph.layers: none in graph {self.name!r} (expected at least one layer)")
        shapes: dict[str, Shape] = {INPUT: self.input_shape}
        consumed: set[str] = set()
        for layer in self.layers:
            _check_wiring(layer, shapes)
            shapes[layer.name] = layer.out_shape
            consumed.update(layer.inputs)
        for layer in self.layers[:-1]:
            if layer.name not in consumed:
                raise ModelError(f"layer {layer.name!r}: output never used (expected every layer but the "
                                 f"last, {self.layers[-1].name!r}, to feed a later layer)")

    @property
    def macs(self) -> int:
        """Forward multiply-accumulates per sample."""
        return sum(layer.macs for layer in self.layers)

    @property
    def params(self) -> int:
        """Learnable parameters."""
        return sum(layer.params for layer in self.layers)

    @property
    def weighted_layers(self) -> tuple[Layer, ...]:
        """The conv2d and linear layers, in execution order."""
        return tuple(layer for layer in self.layers if layer.weighted)

    @cached_property
    def _index(self) -> dict[str, Layer]:
        return {layer.name: layer for layer in self.layers}

    def layer(self, name: str) -> Layer:
        """The layer called ``name``."""
        try:
            return self._index[name]
        except (KeyError, TypeError):
            raise ModelError(f"layer: {show(name)} not in graph {self.name!r} "
                             f"(expected one of its {len(self.layers)} layer names)") from None


def _check_wiring(layer: Layer, shapes: dict[str, Shape]) -> None:
    if not isinstance(layer, Layer):
        raise ModelError(f"graph.layers: {show(layer)} (expected a models.Layer)")
    where = f"layer {layer.name!r}"
    if layer.name in shapes:
        raise ModelError(f"{where}.name: {layer.name!r} is already used (expected unique layer names)")
    for name, shape in zip(layer.inputs, layer.in_shapes):
        if name not in shapes:
            raise ModelError(f"{where}.inputs: unknown layer {name!r} (expected {INPUT!r} or an earlier layer)")
        if shape != shapes[name]:
            raise ModelError(f"{where}.in_shapes: {shape} does not match the output {shapes[name]} of {name!r}")
