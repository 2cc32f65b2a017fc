"""Graphs from ONNX files (``--model net.onnx``), through the ``onnx`` package and its shape inference.

The first dimension of every tensor is the batch: it is dropped (the simulator's ``batch`` decides). Mapped:

- Conv (2-D, incl. grouped and depthwise) -> conv2d; Gemm, and MatMul by a constant -> linear (a following
  Add of a constant becomes its bias); MatMul of two activations -> matmul;
- BatchNormalization, LayerNormalization (last axis) -> norm; MaxPool, AveragePool, GlobalAveragePool,
  GlobalMaxPool -> pool; Add, Sum -> add; Concat -> concat;
- Relu, Clip(0, 6) -> relu6, Sigmoid, Gelu, HardSwish, Softmax (last axis) -> act;
- Flatten (axis 1), Reshape, Transpose (layout is not modelled) -> reshape; Dropout and Identity pass through;
- shape arithmetic (Constant, Shape, Gather, Unsqueeze, Concat, ... on constants) is evaluated away.

Anything else, or an attribute the IR cannot express (dilation, asymmetric padding, ceil-mode pooling), is one
ModelError line naming the op type and the node.
"""

from __future__ import annotations

from pathlib import Path

from hwsim.models.builder import GraphBuilder
from hwsim.models.errors import ModelError
from hwsim.models.graph import INPUT, Graph
from hwsim.models.ops import Activation, Add, Concat, Conv2d, Linear, MatMul, Norm, Pool, Reshape

SUPPORTED = ("Conv", "Gemm", "MatMul", "BatchNormalization", "LayerNormalization", "MaxPool", "AveragePool",
             "GlobalAveragePool", "GlobalMaxPool", "Add", "Sum", "Concat", "Relu", "Clip", "Sigmoid", "Gelu",
             "HardSwish", "Softmax", "Flatten", "Reshape", "Transpose", "Dropout", "Identity")
_ACTS = {"Relu": "relu", "Sigmoid": "sigmoid", "Gelu": "gelu", "HardSwish": "hswish"}


def load_file(path: str | Path) -> Graph:
    """Read the ONNX model at ``path`` and convert it (errors: one ModelError line naming the file)."""
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise ModelError(f"model file {path}: reading ONNX needs the onnx package "
                         "(expected it installed: pip install 'hwsim[onnx]')") from None
    from hwsim.models.onnx_checks import read_model

    model = read_model(path)  # bounded, external data sized first, structure and attributes checked
    try:
        return from_model(model, default_name=Path(path).stem)
    except ModelError as error:
        raise error.prefixed(f"model file {path}: ") from None


def from_model(model, default_name: str = "model") -> Graph:
    """Convert an in-memory ``onnx.ModelProto``."""
    from onnx import shape_inference

    from hwsim.models.onnx_checks import check_model

    check_model(model)
    try:
        model = shape_inference.infer_shapes(model, data_prop=True)
    except Exception as error:  # noqa: BLE001 - inference errors come as several onnx exception types
        raise ModelError(f"shape inference failed ({_one_line(error)})") from None
    return _Converter(model.graph, default_name).run()


def _one_line(error: object) -> str:
    return " ".join(str(error).split())[:160]


