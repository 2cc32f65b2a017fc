"""Handlers of element-wise nodes: activations, arithmetic between activations or with a constant, masks.

With a constant operand: a scalar is a fixed scale (``act scale``), folded into the matrix product or softmax
it sits next to (attention's 1/sqrt(d)); a tensor holding infinities or the lowest float (or booleans) is a mask (``act mask``); a
learned tensor (an initializer) is an ``affine`` layer whose elements are parameters, or a position embedding
when it covers a (T, D) token input whole.
"""

import numpy as np

from hwsim.models.onnx.registry import handles
from hwsim.models.ops import Activation, Add, Affine, Eltwise, PosEmbed

UNARY = {"Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "Gelu": "gelu", "HardSwish": "hswish",
         "HardSigmoid": "hsigmoid", "LeakyRelu": "leakyrelu", "Elu": "elu", "Erf": "erf", "Exp": "exp",
         "Sqrt": "sqrt", "Neg": "neg"}
_FOLD_NEXT_TO = ("matmul", "linear", "conv2d")
MASK_MAGNITUDE = 1e30  # a constant holding -inf or values this large (exporters write the lowest float) is a mask


@handles(*UNARY,
         becomes="an `act` layer: relu, sigmoid, tanh, gelu, hswish, hsigmoid, leakyrelu, elu, erf, exp, sqrt, neg (x * sigmoid(x) is `silu`, x * hardsigmoid(x) `hswish`, the erf spelling of GELU `gelu`)")
def unary(c, node, attrs) -> None:
    if node.op_type == "Gelu" and attrs.get("approximate", "none") == "tanh":
        c.note("modelled: a GELU with the tanh approximation, as GELU")
    c.emit(node, Activation(UNARY[node.op_type]), [node.input[0]])


@handles("Softmax", "LogSoftmax",
         becomes="`act softmax` over the last axis")
def softmax(c, node, attrs) -> None:
    x = node.input[0]
    axis = attrs.get("axis", -1 if c.opset >= 13 else 1)
    if c.sample_axis(node, x, axis) != len(c.shape(x)) - 1:
        raise c.fail(node, f"axis {axis} (expected the last axis)")
    if node.op_type == "LogSoftmax":
        c.note("modelled: LogSoftmax as a softmax pass")
    c.emit(node, Activation("softmax"), [x])


@handles("Clip",
         becomes="`act relu6` for bounds [0, 6], `relu` for [0, none], else `act clip`")
def clip(c, node, attrs) -> None:
    bounds = [attrs.get("min"), attrs.get("max")]
    for i, name in enumerate(node.input[1:3]):
        if name:
            if name not in c.const:
                raise c.fail(node, f"bound {name!r} computed at run time (expected constant bounds)")
            bounds[i] = float(np.asarray(c.const[name]).reshape(()))
    fn = "relu6" if bounds == [0.0, 6.0] else "relu" if bounds[0] == 0.0 and bounds[1] is None else "clip"
    c.emit(node, Activation(fn), [node.input[0]])


@handles("Sum",
         becomes="`add` of activations")
def sum_(c, node, attrs) -> None:
    if any(i in c.const for i in node.input if i):
        raise c.fail(node, "sums a constant (expected activations only)")
    if len(node.input) == 1:
        c.pass_through(node)
        return
    c.emit(node, Add(), list(node.input))


_ELTWISE = {"Add": "add", "Sub": "sub", "Mul": "mul", "Div": "div"}


@handles("Add", "Sub", "Mul", "Div", "Pow",
         becomes="of two activations: `add` (same shapes) or `eltwise` (broadcasting); with a constant: the bias of the MatMul before it, `act scale` (a fixed scalar; folded into an adjacent matrix product or softmax), `act mask` (infinities or booleans), `affine` (a learned tensor: its elements are parameters), `posembed` (a learned (T, D) addend), `act pow` (a fixed exponent); a decomposed LayerNorm is one `norm layer`")
def arithmetic(c, node, attrs) -> None:
    a, b = node.input[0], node.input[1]
    if a not in c.const and b not in c.const:
        _of_activations(c, node, a, b)
        return
    x, k = (a, b) if b in c.const else (b, a)
    value = np.asarray(c.const[k])
    if k in c.random and node.op_type in ("Mul", "Div"):
        c.emit(node, Activation("scale"), [x])
        c.note("modelled: a random mask drawn from shapes (stochastic depth), as a scale pass")
        return
    if node.op_type == "Pow":
        if k == a or value.size != 1:
            raise c.fail(node, "a power by a tensor or of a constant (expected an activation to a fixed exponent)")
        c.emit(node, Activation("pow"), [x])
        return
    if value.dtype == bool or (value.dtype.kind == "f" and not (np.abs(value) < MASK_MAGNITUDE).all()):
        c.emit(node, Activation("mask"), [x])
        return
    if k in c.learned and value.size > 1:
        _learned(c, node, x, k, value)
        return
    if value.size == 1 and node.op_type in ("Mul", "Div") and k == b and _fold_scale(c, node, x):
        return
    c.emit(node, Activation("pow" if node.op_type == "Div" and k == a else "scale"), [x])


def _of_activations(c, node, a: str, b: str) -> None:
    if node.op_type == "Pow":
        raise c.fail(node, "a power of two activations (expected a fixed exponent)")
    if node.op_type == "Add" and c.shape(a) == c.shape(b) and c.bax[a] == c.bax[b]:
        c.emit(node, Add(), [a, b])
        return
    first = a if len(c.full(a)) >= len(c.full(b)) else b
    c.emit(node, Eltwise(_ELTWISE[node.op_type]), [a, b], bax=c.bax[first])


def _fold_scale(c, node, x: str) -> bool:
    """A fixed scalar next to a matrix product (or before a softmax) is applied as results drain: folded."""
    after = c.ops.get(c.alias[x])
    user = c.single_user(node.output[0])
    before_product = user is not None and (
        (user.op_type == "MatMul" and all(i not in c.const for i in user.input)) or user.op_type == "Softmax")
    if (after is not None and after.kind in _FOLD_NEXT_TO and c.single_user(x) is node) or before_product:
        c.pass_through(node, "folded: a fixed scalar Mul/Div next to a matrix product or softmax (attention's "
                             "scale), into it")
        return True
    return False


def _param_shape(c, x: str, value) -> tuple[int, ...]:
    """The learned tensor's per-sample shape: aligned on the right with ``x``, the batch axis dropped."""
    full = c.full(x)
    shape = (1,) * (len(full) - value.ndim) + tuple(value.shape)
    bax = c.bax[x]
    if bax is not None and len(shape) == len(full):
        shape = shape[:bax] + shape[bax + 1:]
    while len(shape) > 1 and shape[0] == 1:
        shape = shape[1:]
    return tuple(int(d) for d in shape)


def _learned(c, node, x: str, k: str, value) -> None:
    shape = _param_shape(c, x, value)
    sample = c.shape(x)
    if node.op_type == "Add" and len(sample) == 2 and shape == sample:
        c.emit(node, PosEmbed(cls_token=False), [x])
        return
    c.emit(node, Affine("shift" if node.op_type in ("Add", "Sub") else "scale", shape), [x])


@handles("Where",
         becomes="`act mask` (a fixed condition filling one activation)")
def where(c, node, attrs) -> None:
    cond, a, b = node.input[:3]
    acts = [i for i in (a, b) if i not in c.const]
    if cond not in c.const or len(acts) != 1:
        raise c.fail(node, "a condition computed at run time or two activation branches (expected a fixed mask "
                           "filling one activation)")
    c.emit(node, Activation("mask"), acts)
