"""The converter core: walks an ONNX graph in order, evaluates what is static and hands each other node to its
op handler, which adds IR layers through the ``Converter`` helpers.

Shapes. The IR's shapes are per sample. The converter tracks, for each activation tensor, which axis is the batch
(``bax``): axis 0 of the input (or its one size-1 axis: a sequence-first export at batch 1), moved
by Transpose, kept by element-wise ops, found again after a Reshape as the axis with the same element count in
front of it. An export at batch 1 may merge the batch into another axis (``view(batch * heads, ...)``): the
tensor is then per sample as it is, and the batch is the first size-1 axis once it reappears. A symbolic batch
is fixed to 1 before shape inference. ONNX's inferred shape of every output is checked against the layer's.

Notes. Whatever the converter folds away or ignores is noted, one line per kind with a count (``Graph.notes``);
``warning`` holds the one-line warning of an eval-mode export whose BatchNorm was folded into the convolutions.
"""

import math
from collections import Counter
from dataclasses import replace

from hwsim.models.builder import GraphBuilder
from hwsim.models.errors import ModelError
from hwsim.models.graph import INPUT, Graph
from hwsim.models.onnx import static
from hwsim.models.onnx.patterns import find_patterns
from hwsim.models.onnx.registry import HANDLERS, supported

RANDOM_OPS = frozenset({"RandomUniformLike", "RandomNormalLike", "RandomUniform", "RandomNormal", "Bernoulli",
                        "Multinomial"})
NORM_OPS = frozenset({"BatchNormalization", "LayerNormalization", "InstanceNormalization", "GroupNormalization",
                      "RMSNormalization", "SimplifiedLayerNormalization"})
GENERIC_NAMES = frozenset({"", "main_graph", "torch_jit", "torch-jit-export"})  # what exporters call every graph
FOLD_FIX = "training=torch.onnx.TrainingMode.TRAINING, do_constant_folding=False"


def convert(model, default_name: str = "model", unfold_bn: bool = False) -> tuple[Graph, str | None]:
    """The Graph of an in-memory ``onnx.ModelProto`` and the warning about it (None if there is none)."""
    from onnx import shape_inference

    symbolic = _fix_symbolic_batch(model.graph)
    weights = {}  # shape inference copies the whole model twice: it is given the weights' shapes, not their bytes
    for tensor in model.graph.initializer:
        if len(tensor.raw_data) > _KEEP_BYTES:
            weights[tensor.name] = tensor.raw_data
            tensor.ClearField("raw_data")
    try:
        inferred = shape_inference.infer_shapes(model, data_prop=True)
    except Exception as error:  # noqa: BLE001 - inference errors come as several onnx exception types
        raise ModelError(f"shape inference failed ({one_line(error)})") from None
    finally:
        for tensor in model.graph.initializer:
            if tensor.name in weights:
                tensor.raw_data = weights[tensor.name]
    try:
        return Converter(model, inferred.graph, default_name, unfold_bn).run()
    finally:
        for dim, name in symbolic:  # the caller's model is left as it was given
            dim.dim_param = name


_KEEP_BYTES = 4096  # initializers up to this size keep their bytes for inference (shapes are read from them)


def one_line(error: object) -> str:
    return " ".join(str(error).split())[:160]


def _fix_symbolic_batch(graph) -> list:
    """A symbolic batch dim (exporters' dynamic axes) becomes 1 so that shape inference resolves every shape;
    returns (dim, name) of each one changed."""
    names = {t.name for t in graph.initializer}
    changed = []
    for info in graph.input:
        if info.name in names:
            continue
        dims = info.type.tensor_type.shape.dim
        symbolic = [d for d in dims if not d.HasField("dim_value")]
        if dims and len(symbolic) == 1 and not dims[0].HasField("dim_value"):
            changed.append((dims[0], dims[0].dim_param))
            dims[0].dim_value = 1
    return changed