class _Converter:
    """Walks the (topologically ordered) nodes, building the Graph as it goes."""

    def __init__(self, graph, default_name: str) -> None:
        from onnx import numpy_helper

        self.g = graph
        self.const = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        self.static = set(self.const)  # tensors known without running the network (weights, shapes)
        self.shapes = {}
        for info in (*graph.input, *graph.value_info, *graph.output):
            dims = info.type.tensor_type.shape.dim
            self.shapes[info.name] = tuple(d.dim_value if d.HasField("dim_value") else None for d in dims)
        inputs = [i for i in graph.input if i.name not in self.const]
        if len(inputs) != 1:
            raise ModelError(f"inputs: {len(inputs)} graph inputs {[i.name for i in inputs]} "
                             "(expected exactly one, the data)")
        shape = self.shapes[inputs[0].name]
        if len(shape) < 2 or any(d is None or d < 1 for d in shape[1:]):
            raise ModelError(f"input {inputs[0].name!r}: shape {shape} (expected a batch dim then known sizes)")
        self.b = GraphBuilder(graph.name or default_name, shape[1:])
        self.alias = {inputs[0].name: INPUT}  # tensor -> layer producing it
        self.consumers: dict[str, list] = {}
        for node in graph.node:
            for name in node.input:
                self.consumers.setdefault(name, []).append(node)
        self.folded: set[int] = set()  # nodes already absorbed (a bias Add after a MatMul)
        self.used_names: set[str] = {INPUT}

    def run(self) -> Graph:
        for node in self.g.node:
            if id(node) in self.folded:
                continue
            self._node(node)
        return self.b.build()

    # -- helpers

    def _where(self, node) -> str:
        return f"node {node.name or node.output[0]!r} ({node.op_type})"

    def _fail(self, node, what: str) -> ModelError:
        return ModelError(f"{self._where(node)}: {what}")

    def _attrs(self, node) -> dict:
        from onnx import helper

        return {a.name: helper.get_attribute_value(a) for a in node.attribute}

    def _acts(self, node) -> list[str]:
        """The node's inputs that are activations (not weights or shapes), as layer names."""
        return [self.alias[i] for i in node.input if i and i not in self.static]

    def _name(self, node) -> str:
        name = node.name or node.output[0]
        base, n = name, 1
        while name in self.used_names:
            n += 1
            name = f"{base}_{n}"
        self.used_names.add(name)
        return name

    def _add(self, node, op, inputs: list[str]) -> None:
        try:
            layer = self.b.add(op, *inputs, name=self._name(node))
        except ModelError as error:
            raise error.prefixed(f"{self._where(node)}: ") from None
        self.alias[node.output[0]] = layer
        onnx_shape = self.shapes.get(node.output[0])
        if onnx_shape and None not in onnx_shape[1:] and tuple(onnx_shape[1:]) != self.b.shape(layer):
            raise self._fail(node, f"output shape {self.b.shape(layer)} differs from ONNX's {onnx_shape[1:]} "
                                   "(expected equal: an attribute the IR does not model?)")

    def _weight(self, node, index: int):
        name = node.input[index] if len(node.input) > index else ""
        if name not in self.const:
            raise self._fail(node, f"input {index} {name!r} is not a constant (expected an initializer weight)")
        return self.const[name]

    def _evaluate(self, node) -> None:
        """A node on constants only (or a Shape): its outputs are static; keep the values easy to fold."""
        from onnx import numpy_helper

        self.static.update(node.output)
        vals = [self.const.get(i) for i in node.input if i]
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            self.const[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
        elif node.op_type == "Identity" and vals and vals[0] is not None:
            self.const[node.output[0]] = vals[0]

    # -- the node

    def _node(self, node) -> None:
        kind = node.op_type
        data = [i for i in node.input if i]
        if kind in ("Shape", "Constant") or (data and all(i in self.static for i in data)):
            self._evaluate(node)
            return
        if kind not in SUPPORTED:
            raise self._fail(node, f"op type {kind} is not supported (expected one of: {', '.join(SUPPORTED)})")
        getattr(self, f"_op_{kind.lower()}")(node, self._attrs(node))

    def _pads(self, node, attrs, kernel) -> tuple[int, int]:
        auto = attrs.get("auto_pad", b"NOTSET")
        auto = auto.decode() if isinstance(auto, bytes) else auto
        if auto == "VALID":
            return (0, 0)
        if auto != "NOTSET":
            ins = self.shapes.get(node.input[0], ())
            strides = attrs.get("strides", [1, 1])
            pads = []
            for i in range(2):
                size = ins[2 + i] if len(ins) == 4 else None
                if size is None:
                    raise self._fail(node, f"auto_pad {auto} on an input of unknown size (expected known shapes)")
                out = -(-size // strides[i])
                total = max((out - 1) * strides[i] + kernel[i] - size, 0)
                if total % 2:
                    raise self._fail(node, f"auto_pad {auto} needs asymmetric padding {total} "
                                           "(expected symmetric padding)")
                pads.append(total // 2)
            return tuple(pads)
        pads = list(attrs.get("pads", [0, 0, 0, 0]))
        if len(pads) != 4 or pads[0] != pads[2] or pads[1] != pads[3]:
            raise self._fail(node, f"pads {pads} (expected symmetric 2-D padding [t, l, t, l])")
        return (pads[0], pads[1])

    def _op_conv(self, node, attrs) -> None:
        w = self._weight(node, 1)
        if w.ndim != 4:
            raise self._fail(node, f"weight of rank {w.ndim} (expected a 2-D convolution, rank 4)")
        if any(d != 1 for d in attrs.get("dilations", [1, 1])):
            raise self._fail(node, f"dilations {attrs['dilations']} (expected 1, 1)")
        group = attrs.get("group", 1)
        kernel = tuple(attrs.get("kernel_shape", w.shape[2:]))
        op = Conv2d(w.shape[1] * group, w.shape[0], kernel, tuple(attrs.get("strides", [1, 1])),
                    self._pads(node, attrs, kernel), group, bias=len(node.input) > 2 and bool(node.input[2]))
        self._add(node, op, self._acts(node))

    def _op_gemm(self, node, attrs) -> None:
        if attrs.get("transA", 0):
            raise self._fail(node, "transA 1 (expected 0: activations as rows)")
        w = self._weight(node, 1)
        k, n = (w.shape[1], w.shape[0]) if attrs.get("transB", 0) else w.shape
        self._add(node, Linear(int(k), int(n), bias=len(node.input) > 2 and bool(node.input[2])), self._acts(node))

    def _op_matmul(self, node, attrs) -> None:
        if node.input[0] in self.static:
            raise self._fail(node, "a constant first operand (expected activations first)")
        if node.input[1] not in self.static:
            self._add(node, MatMul(), self._acts(node))
            return
        w = self._weight(node, 1)
        if w.ndim != 2:
            raise self._fail(node, f"constant operand of rank {w.ndim} (expected a 2-D weight)")
        bias = self._bias_add(node, int(w.shape[1]))
        self._add(node, Linear(int(w.shape[0]), int(w.shape[1]), bias=bias is not None), self._acts(node))
        if bias is not None:
            self.alias[bias.output[0]] = self.alias[node.output[0]]

    def _bias_add(self, node, n: int):
        """The Add of a length-n constant that is the only consumer of this MatMul: folded in as its bias."""
        users = self.consumers.get(node.output[0], [])
        if len(users) != 1 or users[0].op_type != "Add":
            return None
        add = users[0]
        other = [i for i in add.input if i != node.output[0]]
        if len(other) != 1 or other[0] not in self.const or self.const[other[0]].size != n:
            return None
        self.folded.add(id(add))
        return add

    def _op_batchnormalization(self, node, attrs) -> None:
        self._add(node, Norm("batch"), self._acts(node)[:1])

    def _op_layernormalization(self, node, attrs) -> None:
        rank = len(self.shapes.get(node.input[0], ())) or None
        axis = attrs.get("axis", -1)
        if axis != -1 and (rank is None or axis != rank - 1):
            raise self._fail(node, f"axis {axis} (expected the last axis)")
        self._add(node, Norm("layer"), self._acts(node)[:1])

    def _pool(self, node, attrs, mode: str) -> None:
        if attrs.get("ceil_mode", 0):
            raise self._fail(node, "ceil_mode 1 (expected floor mode)")
        if any(d != 1 for d in attrs.get("dilations", [1, 1])):
            raise self._fail(node, f"dilations {attrs['dilations']} (expected 1, 1)")
        kernel = tuple(attrs["kernel_shape"])
        stride = tuple(attrs.get("strides", [1, 1]))
        self._add(node, Pool(mode, kernel, stride, self._pads(node, attrs, kernel)), self._acts(node))

    def _op_maxpool(self, node, attrs) -> None:
        self._pool(node, attrs, "max")

    def _op_averagepool(self, node, attrs) -> None:
        self._pool(node, attrs, "avg")

    def _op_globalaveragepool(self, node, attrs) -> None:
        self._add(node, Pool("avg", global_=True), self._acts(node))

    def _op_globalmaxpool(self, node, attrs) -> None:
        self._add(node, Pool("max", global_=True), self._acts(node))

    def _op_add(self, node, attrs=None) -> None:
        if any(i in self.static for i in node.input if i):
            raise self._fail(node, "adds a constant that is not the bias of a MatMul (expected activations only)")
        self._add(node, Add(), self._acts(node))

    def _op_sum(self, node, attrs) -> None:
        self._op_add(node)

    def _op_concat(self, node, attrs) -> None:
        if any(i in self.static for i in node.input if i):
            raise self._fail(node, "concatenates a constant (expected activations only)")
        axis = attrs["axis"]
        rank = len(self.shapes.get(node.input[0], ()))
        if axis == 0 or (rank and axis == -rank):
            raise self._fail(node, f"axis {axis} is the batch axis (expected a feature axis)")
        self._add(node, Concat(axis - 1 if axis > 0 else axis), self._acts(node))

    def _act(self, node, fn: str) -> None:
        self._add(node, Activation(fn), self._acts(node)[:1])

    def _op_relu(self, node, attrs) -> None:
        self._act(node, "relu")

    def _op_sigmoid(self, node, attrs) -> None:
        self._act(node, "sigmoid")

    def _op_gelu(self, node, attrs) -> None:
        self._act(node, "gelu")

    def _op_hardswish(self, node, attrs) -> None:
        self._act(node, "hswish")

    def _op_clip(self, node, attrs) -> None:
        bounds = [attrs.get("min"), attrs.get("max")]
        for i, name in enumerate(node.input[1:3]):
            if name:
                bounds[i] = float(self.const[name]) if name in self.const else "?"
        if bounds == [0.0, 6.0]:
            self._act(node, "relu6")
        elif bounds[0] == 0.0 and bounds[1] is None:
            self._act(node, "relu")
        else:
            raise self._fail(node, f"bounds {bounds} (expected [0, 6], a ReLU6, or [0, none], a ReLU)")

    def _op_softmax(self, node, attrs) -> None:
        rank = len(self.shapes.get(node.input[0], ()))
        axis = attrs.get("axis", -1)
        if axis != -1 and axis != rank - 1:
            raise self._fail(node, f"axis {axis} (expected the last axis)")
        self._act(node, "softmax")

    def _op_flatten(self, node, attrs) -> None:
        if attrs.get("axis", 1) != 1:
            raise self._fail(node, f"axis {attrs['axis']} (expected 1: flatten each sample)")
        self._add(node, Reshape((-1,)), self._acts(node)[:1])

    def _op_reshape(self, node, attrs) -> None:
        out = self.shapes.get(node.output[0])
        src = self.b.shape(self._acts(node)[0])
        if not out or None in out[1:]:
            target = self.const.get(node.input[1])
            if target is None:
                raise self._fail(node, "target shape unknown to shape inference (expected a constant shape)")
            out = tuple(int(d) for d in target)
            out = out[:1] + tuple(src[i - 1] if d == 0 and i - 1 < len(src) else d for i, d in
                                  enumerate(out) if i > 0)
        self._add(node, Reshape(tuple(out[1:])), self._acts(node)[:1])

    def _op_transpose(self, node, attrs) -> None:
        perm = list(attrs.get("perm", []))
        if perm and perm[0] != 0:
            raise self._fail(node, f"perm {perm} moves the batch axis (expected perm[0] = 0)")
        src = self.b.shape(self._acts(node)[0])
        perm = perm or [0, *range(len(src), 0, -1)]
        self._add(node, Reshape(tuple(src[p - 1] for p in perm[1:])), self._acts(node)[:1])

    def _op_dropout(self, node, attrs) -> None:
        self.alias[node.output[0]] = self._acts(node)[0]

    _op_identity = _op_dropout
