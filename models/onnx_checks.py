"""Reading and validating an ONNX file before conversion: bounded like every reader, then checked for the
structure and attributes the converter relies on, so a malformed model is one ModelError line, not a KeyError.

- The file: a regular file of at most ``MAX_ONNX_BYTES``, parsed from the bytes read (protobuf errors become
  one line). External data is never loaded blindly: every tensor stored outside names a regular file in the
  model's folder (no absolute path, no ``..``), and the bytes its dims and type declare must fit in that file
  at the stated offset and within ``MAX_TENSOR_BYTES`` for the whole model, checked before a byte is loaded.
- The graph: at most ``MAX_NODES`` nodes; every tensor produced once; every node input produced by an earlier
  node, a graph input or an initializer (no dangling input, no cycle, topological order as ONNX requires).
- Tensors: an initializer holds the number of values its dims declare.
- Attributes the converter needs: pooling ``kernel_shape``, Concat ``axis``, a rank-2 Gemm weight, scalar
  Clip bounds.

Imports nothing above ``hwsim.models``.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from hwsim.models.errors import ModelError
from hwsim.models.reading import FileInputError, check_file, escape, read_bytes

MAX_ONNX_BYTES = 512 << 20
"""Largest .onnx file (512 MiB: a ResNet-50 with its weights inside is about 100 MB)."""
MAX_TENSOR_BYTES = 512 << 20
"""Most bytes of tensor data a model may declare, inside the file and in external data together."""
MAX_NODES = 100_000
"""Most nodes in a graph (a ViT-B/16 export has about 2,000)."""
_POOLS = ("MaxPool", "AveragePool", "LpPool")


def read_model(path: str | os.PathLike):
    """The ``onnx.ModelProto`` at ``path``, read within the bounds above, external data included after its
    sizes were checked (ModelError naming the file otherwise)."""
    import onnx
    from onnx import external_data_helper

    shown = escape(os.fspath(path))
    try:
        data = read_bytes(path, MAX_ONNX_BYTES, "an .onnx model")
    except FileInputError as error:
        raise ModelError(f"model {error}") from None
    try:
        model = onnx.load_model_from_string(data)
    except Exception as error:  # noqa: BLE001 - protobuf raises DecodeError and friends on garbage
        raise ModelError(f"model file {shown}: not a readable ONNX model ({_one_line(error)})") from None
    try:
        check_model(model)
        external = _check_external(model, Path(path).parent)
        if external:
            external_data_helper.load_external_data_for_model(model, str(Path(path).parent))
    except ModelError as error:
        raise error.prefixed(f"model file {shown}: ") from None
    except Exception as error:  # noqa: BLE001 - onnx's loader fails in several ways on odd files
        raise ModelError(f"model file {shown}: external data cannot be loaded ({_one_line(error)})") from None
    return model


def check_model(model) -> None:
    """Structure, tensor and attribute checks on an in-memory model (ModelError on the first problem)."""
    graph = model.graph
    if len(graph.node) > MAX_NODES:
        raise ModelError(f"graph: {len(graph.node):,} nodes (expected at most {MAX_NODES:,})")
    _check_tensors(graph)
    _check_order(graph)
    _check_attributes(graph)


def _declared_bytes(tensor) -> int:
    """Bytes the tensor's dims and type declare (0 for an unknown type: nothing to check against)."""
    from onnx import helper

    try:
        itemsize = helper.tensor_dtype_to_np_dtype(tensor.data_type).itemsize
    except Exception:  # noqa: BLE001 - an unknown or undefined data type
        raise ModelError(f"tensor {_name(tensor.name)}: data type {tensor.data_type} (expected a known ONNX "
                         "tensor type)") from None
    if any(d < 0 for d in tensor.dims):
        raise ModelError(f"tensor {_name(tensor.name)}: dims {list(tensor.dims)[:8]} (expected sizes >= 0)")
    return math.prod(tensor.dims) * itemsize


def _check_tensors(graph) -> None:
    """Every initializer holds as many values as its dims declare; the declared total stays bounded."""
    from onnx import TensorProto

    total = 0
    fields = ("float_data", "int32_data", "string_data", "int64_data", "double_data", "uint64_data")
    constants = [a.t for node in graph.node if node.op_type == "Constant" for a in node.attribute
                 if a.name == "value" and a.HasField("t")]
    for tensor in [*graph.initializer, *constants]:
        if tensor.data_type == TensorProto.STRING:
            continue  # no fixed size to check (and nothing the converter reads)
        size = _declared_bytes(tensor)
        total += size
        if total > MAX_TENSOR_BYTES:
            raise ModelError(f"initializers: more than {MAX_TENSOR_BYTES:,} bytes of tensor data declared "
                             f"(expected at most {MAX_TENSOR_BYTES:,})")
        if tensor.data_location == TensorProto.EXTERNAL:
            continue
        count = math.prod(tensor.dims)
        if tensor.HasField("raw_data"):
            held, need = len(tensor.raw_data), size
        else:
            held = max(len(getattr(tensor, f)) for f in fields)
            need = count * (2 if tensor.data_type in (TensorProto.COMPLEX64, TensorProto.COMPLEX128) else 1)
            if tensor.data_type in (TensorProto.FLOAT16, TensorProto.BFLOAT16, TensorProto.INT8, TensorProto.UINT8,
                                    TensorProto.INT16, TensorProto.UINT16, TensorProto.BOOL):
                need = count  # stored one per int32_data entry
        if held != need:
            raise ModelError(f"tensor {_name(tensor.name)}: dims {list(tensor.dims)[:8]} declare {need:,} "
                             f"{'bytes' if tensor.HasField('raw_data') else 'values'}, it holds {held:,} (expected "
                             "the data its dims declare)")


