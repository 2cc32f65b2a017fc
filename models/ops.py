"""Layer operators: frozen dataclasses of hyper-parameters, with shape inference and cost counts.

Shapes are per sample, without the batch dimension: ``(C, H, W)`` for images, ``(T, D)`` for tokens.
Every op validates its fields on construction and offers:

- ``out_shape(in_shapes)``: the output shape, or a ModelError naming the field that does not fit;
- ``macs(in_shapes)``: forward multiply-accumulates per sample. Only the GEMM-like ops (conv2d, linear,
  matmul) count MACs, as published MAC figures do; the other ops cost 0 MACs and are sized by their
  output elements (``Layer.out_elems``);
- ``params(in_shapes)``: learnable parameters (weights, biases, norm affine, embeddings; BatchNorm running
  statistics are buffers and not counted, as in torchvision).

Shape errors name bare fields (``in_channels: 64 does not match input channels 32``); a Layer puts its own
name in front. Only shapes are modelled, not data layout: a Reshape may go from ``(T, D)`` straight to
``(H, T, dh)`` without a permute.
"""

import math
from dataclasses import dataclass
from typing import ClassVar

from hwsim.models import checks
from hwsim.models.errors import ModelError, show

Shape = tuple[int, ...]


def _set(op: object, field: str, value: object) -> None:
    object.__setattr__(op, field, value)


def _spatial(shape: Shape, kernel: tuple[int, int], stride: tuple[int, int], padding: tuple[int, int],
             pad_end: tuple[int, int] | None = None, ceil_mode: bool = False) -> tuple[int, int]:
    """Output (H, W) of a sliding window, as PyTorch and ONNX count it: ``padding`` before (top, left),
    ``pad_end`` after (bottom, right; None: the same as before); ``ceil_mode`` keeps a last partial window
    that starts inside the input or the leading padding."""
    end = padding if pad_end is None else pad_end
    out = []
    for i in range(2):
        size = shape[1 + i] + padding[i] + end[i]
        if kernel[i] > size:
            raise ModelError(f"kernel: {kernel} exceeds the padded input {shape[1] + padding[0] + end[0]}x"
                             f"{shape[2] + padding[1] + end[1]} (expected a kernel that fits)")
        n = (size - kernel[i] + (stride[i] - 1 if ceil_mode else 0)) // stride[i] + 1
        if ceil_mode and (n - 1) * stride[i] >= shape[1 + i] + padding[i]:
            n -= 1
        out.append(n)
    return out[0], out[1]


def _pad_end(padding: tuple[int, int], pad_end: object) -> tuple[int, int] | None:
    """``pad_end`` as a pair, or None when it equals ``padding`` (so symmetric ops compare equal)."""
    if pad_end is None:
        return None
    end = checks.pair("pad_end", pad_end, minimum=0)
    return None if end == padding else end


def _image(in_shape: Shape) -> Shape:
    if len(in_shape) != 3:
        raise ModelError(f"inputs: shape {in_shape} (expected a (C, H, W) input)")
    return in_shape


@dataclass(frozen=True)
class Op:
    """Base of all ops: arity check, and zero MACs and params unless an op says otherwise."""

    kind: ClassVar[str]
    weighted: ClassVar[bool] = False  # has a weight matrix that training multiplies (conv2d, linear)
    arity: ClassVar[tuple[int, int | None]] = (1, 1)  # (min, max) number of inputs; None = no max

    def out_shape(self, in_shapes: tuple[Shape, ...]) -> Shape:
        """Infer the output shape from the input shapes."""
        low, high = self.arity
        if len(in_shapes) < low or (high is not None and len(in_shapes) > high):
            want = f"exactly {low}" if low == high else f"at least {low}"
            raise ModelError(f"inputs: {len(in_shapes)} given (expected {want} for op {self.kind})")
        return self._infer(in_shapes)

    def _infer(self, in_shapes: tuple[Shape, ...]) -> Shape:
        return in_shapes[0]

    def macs(self, in_shapes: tuple[Shape, ...]) -> int:
        """Forward multiply-accumulates per sample."""
        return 0

    def params(self, in_shapes: tuple[Shape, ...]) -> int:
        """Learnable parameters."""
        return 0