class Converter:
    """State of one conversion: static values, activation tensors (their layer and batch axis), notes."""

    def __init__(self, model, inferred, default_name: str, unfold_bn: bool) -> None:
        from onnx import numpy_helper

        graph = model.graph
        self.g = graph
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 17)
        self.const = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        self.learned = {name for name, v in self.const.items() if v.dtype.kind == "f" and v.size > 1}
        self.random: set[str] = set()  # static in shape, random in value (stochastic depth's per-sample mask)
        self.onnx_shapes = {}
        for info in (*inferred.input, *inferred.value_info, *inferred.output):
            dims = info.type.tensor_type.shape.dim
            self.onnx_shapes[info.name] = tuple(d.dim_value if d.HasField("dim_value") else None for d in dims)
        self.users: dict[str, list] = {}
        for node in graph.node:
            for name in node.input:
                self.users.setdefault(name, []).append(node)
        inputs = [i for i in graph.input if i.name not in self.const]
        if len(inputs) != 1:
            raise ModelError(f"inputs: {len(inputs)} graph inputs {[i.name for i in inputs]} "
                             "(expected exactly one, the data)")
        data = inputs[0].name
        shape = self.onnx_shapes.get(data, ())
        if len(shape) < 2 or any(d is None or d < 1 for d in shape):
            raise ModelError(f"input {data!r}: shape {shape} (expected a batch dim then known sizes)")
        self.batch_axis0 = _input_batch_axis(inputs[0], shape)
        self.batch = shape[self.batch_axis0]
        per_sample = shape[:self.batch_axis0] + shape[self.batch_axis0 + 1:]
        name = default_name if graph.name in GENERIC_NAMES else graph.name
        self.b = GraphBuilder(name, per_sample)
        self.alias = {data: INPUT}  # activation tensor -> the layer producing it
        self.ops: dict = {}  # layer name -> its op
        self.bax: dict[str, int | None] = {data: self.batch_axis0}  # activation tensor -> its batch axis
        self.used_names = {INPUT}
        self.notes: Counter = Counter()
        self.unfold_bn = unfold_bn
        self.has_norm = any(n.op_type in NORM_OPS for n in graph.node)
        self.biased_convs = 0
        for node in graph.node:  # constants first, so that the patterns can read their values
            if node.op_type == "Constant" and not node.input:
                self._evaluate(node, [])
        self.patterns = find_patterns(self)

    # -- the walk

    def run(self) -> tuple[Graph, str | None]:
        supported()  # load the handlers
        if self.unfold_bn and self.has_norm:
            raise ModelError("unfold_bn: the graph already has normalization layers (expected an eval-mode export "
                             "whose BatchNorm was folded into the convolutions)")
        for node in self.g.node:
            if id(node) in self.patterns:
                pattern = self.patterns[id(node)]
                if pattern is not None:
                    pattern(self, node)
                continue
            self.node(node)
        if not self.b.last or self.b.last == INPUT:
            raise ModelError("graph: no layer that hwsim models (expected at least one compute node)")
        notes = tuple(f"{text} (x{count})" if count > 1 else text for text, count in self.notes.items())
        return replace(self.b.build(), notes=notes), self._warning()

    def node(self, node) -> None:
        kind = node.op_type
        data = [i for i in node.input if i]
        if kind == "Shape" and data and data[0] in self.alias:
            self.set_const(node.output[0], static.shape_of(self.full(data[0]), self.attrs(node)))
            return
        if kind == "Size" and data and data[0] in self.alias:
            self.set_const(node.output[0], static.np.array(math.prod(self.full(data[0])), dtype="int64"))
            return
        if kind == "Constant" and node.output[0] in self.const:
            return
        if all(i in self.const for i in data):
            self._evaluate(node, data)
            return
        missing = [i for i in data if i not in self.const and i not in self.alias]
        if missing:
            raise self.fail(node, f"input {missing[0]!r} is produced by no node converted before it (expected "
                                  "a graph in topological order)")
        handler = HANDLERS.get(kind) if node.domain in ("", "ai.onnx") else None
        if handler is None:
            raise self.fail(node, f"op type {kind} is not supported (expected one of: {', '.join(supported())}; "
                                  "docs/model-format.md lists them)")
        try:
            handler(self, node, self.attrs(node))
        except ModelError:
            raise
        except (IndexError, KeyError, TypeError, ValueError, ZeroDivisionError) as error:  # a graph beyond the handler
            raise self.fail(node, f"cannot convert it ({type(error).__name__}: {one_line(error)}) (expected a graph "
                                  "as torch.onnx.export writes it)") from None

    def _evaluate(self, node, data: list[str]) -> None:
        sizes = [self.const[i].size for i in data]
        if sum(sizes) > static.MAX_STATIC_ELEMS:
            raise self.fail(node, f"static inputs of {sum(sizes):,} elements (expected at most "
                                  f"{static.MAX_STATIC_ELEMS:,})")
        try:
            values = static.evaluate(node, [self.const.get(i) if i else None for i in node.input], self.opset)
        except Exception as error:  # noqa: BLE001 - the reference implementation raises many types
            raise self.fail(node, f"cannot evaluate it on its constant inputs ({one_line(error)})") from None
        for name, value in zip(node.output, values):
            if name:
                self.set_const(name, static.np.asarray(value))
        if node.op_type in RANDOM_OPS or any(i in self.random for i in data):
            self.random.update(o for o in node.output if o)  # drawn anew every step: a value, not a constant
        if any(i in self.learned for i in data) and node.op_type in ("Transpose", "Expand", "Unsqueeze", "Reshape",
                                                                     "Identity", "Cast", "Squeeze"):
            self.learned.update(o for o in node.output if o)  # a weight re-laid out is still a weight

    def set_const(self, name: str, value) -> None:
        if value.size > static.MAX_STATIC_ELEMS:
            raise ModelError(f"tensor {name!r}: a static value of {value.size:,} elements (expected at most "
                             f"{static.MAX_STATIC_ELEMS:,})")
        self.const[name] = value

    # -- helpers for the handlers

    def where(self, node) -> str:
        return f"node {node.name or node.output[0]!r} ({node.op_type})"

    def fail(self, node, what: str) -> ModelError:
        return ModelError(f"{self.where(node)}: {what}")

    def note(self, text: str) -> None:
        """Record something folded away or ignored (one line per kind in Graph.notes, counted)."""
        self.notes[text] += 1

    def attrs(self, node) -> dict:
        from onnx import helper

        out = {}
        for a in node.attribute:
            value = helper.get_attribute_value(a)
            out[a.name] = value.decode() if isinstance(value, bytes) else value
        return out

    def is_static(self, name: str) -> bool:
        return name in self.const

    def acts(self, node) -> list[str]:
        """The node's activation inputs (not weights or shapes), as tensor names."""
        return [i for i in node.input if i and i not in self.const]

    def layer(self, tensor: str) -> str:
        return self.alias[tensor]

    def shape(self, tensor: str) -> tuple[int, ...]:
        """Per-sample shape of an activation tensor."""
        return self.b.shape(self.alias[tensor])

    def full(self, tensor: str) -> tuple[int, ...]:
        """The tensor's shape as ONNX sees it: with the batch dim at its axis (unless merged into another)."""
        shape, axis = self.shape(tensor), self.bax[tensor]
        return shape if axis is None else (*shape[:axis], self.batch, *shape[axis:])

    def sample_axis(self, node, tensor: str, axis: int) -> int:
        """The per-sample axis of ONNX ``axis`` of ``tensor``; the batch axis itself is an error."""
        rank = len(self.full(tensor))
        if not -rank <= axis < rank:
            raise self.fail(node, f"axis {axis} of a rank-{rank} input (expected an axis of the input)")
        axis %= rank
        bax = self.bax[tensor]
        if axis == bax:
            raise self.fail(node, f"axis {axis} is the batch axis (expected a per-sample axis)")
        return axis - (1 if bax is not None and axis > bax else 0)

    def drop_batch(self, full: tuple[int, ...], bax: int | None) -> tuple[int, ...]:
        return full if bax is None else (*full[:bax], *full[bax + 1:])

    def settle(self, node, full: tuple[int, ...], bax: int | None) -> int | None:
        """A batch axis merged away at batch 1 comes back as the first size-1 axis; at batch > 1 it must not merge."""
        if bax is None and self.batch == 1 and 1 in full:
            return full.index(1)
        if bax is None and self.batch != 1:
            raise self.fail(node, f"the batch ({self.batch}) merges with another axis in shape {full} (expected "
                                  "an export at batch 1, or with a dynamic batch)")
        return bax

    def alias_to(self, tensor: str, layer: str, bax: int | None) -> None:
        self.alias[tensor] = layer
        self.bax[tensor] = bax

    def pass_through(self, node, note: str | None = None) -> None:
        """The node's first output is its first activation input, unchanged."""
        src = self.acts(node)[0]
        self.alias_to(node.output[0], self.alias[src], self.bax[src])
        if note:
            self.note(note)

    def name_for(self, node, suffix: str = "") -> str:
        base = (node.name or node.output[0]) + suffix
        name, n = base, 1
        while name in self.used_names:
            n += 1
            name = f"{base}_{n}"
        self.used_names.add(name)
        return name

    def emit(self, node, op, inputs: list[str], *, out: str | None = None, bax: object = ..., suffix: str = "",
             check: bool = True) -> str:
        """Add ``op`` on the activation tensors ``inputs``; ``out`` (default: the node's first output) names
        the result; its batch axis is the first input's unless given."""
        out = node.output[0] if out is None else out
        try:
            layer = self.b.add(op, *[self.alias[i] for i in inputs], name=self.name_for(node, suffix))
        except ModelError as error:
            raise error.prefixed(f"{self.where(node)}: ") from None
        self.ops[layer] = op
        self.alias_to(out, layer, self.bax[inputs[0]] if bax is ... else bax)
        if check:
            self.check(node, out)
        return layer

    def check(self, node, out: str) -> None:
        """ONNX's inferred shape of ``out`` must be the layer's (with the batch dim)."""
        onnx_shape = self.onnx_shapes.get(out)
        if onnx_shape and None not in onnx_shape and tuple(onnx_shape) != self.full(out):
            raise self.fail(node, f"output shape {self.full(out)} differs from ONNX's {onnx_shape} (expected equal: "
                                  "an attribute the IR does not model?)")

    def single_user(self, tensor: str):
        """The one node reading ``tensor``, or None (several readers, or a graph output)."""
        users = self.users.get(tensor, [])
        outputs = {o.name for o in self.g.output}
        return users[0] if len(users) == 1 and tensor not in outputs else None

    def _warning(self) -> str | None:
        from hwsim.models.onnx.nn import training_graph

        if self.has_norm or self.unfold_bn or not self.biased_convs or training_graph(self):
            return None  # a training-mode export (its Dropouts train) keeps BatchNorm: none was folded
        return (f"no normalization layer and {self.biased_convs} convolutions with a bias: if this is an eval-mode "
                "export, BatchNorm was folded into the convolutions and training is under-counted (export with "
                f"torch.onnx.export(..., {FOLD_FIX}), or pass --unfold-bn to restore a BatchNorm after each "
                "biased convolution)")


def _input_batch_axis(info, shape: tuple[int, ...]) -> int:
    """Axis 0, unless axis 0 is not 1 and exactly one other axis is: a sequence-first (T, N, D) export at batch 1."""
    ones = [i for i, d in enumerate(shape) if d == 1]
    if shape[0] != 1 and len(ones) == 1:
        return ones[0]
    return 0
