"""Handlers of the layers with weights or windows: Conv, Gemm, MatMul, the normalizations, pools, reductions and
Dropout."""

import numpy as np

from hwsim.models.onnx.registry import handles
from hwsim.models.ops import Conv2d, Dropout, Linear, MatMul, Norm, Pool, Reduce, Reshape


def _weight(c, node, index: int):
    name = node.input[index] if len(node.input) > index else ""
    if name not in c.const:
        raise c.fail(node, f"input {index} {name!r} is not a constant (expected an initializer weight)")
    return c.const[name]


def _pads(c, node, attrs, kernel) -> tuple[tuple[int, int], tuple[int, int]]:
    """(top, left) and (bottom, right) padding of a 2-D window, from ``pads`` or ``auto_pad``."""
    auto = attrs.get("auto_pad", "NOTSET")
    if auto == "VALID":
        return (0, 0), (0, 0)
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        ins = c.full(node.input[0])
        strides = attrs.get("strides", [1, 1])
        begin, end = [], []
        for i in range(2):
            size = ins[2 + i]
            out = -(-size // strides[i])
            total = max((out - 1) * strides[i] + kernel[i] - size, 0)
            small, big = total // 2, total - total // 2
            begin.append(small if auto == "SAME_UPPER" else big)
            end.append(big if auto == "SAME_UPPER" else small)
        return tuple(begin), tuple(end)
    pads = list(attrs.get("pads", [0, 0, 0, 0]))
    if len(pads) != 4 or min(pads) < 0:
        raise c.fail(node, f"pads {pads} (expected 2-D padding [top, left, bottom, right], none negative)")
    return (pads[0], pads[1]), (pads[2], pads[3])


def _image_input(c, node) -> None:
    if len(c.full(node.input[0])) != 4 or c.bax[node.input[0]] != 0:
        raise c.fail(node, f"input of shape {c.full(node.input[0])} (expected a 2-D image batch, N x C x H x W)")


@handles("Conv",
         becomes="`conv2d` (grouped, depthwise, asymmetric padding; no dilation); `--unfold-bn` adds a `norm batch` after a biased one")
def conv(c, node, attrs) -> None:
    w = _weight(c, node, 1)
    if w.ndim != 4:
        raise c.fail(node, f"weight of rank {w.ndim} (expected a 2-D convolution, rank 4)")
    _image_input(c, node)
    if any(d != 1 for d in attrs.get("dilations", [1, 1])):
        raise c.fail(node, f"dilations {attrs['dilations']} (expected 1, 1)")
    group = attrs.get("group", 1)
    kernel = tuple(attrs.get("kernel_shape", w.shape[2:]))
    begin, end = _pads(c, node, attrs, kernel)
    bias = len(node.input) > 2 and bool(node.input[2])
    restore = bias and c.unfold_bn
    op = Conv2d(w.shape[1] * group, w.shape[0], kernel, tuple(attrs.get("strides", [1, 1])), begin, group,
                bias=bias and not restore, pad_end=end)
    if not restore:
        c.biased_convs += bias
        c.emit(node, op, [node.input[0]])
        return
    c.emit(node, op, [node.input[0]], out=node.output[0] + "#conv")
    c.emit(node, Norm("batch"), [node.output[0] + "#conv"], suffix=".bn")
    c.note("restored (--unfold-bn): a BatchNorm after a convolution with a bias, the bias dropped")


@handles("Gemm",
         becomes="`linear`")
def gemm(c, node, attrs) -> None:
    if attrs.get("transA", 0):
        raise c.fail(node, "transA 1 (expected 0: activations as rows)")
    if node.input[0] in c.const:
        raise c.fail(node, "a constant first operand (expected activations first)")
    w = _weight(c, node, 1)
    k, n = (w.shape[1], w.shape[0]) if attrs.get("transB", 0) else w.shape
    bias = len(node.input) > 2 and bool(node.input[2])
    if attrs.get("alpha", 1.0) != 1.0 or (bias and attrs.get("beta", 1.0) != 1.0):
        c.note("folded: the alpha/beta scalars of a Gemm, into the GEMM")
    c.emit(node, Linear(int(k), int(n), bias=bias), [node.input[0]])


@handles("MatMul",
         becomes="`linear` by a 2-D constant (a following Add of a learned vector is its bias); `matmul` of two activations")
def matmul(c, node, attrs) -> None:
    a, b = node.input[0], node.input[1]
    if a in c.const:
        raise c.fail(node, "a constant first operand (expected activations first)")
    if b not in c.const:
        _matmul_of_activations(c, node, a, b)
        return
    w = c.const[b]
    if w.ndim != 2:
        raise c.fail(node, f"constant operand of rank {w.ndim} (expected a 2-D weight)")
    bias = _bias_add(c, node, int(w.shape[1]))
    layer = c.emit(node, Linear(int(w.shape[0]), int(w.shape[1]), bias=bias is not None), [a])
    if bias is not None:
        c.alias_to(bias.output[0], layer, c.bax[node.output[0]])
        c.check(bias, bias.output[0])


def _bias_add(c, node, n: int):
    """The Add of a length-n learned vector that alone reads this MatMul: folded in as its bias."""
    add = c.single_user(node.output[0])
    if add is None or add.op_type != "Add":
        return None
    other = [i for i in add.input if i != node.output[0]]
    if len(other) != 1 or other[0] not in c.learned or c.const[other[0]].size != n:
        return None
    c.patterns[id(add)] = None
    return add


def _matmul_of_activations(c, node, a: str, b: str) -> None:
    """Attention's products. Leading dims must agree once size-1 ones are dropped (a batch-1 export may keep a
    size-1 axis on one side only): such an operand is reshaped first."""
    sa, sb = c.shape(a), c.shape(b)
    if len(sa) < 2 or len(sb) < 2:
        raise c.fail(node, f"operands of shapes {sa} and {sb} (expected ranks >= 2)")
    lead_a, lead_b = tuple(d for d in sa[:-2] if d != 1), tuple(d for d in sb[:-2] if d != 1)
    if lead_a != lead_b:
        raise c.fail(node, f"operands of shapes {sa} and {sb} (expected equal leading dims: no broadcasting)")
    ins = []
    for tensor, shape, lead in ((a, sa, lead_a), (b, sb, lead_b)):
        if shape[:-2] != lead:
            key = tensor + "#lead"
            c.emit(node, Reshape((*lead, *shape[-2:])), [tensor], out=key, bax=None, suffix=".lead", check=False)
            tensor = key
        ins.append(tensor)
    full_out = c.onnx_shapes.get(node.output[0])
    c.emit(node, MatMul(), ins, bax=None, check=False)
    if full_out and None not in full_out:
        c.bax[node.output[0]] = _bax_like(c, node, full_out)
        c.check(node, node.output[0])
    elif ins[0] == a and c.bax[a] is not None and c.bax[a] < len(c.full(a)) - 2:
        c.bax[node.output[0]] = c.bax[a]  # ONNX does not know the shape: the batch stays among a's leading dims


def _bax_like(c, node, full_out) -> int | None:
    """The batch axis of a MatMul output from ONNX's shape: the axis whose removal leaves the layer's shape."""
    shape = c.shape(node.output[0])
    if tuple(full_out) == shape:
        return None
    for axis, d in enumerate(full_out):
        if d == c.batch and tuple(full_out[:axis]) + tuple(full_out[axis + 1:]) == shape:
            return axis
    raise c.fail(node, f"output shape {tuple(full_out)} from ONNX, {shape} per sample here (expected one to be "
                       "the other without the batch axis)")


@handles("BatchNormalization",
         becomes="`norm batch` (training-mode running-statistics outputs ignored)")
def batch_norm(c, node, attrs) -> None:
    if len(c.full(node.input[0])) < 2 or c.bax[node.input[0]] != 0:
        raise c.fail(node, f"input of shape {c.full(node.input[0])} (expected the batch first, then channels)")
    if any(o for o in node.output[1:]):
        c.note("ignored: the running-statistics outputs of a training-mode BatchNormalization")
    c.emit(node, Norm("batch"), [node.input[0]])


@handles("LayerNormalization",
         becomes="`norm layer` over the last axis")
def layer_norm(c, node, attrs) -> None:
    x = node.input[0]
    axis = attrs.get("axis", -1)
    rank = len(c.full(x))
    if axis % rank != rank - 1:
        raise c.fail(node, f"axis {axis} (expected the last axis; a channels-first LayerNorm over several "
                           "axes is not modelled)")
    if any(o for o in node.output[1:]):
        c.note("ignored: the mean and inverse-deviation outputs of a LayerNormalization")
    c.emit(node, Norm("layer"), [x])


def _pool(c, node, attrs, mode: str) -> None:
    _image_input(c, node)
    if any(d != 1 for d in attrs.get("dilations", [1, 1])):
        raise c.fail(node, f"dilations {attrs['dilations']} (expected 1, 1)")
    if len(node.output) > 1 and node.output[1]:
        raise c.fail(node, "an Indices output (expected only the pooled values)")
    kernel = tuple(attrs["kernel_shape"])
    stride = tuple(attrs.get("strides", [1, 1]))
    begin, end = _pads(c, node, attrs, kernel)
    if mode == "avg" and (begin != (0, 0) or end != (0, 0)) and not attrs.get("count_include_pad", 0):
        c.note("modelled: an average pool that excludes the padding from its count, as one that includes it")
    c.emit(node, Pool(mode, kernel, stride, begin, pad_end=end, ceil_mode=bool(attrs.get("ceil_mode", 0))),
           [node.input[0]])


@handles("MaxPool",
         becomes="`pool max` (asymmetric padding, ceil_mode)")
def max_pool(c, node, attrs) -> None:
    _pool(c, node, attrs, "max")


@handles("AveragePool",
         becomes="`pool avg` (asymmetric padding, ceil_mode)")
def average_pool(c, node, attrs) -> None:
    _pool(c, node, attrs, "avg")


@handles("GlobalAveragePool", "GlobalMaxPool",
         becomes="`pool` global")
def global_pool(c, node, attrs) -> None:
    _image_input(c, node)
    c.emit(node, Pool("avg" if node.op_type == "GlobalAveragePool" else "max", global_=True), [node.input[0]])


def _axes(c, node, attrs) -> list[int] | None:
    if "axes" in attrs:
        return list(attrs["axes"])
    if len(node.input) > 1 and node.input[1]:
        if node.input[1] not in c.const:
            raise c.fail(node, "axes computed at run time (expected constant axes)")
        return [int(a) for a in np.asarray(c.const[node.input[1]]).reshape(-1)]
    return None


@handles("ReduceMean", "ReduceMax", "ReduceSum",
         becomes="over H and W of an image: a global `pool` (+ `reshape` without keepdims); otherwise `reduce`")
def reduce(c, node, attrs) -> None:
    """Over H and W of an image: a global pool; otherwise a Reduce (a mean over features, a sum for a norm)."""
    x = node.input[0]
    fn = {"ReduceMean": "mean", "ReduceMax": "max", "ReduceSum": "sum"}[node.op_type]
    full = c.full(x)
    axes = _axes(c, node, attrs)
    if axes is None or not axes:
        if attrs.get("noop_with_empty_axes", 0):
            c.pass_through(node, "ignored: a reduction over no axes")
            return
        axes = list(range(len(full)))
    keep = bool(attrs.get("keepdims", 1))
    sample_axes = sorted({c.sample_axis(node, x, a) for a in axes})
    bax = c.bax[x]
    if not keep and bax is not None:
        bax -= sum(1 for a in axes if a % len(full) < bax)
    if fn != "sum" and c.shape(x) and len(c.shape(x)) == 3 and sample_axes == [1, 2] and bax == 0:
        layer = c.emit(node, Pool("avg" if fn == "mean" else "max", global_=True), [x],
                       out=node.output[0] + ("" if keep else "#pooled"), check=keep)
        if not keep:
            c.emit(node, Reshape((c.b.shape(layer)[0],)), [node.output[0] + "#pooled"], bax=bax, suffix=".flat")
        return
    c.emit(node, Reduce(fn, tuple(sample_axes), keep), [x], bax=bax)


@handles("Dropout",
         becomes="`dropout` in a training-mode export with ratio > 0; otherwise nothing (noted)")
def dropout(c, node, attrs) -> None:
    """A vector pass in a training-mode export (its ``training_mode`` input true and a ratio above 0);
    otherwise the identity it is at inference. torch writes attention's dropout without a ``training_mode``
    input even in a training export: in a graph whose other Dropouts train, it trains too (noted)."""
    ratio = attrs.get("ratio", 0.5)
    if len(node.input) > 1 and node.input[1]:
        ratio = float(f"{float(np.asarray(c.const[node.input[1]]).reshape(())):.6g}") if node.input[1] in c.const \
            else None  # a float32 0.1 is 0.1
    if ratio is None:
        raise c.fail(node, "a drop ratio computed at run time (expected a constant)")
    flag = node.input[2] if len(node.input) > 2 and node.input[2] else None
    if flag is not None and flag not in c.const:
        raise c.fail(node, "a training_mode computed at run time (expected a constant)")
    training = c.opset >= 12 and (bool(np.asarray(c.const[flag]).reshape(())) if flag else training_graph(c))
    if not training or ratio == 0:
        c.pass_through(node, "ignored: Dropout " + ("with ratio 0" if training else "at inference (eval mode)"))
        return
    if flag is None:
        c.note("modelled: a Dropout without a training_mode input, in a training-mode export, as training dropout")
    c.emit(node, Dropout(ratio), [node.input[0]])


def training_graph(c) -> bool:
    """Some Dropout of the graph has a constant true ``training_mode`` (a training-mode export)."""
    return any(n.op_type == "Dropout" and len(n.input) > 2 and n.input[2] in c.const
               and bool(np.asarray(c.const[n.input[2]]).reshape(())) for n in c.g.node)