@dataclass(frozen=True)
class Conv2d(Op):
    """2-D convolution over a (C, H, W) input; ``groups == in_channels`` is depthwise.

    ``kernel``, ``stride`` and ``padding`` accept an int for a square value. ``padding`` is the top/left
    padding; ``pad_end`` the bottom/right one when it differs (asymmetric 'same' padding of exporters).
    """

    in_channels: int
    out_channels: int
    kernel: tuple[int, int]
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    groups: int = 1
    bias: bool = False
    pad_end: tuple[int, int] | None = None
    kind: ClassVar[str] = "conv2d"
    weighted: ClassVar[bool] = True

    def __post_init__(self) -> None:
        _set(self, "in_channels", checks.integer("in_channels", self.in_channels))
        _set(self, "out_channels", checks.integer("out_channels", self.out_channels))
        _set(self, "kernel", checks.pair("kernel", self.kernel))
        _set(self, "stride", checks.pair("stride", self.stride))
        _set(self, "padding", checks.pair("padding", self.padding, minimum=0))
        _set(self, "groups", checks.integer("groups", self.groups))
        _set(self, "bias", checks.flag("bias", self.bias))
        _set(self, "pad_end", _pad_end(self.padding, self.pad_end))
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise ModelError(f"groups: {self.groups} does not divide in_channels {self.in_channels} and "
                             f"out_channels {self.out_channels} (expected a common divisor)")

    @property
    def depthwise(self) -> bool:
        """One filter per input channel."""
        return self.groups == self.in_channels

    def _infer(self, in_shapes: tuple[Shape, ...]) -> Shape:
        shape = _image(in_shapes[0])
        if shape[0] != self.in_channels:
            raise ModelError(f"in_channels: {self.in_channels} does not match input channels {shape[0]}")
        return (self.out_channels, *_spatial(shape, self.kernel, self.stride, self.padding, self.pad_end))

    def macs(self, in_shapes: tuple[Shape, ...]) -> int:
        per_output = (self.in_channels // self.groups) * self.kernel[0] * self.kernel[1]
        return math.prod(self.out_shape(in_shapes)) * per_output

    def params(self, in_shapes: tuple[Shape, ...]) -> int:
        weights = self.out_channels * (self.in_channels // self.groups) * self.kernel[0] * self.kernel[1]
        return weights + (self.out_channels if self.bias else 0)


@dataclass(frozen=True)
class Linear(Op):
    """Fully connected layer on the last dimension of an input of any rank ``(..., in_features)``."""

    in_features: int
    out_features: int
    bias: bool = True
    kind: ClassVar[str] = "linear"
    weighted: ClassVar[bool] = True

    def __post_init__(self) -> None:
        _set(self, "in_features", checks.integer("in_features", self.in_features))
        _set(self, "out_features", checks.integer("out_features", self.out_features))
        _set(self, "bias", checks.flag("bias", self.bias))

    def _infer(self, in_shapes: tuple[Shape, ...]) -> Shape:
        shape = in_shapes[0]
        if shape[-1] != self.in_features:
            raise ModelError(f"in_features: {self.in_features} does not match input features {shape[-1]}")
        return (*shape[:-1], self.out_features)

    def macs(self, in_shapes: tuple[Shape, ...]) -> int:
        return math.prod(self.out_shape(in_shapes)) * self.in_features

    def params(self, in_shapes: tuple[Shape, ...]) -> int:
        return self.in_features * self.out_features + (self.out_features if self.bias else 0)


@dataclass(frozen=True)
class MatMul(Op):
    """Product of two activations ``(..., m, k) x (..., k, n)``; ``transpose_b`` takes b as ``(..., n, k)``.

    Leading (batch/head) dimensions must be equal; there is no broadcasting. No weights.
    """

    transpose_b: bool = False
    kind: ClassVar[str] = "matmul"
    arity: ClassVar[tuple[int, int | None]] = (2, 2)

    def __post_init__(self) -> None:
        _set(self, "transpose_b", checks.flag("transpose_b", self.transpose_b))

    def _infer(self, in_shapes: tuple[Shape, ...]) -> Shape:
        a, b = in_shapes
        if len(a) < 2 or len(a) != len(b) or a[:-2] != b[:-2]:
            raise ModelError(f"inputs: shapes {a} and {b} (expected equal ranks >= 2 with equal leading dims)")
        k_b, n = (b[-1], b[-2]) if self.transpose_b else (b[-2], b[-1])
        if a[-1] != k_b:
            raise ModelError(f"transpose_b: {self.transpose_b} gives inner dims {a[-1]} and {k_b} for shapes "
                             f"{a} and {b} (expected equal inner dims)")
        return (*a[:-1], n)

    def macs(self, in_shapes: tuple[Shape, ...]) -> int:
        return math.prod(self.out_shape(in_shapes)) * in_shapes[0][-1]


@dataclass(frozen=True)
class Pool(Op):
    """Max or average pooling over a (C, H, W) input; ``global_`` pools each channel to (C, 1, 1).

    ``stride`` defaults to ``kernel``. A global pool takes no kernel, stride or padding. ``pad_end`` is the
    bottom/right padding when it differs from ``padding``; ``ceil_mode`` keeps the last partial window.
    """

    mode: str
    kernel: tuple[int, int] | None = None
    stride: tuple[int, int] | None = None
    padding: tuple[int, int] = (0, 0)
    global_: bool = False
    pad_end: tuple[int, int] | None = None
    ceil_mode: bool = False
    kind: ClassVar[str] = "pool"
    MODES: ClassVar[tuple[str, ...]] = ("max", "avg")

    def __post_init__(self) -> None:
        _set(self, "mode", checks.choice("mode", self.mode, self.MODES))
        _set(self, "global_", checks.flag("global_", self.global_))
        _set(self, "padding", checks.pair("padding", self.padding, minimum=0))
        _set(self, "pad_end", _pad_end(self.padding, self.pad_end))
        _set(self, "ceil_mode", checks.flag("ceil_mode", self.ceil_mode))
        if self.global_:
            for field, value, unset in (("kernel", self.kernel, None), ("stride", self.stride, None),
                                        ("padding", self.padding, (0, 0)), ("pad_end", self.pad_end, None),
                                        ("ceil_mode", self.ceil_mode, False)):
                if value != unset:
                    raise ModelError(f"{field}: {show(value)} given for a global pool (expected none)")
            return
        if self.kernel is None:
            raise ModelError("kernel: None (expected an integer >= 1 or a pair of them, unless global_)")
        _set(self, "kernel", checks.pair("kernel", self.kernel))
        _set(self, "stride", self.kernel if self.stride is None else checks.pair("stride", self.stride))
        for field, pad in (("padding", self.padding), ("pad_end", self.pad_end or self.padding)):
            if any(2 * p > k for p, k in zip(pad, self.kernel)):
                raise ModelError(f"{field}: {pad} (expected at most half the kernel {self.kernel})")

    def _infer(self, in_shapes: tuple[Shape, ...]) -> Shape:
        shape = _image(in_shapes[0])
        if self.global_:
            return (shape[0], 1, 1)
        return (shape[0], *_spatial(shape, self.kernel, self.stride, self.padding, self.pad_end, self.ceil_mode))


@dataclass(frozen=True)
class Add(Op):
    """Element-wise sum of two or more inputs of identical shape (residual connections)."""

    kind: ClassVar[str] = "add"
    arity: ClassVar[tuple[int, int | None]] = (2, None)

    def _infer(self, in_shapes: tuple[Shape, ...]) -> Shape:
        for shape in in_shapes[1:]:
            if shape != in_shapes[0]:
                raise ModelError(f"inputs: shapes {in_shapes[0]} and {shape} differ (expected identical shapes)")
        return in_shapes[0]


@dataclass(frozen=True)
class Activation(Op):
    """Element-wise function of one input (softmax: over the last dimension); shape-preserving.

    Besides the non-linearities: ``clip`` (other bounds than ReLU6), ``scale`` (times, plus, minus or over a
    fixed scalar), ``mask`` (an attention mask added or filled in), and the unary maths exporters spell out
    (``exp``, ``erf``, ``sqrt``, ``neg``, ``pow`` by a fixed exponent).
    """

    fn: str
    kind: ClassVar[str] = "act"
    FUNCTIONS: ClassVar[tuple[str, ...]] = ("relu", "relu6", "gelu", "softmax", "sigmoid", "hswish", "silu",
                                            "hsigmoid", "leakyrelu", "elu", "tanh", "clip", "exp", "erf",
                                            "sqrt", "neg", "pow", "scale", "mask")

    def __post_init__(self) -> None:
        _set(self, "fn", checks.choice("fn", self.fn, self.FUNCTIONS))


@dataclass(frozen=True)
class Norm(Op):
    """BatchNorm (per channel: the first dim) or LayerNorm (over the last dim); shape-preserving.

    Params are the affine scale and shift of the normalised dimension.
    """

    norm: str
    kind: ClassVar[str] = "norm"
    NORMS: ClassVar[tuple[str, ...]] = ("batch", "layer")

    def __post_init__(self) -> None:
        _set(self, "norm", checks.choice("norm", self.norm, self.NORMS))

    def params(self, in_shapes: tuple[Shape, ...]) -> int:
        shape = in_shapes[0]
        return 2 * (shape[0] if self.norm == "batch" else shape[-1])


@dataclass(frozen=True)
class Reshape(Op):
    """Same elements, new shape (flatten, head split/merge). One entry may be -1, inferred."""

    shape: tuple[int, ...]
    kind: ClassVar[str] = "reshape"

    def __post_init__(self) -> None:
        _set(self, "shape", checks.shape("shape", self.shape, wildcard=True))

    def _infer(self, in_shapes: tuple[Shape, ...]) -> Shape:
        total = math.prod(in_shapes[0])
        if -1 in self.shape:
            known = -math.prod(self.shape)  # product of the given dims
            if total % known == 0:
                return tuple(total // known if d == -1 else d for d in self.shape)
        elif math.prod(self.shape) == total:
            return self.shape
        raise ModelError(f"shape: {self.shape} cannot hold the input {in_shapes[0]} of {total} elements "
                         "(expected the same element count)")


@dataclass(frozen=True)
class Slice(Op):
    """Entries ``start:stop:step`` of one axis (negative axis counts from the end): qkv split, class token,
    Swin's patch merging (step 2)."""

    axis: int
    start: int
    stop: int
    step: int = 1
    kind: ClassVar[str] = "slice"

    def __post_init__(self) -> None:
        _set(self, "axis", checks.integer("axis", self.axis, minimum=-8, maximum=7))
        _set(self, "start", checks.integer("start", self.start, minimum=0))
        _set(self, "stop", checks.integer("stop", self.stop, minimum=self.start + 1))
        _set(self, "step", checks.integer("step", self.step))

    def _infer(self, in_shapes: tuple[Shape, ...]) -> Shape:
        shape = in_shapes[0]
        if not -len(shape) <= self.axis < len(shape):
            raise ModelError(f"axis: {self.axis} (expected an axis of the input shape {shape})")
        axis = self.axis % len(shape)
        if self.stop > shape[axis]:
            raise ModelError(f"stop: {self.stop} exceeds axis {self.axis} of size {shape[axis]} "
                             f"(expected at most {shape[axis]})")
        return (*shape[:axis], len(range(self.start, self.stop, self.step)), *shape[axis + 1:])


@dataclass(frozen=True)
class PosEmbed(Op):
    """Token embedding of a ViT on a (T, D) input: prepend a learned class token (if ``cls_token``) and add
    a learned positional embedding. Output (T + 1, D); params (T + 1) * D + D."""

    cls_token: bool = True
    kind: ClassVar[str] = "posembed"

    def __post_init__(self) -> None:
        _set(self, "cls_token", checks.flag("cls_token", self.cls_token))

    def _infer(self, in_shapes: tuple[Shape, ...]) -> Shape:
        shape = in_shapes[0]
        if len(shape) != 2:
            raise ModelError(f"inputs: shape {shape} (expected a (T, D) token input)")
        return (shape[0] + self.cls_token, shape[1])

    def params(self, in_shapes: tuple[Shape, ...]) -> int:
        tokens, dim = self.out_shape(in_shapes)
        return tokens * dim + (dim if self.cls_token else 0)


@dataclass(frozen=True)
class Concat(Op):
    """Join two or more inputs along ``axis`` (per sample; negative counts from the end): Inception-style
    branches, DenseNet. Shape-only: each producer writes its slice of the joined tensor."""

    axis: int
    kind: ClassVar[str] = "concat"
    arity: ClassVar[tuple[int, int | None]] = (2, None)

    def __post_init__(self) -> None:
        _set(self, "axis", checks.integer("axis", self.axis, minimum=None))

    def _infer(self, in_shapes: tuple[Shape, ...]) -> Shape:
        first = in_shapes[0]
        if not -len(first) <= self.axis < len(first):
            raise ModelError(f"axis: {self.axis} (expected an axis of the input shape {first})")
        axis = self.axis % len(first)
        for shape in in_shapes[1:]:
            if len(shape) != len(first) or any(a != b for i, (a, b) in enumerate(zip(first, shape)) if i != axis):
                raise ModelError(f"inputs: shapes {first} and {shape} (expected equal shapes except on axis "
                                 f"{self.axis})")
        return (*first[:axis], sum(s[axis] for s in in_shapes), *first[axis + 1:])


@dataclass(frozen=True)
class Relayout(Op):
    """The next layer's input as a layer table gives it, whatever the previous output was.

    A SCALE-Sim topology lists layers, not how one feeds the next (pooling, padding and concatenation are not
    in the table): a Relayout joins two rows whose shapes do not chain. Shape-only, it costs nothing.
    """

    shape: tuple[int, ...]
    kind: ClassVar[str] = "relayout"

    def __post_init__(self) -> None:
        _set(self, "shape", checks.shape("shape", self.shape))

    def _infer(self, in_shapes: tuple[Shape, ...]) -> Shape:
        return self.shape


def broadcast(field: str, a: Shape, b: Shape) -> Shape:
    """The numpy broadcast of two shapes (aligned on the right), or a ModelError naming ``field``."""
    out = []
    for i in range(1, max(len(a), len(b)) + 1):
        x, y = (a[-i] if i <= len(a) else 1), (b[-i] if i <= len(b) else 1)
        if x != y and 1 not in (x, y):
            raise ModelError(f"{field}: shapes {a} and {b} do not broadcast (expected equal dims or 1 at each "
                             "position from the right)")
        out.append(max(x, y))
    return tuple(reversed(out))


@dataclass(frozen=True)
class Eltwise(Op):
    """Element-wise ``mul``, ``div``, ``sub`` or ``add`` of two activations, numpy broadcasting: the gate of a
    squeeze-excitation block (``x * sigmoid(s)``, s of shape (C, 1, 1)), a decomposed LayerNorm."""

    fn: str
    kind: ClassVar[str] = "eltwise"
    arity: ClassVar[tuple[int, int | None]] = (2, 2)
    FUNCTIONS: ClassVar[tuple[str, ...]] = ("mul", "div", "sub", "add")

    def __post_init__(self) -> None:
        _set(self, "fn", checks.choice("fn", self.fn, self.FUNCTIONS))

    def _infer(self, in_shapes: tuple[Shape, ...]) -> Shape:
        return broadcast("inputs", *in_shapes)


@dataclass(frozen=True)
class Affine(Op):
    """An activation times (``scale``) or plus (``shift``) a learned tensor of ``shape``, broadcast onto it:
    ConvNeXt's layer scale, a per-channel scale, a bias that no GEMM absorbs. Params: the tensor's elements."""

    fn: str
    shape: tuple[int, ...]
    kind: ClassVar[str] = "affine"
    FUNCTIONS: ClassVar[tuple[str, ...]] = ("scale", "shift")

    def __post_init__(self) -> None:
        _set(self, "fn", checks.choice("fn", self.fn, self.FUNCTIONS))
        _set(self, "shape", checks.shape("shape", self.shape))

    def _infer(self, in_shapes: tuple[Shape, ...]) -> Shape:
        out = broadcast("shape", in_shapes[0], self.shape)
        if out != in_shapes[0]:
            raise ModelError(f"shape: {self.shape} would grow the input {in_shapes[0]} to {out} (expected a "
                             "tensor that broadcasts onto the input)")
        return out

    def params(self, in_shapes: tuple[Shape, ...]) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class Dropout(Op):
    """Training-mode dropout with drop probability ``p``: a vector pass that draws a mask and scales."""

    p: float = 0.5
    kind: ClassVar[str] = "dropout"

    def __post_init__(self) -> None:
        if isinstance(self.p, bool) or not isinstance(self.p, (int, float)) or not 0 < self.p < 1:
            raise ModelError(f"p: {show(self.p)} (expected a drop probability between 0 and 1, exclusive)")
        _set(self, "p", float(self.p))


@dataclass(frozen=True)
class Reduce(Op):
    """``mean``, ``sum`` or ``max`` over ``axes`` (negative count from the end); ``keepdims`` keeps them as 1s.

    A reduction over the spatial axes of an image is a global pool; this op is the rest: a mean over the
    channels or features (a LayerNorm spelled out, RMSNorm)."""

    fn: str
    axes: tuple[int, ...]
    keepdims: bool = True
    kind: ClassVar[str] = "reduce"
    FUNCTIONS: ClassVar[tuple[str, ...]] = ("mean", "sum", "max")

    def __post_init__(self) -> None:
        _set(self, "fn", checks.choice("fn", self.fn, self.FUNCTIONS))
        if (not isinstance(self.axes, (tuple, list)) or not self.axes
                or len(set(self.axes)) != len(self.axes)):
            raise ModelError(f"axes: {show(self.axes)} (expected a non-empty list of distinct axes)")
        _set(self, "axes", tuple(checks.integer("axes", a, minimum=-8, maximum=7) for a in self.axes))
        _set(self, "keepdims", checks.flag("keepdims", self.keepdims))

    def _infer(self, in_shapes: tuple[Shape, ...]) -> Shape:
        shape = in_shapes[0]
        if any(not -len(shape) <= a < len(shape) for a in self.axes):
            raise ModelError(f"axes: {self.axes} (expected axes of the input shape {shape})")
        axes = {a % len(shape) for a in self.axes}
        if len(axes) != len(self.axes):
            raise ModelError(f"axes: {self.axes} name an axis twice (expected distinct axes)")
        if self.keepdims:
            return tuple(1 if i in axes else d for i, d in enumerate(shape))
        out = tuple(d for i, d in enumerate(shape) if i not in axes)
        return out or (1,)


OPS: dict[str, type[Op]] = {op.kind: op for op in
                             (Conv2d, Linear, MatMul, Pool, Add, Activation, Norm, Reshape, Slice, PosEmbed, Concat,
                              Relayout, Eltwise, Affine, Dropout, Reduce)}
"""Every op class by its ``kind``."""