def _check_external(model, folder: Path) -> bool:
    """Check every external tensor's file and extent before loading any; True if there are some."""
    from onnx import TensorProto
    from onnx.external_data_helper import ExternalDataInfo

    found = False
    total = 0
    for tensor in model.graph.initializer:
        if tensor.data_location != TensorProto.EXTERNAL:
            continue
        found = True
        info = ExternalDataInfo(tensor)
        location = info.location or ""
        if not location or os.path.isabs(location) or ".." in Path(location).parts:
            raise ModelError(f"initializer {_name(tensor.name)}: external data location {_name(location)} "
                             "(expected a file name relative to the model's folder)")
        need = _declared_bytes(tensor)
        total += need
        if total > MAX_TENSOR_BYTES:
            raise ModelError(f"external data: more than {MAX_TENSOR_BYTES:,} bytes declared (expected at most "
                             f"{MAX_TENSOR_BYTES:,})")
        if info.length is not None and int(info.length) != need:
            raise ModelError(f"initializer {_name(tensor.name)}: external length {info.length} but dims "
                             f"{list(tensor.dims)[:8]} declare {need:,} bytes (expected equal)")
        try:
            size = check_file(folder / location, MAX_ONNX_BYTES + MAX_TENSOR_BYTES, "an external data file")
        except FileInputError as error:
            raise ModelError(f"initializer {_name(tensor.name)}: external data {error}") from None
        offset = int(info.offset or 0)
        if offset < 0 or offset + need > size:
            raise ModelError(f"initializer {_name(tensor.name)}: {need:,} bytes at offset {offset:,} of "
                             f"{_name(location)} ({size:,} bytes; expected the tensor inside the file)")
    return found


def _check_order(graph) -> None:
    """Every node input exists before the node: no dangling input, no cycle, topological order."""
    known = {t.name for t in graph.initializer} | {i.name for i in graph.input}
    producer: dict[str, int] = {}
    for index, node in enumerate(graph.node):
        for out in node.output:
            if not out:
                continue
            if out in producer or out in known:
                raise ModelError(f"node {_node(node)}: output {_name(out)} is produced twice (expected each tensor "
                                 "produced once)")
            producer[out] = index
    for index, node in enumerate(graph.node):
        for name in node.input:
            if not name or name in known:
                continue
            if name not in producer:
                raise ModelError(f"node {_node(node)}: input {_name(name)} is produced by no node, graph input or "
                                 "initializer (expected a connected graph)")
            if producer[name] >= index:
                why = "a cycle" if _reaches(graph, producer, producer[name], index) else "out of order"
                raise ModelError(f"node {_node(node)}: input {_name(name)} comes from a later node, {why} (expected "
                                 "an acyclic graph in topological order)")
    for out in graph.output:
        if out.name not in producer and out.name not in known:
            raise ModelError(f"graph output {_name(out.name)} is produced by no node (expected a connected graph)")


def _reaches(graph, producer: dict[str, int], start: int, target: int) -> bool:
    """Whether node ``target`` feeds, through any path, node ``start`` (then ``target`` reading ``start``
    closes a cycle)."""
    seen, stack = set(), [start]
    while stack:
        index = stack.pop()
        if index == target:
            return True
        if index in seen:
            continue
        seen.add(index)
        stack.extend(producer[i] for i in graph.node[index].input if i in producer)
    return False


def _check_attributes(graph) -> None:
    """Attributes and operand shapes the converter reads without a default."""
    inits = {t.name: t for t in graph.initializer}
    for node in graph.node:  # a Constant node's value counts as a constant operand too
        if node.op_type == "Constant" and node.output:
            for attr in node.attribute:
                if attr.name == "value" and attr.HasField("t"):
                    inits.setdefault(node.output[0], attr.t)
    for node in graph.node:
        attrs = {a.name for a in node.attribute}
        if node.op_type in _POOLS and "kernel_shape" not in attrs:
            raise ModelError(f"node {_node(node)}: no kernel_shape attribute (expected the pooling window)")
        if node.op_type == "Concat" and "axis" not in attrs:
            raise ModelError(f"node {_node(node)}: no axis attribute (expected the axis to concatenate on)")
        if node.op_type == "Gemm" and len(node.input) > 1 and node.input[1] in inits:
            dims = list(inits[node.input[1]].dims)
            if len(dims) != 2:
                raise ModelError(f"node {_node(node)}: weight of rank {len(dims)} {dims[:8]} (expected a rank-2 "
                                 "matrix)")
        if node.op_type in ("Conv", "ConvTranspose") and len(node.input) < 2:
            raise ModelError(f"node {_node(node)}: {len(node.input)} inputs (expected data and weight)")
        if node.op_type == "Clip":
            for name in node.input[1:3]:
                if name in inits and math.prod(inits[name].dims) != 1:
                    raise ModelError(f"node {_node(node)}: bound {_name(name)} of shape {list(inits[name].dims)[:8]} "
                                     "(expected a scalar)")


def _name(name: str) -> str:
    text = escape(name)
    return repr(text if len(text) <= 60 else text[:57] + "...")


def _node(node) -> str:
    return f"{_name(node.name or (node.output[0] if node.output else '?'))} ({escape(node.op_type)[:40]})"


def _one_line(error: object) -> str:
    return escape(" ".join(str(error).split())[:160])
