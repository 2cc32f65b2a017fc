"""GraphBuilder: add layers one by one with shapes inferred and checked as you go."""

from hwsim.models import checks
from hwsim.models.errors import ModelError, show
from hwsim.models.graph import INPUT, Graph, Layer
from hwsim.models.ops import (Activation, Add, Conv2d, Dropout, Linear, MatMul, Norm, Op, Pool, PosEmbed, Reshape,
                              Shape, Slice)


class GraphBuilder:
    """Builds a Graph. ``add`` takes any op; the conveniences infer channel/feature counts from shapes.

    Inputs are layer names or ``"input"``; ``add`` defaults to the previous layer. Unnamed layers get
    ``<stem><n>`` names (``conv1``, ``relu2``, ``bn1``, ``maxpool1``, ...).
    """

    def __init__(self, name: str, input_shape: Shape, input_grad: bool = False) -> None:
        self.name = checks.name("graph.name", name)
        self.input_grad = input_grad
        self._shapes: dict[str, Shape] = {INPUT: checks.shape("graph.input_shape", input_shape)}
        self._layers: list[Layer] = []
        self._last = INPUT
        self._next_number: dict[str, int] = {}  # per auto-name stem: the next number to try

    @property
    def last(self) -> str:
        """The most recently added layer (``"input"`` before any): the default input of ``add``."""
        return self._last

    def shape(self, x: str) -> Shape:
        """Output shape of layer ``x`` (or of the graph input)."""
        if not isinstance(x, str) or x not in self._shapes:
            raise ModelError(f"inputs: unknown layer {show(x)} (expected {INPUT!r} or an earlier layer)")
        return self._shapes[x]

    def add(self, op: Op, *inputs: str, name: str | None = None) -> str:
        """Append ``op`` applied to ``inputs`` (default: the previous layer); return the layer's name."""
        name = self._auto_name(op) if name is None else checks.name(f"layer {show(name)}.name", name)
        if name in self._shapes:
            raise ModelError(f"layer {show(name)}.name: {show(name)} is already used (expected unique names)")
        inputs = inputs or (self._last,)
        try:
            in_shapes = tuple(self.shape(x) for x in inputs)
        except ModelError as error:
            raise error.prefixed(f"layer {show(name)}.") from None
        layer = Layer(name, op, inputs, in_shapes)
        self._layers.append(layer)
        self._shapes[name] = layer.out_shape
        self._last = name
        return name

    def build(self) -> Graph:
        """The finished Graph (validated again as a whole)."""
        return Graph(self.name, self._shapes[INPUT], tuple(self._layers), self.input_grad)

    def _auto_name(self, op: Op) -> str:
        """The first free ``<stem><n>``; each stem's counter only moves forward, so naming is linear overall."""
        stem = _stem(op)
        n = self._next_number.get(stem, 1)
        while f"{stem}{n}" in self._shapes:
            n += 1
        self._next_number[stem] = n + 1
        return f"{stem}{n}"

    # Conveniences: each infers in_channels/in_features from the input's shape.

    def conv(self, x: str, out_channels: int, kernel: int | tuple[int, int], stride: int = 1,
             padding: int | None = None, groups: int = 1, bias: bool = False, name: str | None = None) -> str:
        """Conv2d; ``padding=None`` pads ``(kernel - 1) // 2`` ("same" at stride 1 for odd kernels)."""
        kh, kw = checks.pair("kernel", kernel)
        padding = ((kh - 1) // 2, (kw - 1) // 2) if padding is None else padding
        op = Conv2d(self.shape(x)[0], out_channels, (kh, kw), stride, padding, groups, bias)
        return self.add(op, x, name=name)

    def linear(self, x: str, out_features: int, bias: bool = True, name: str | None = None) -> str:
        return self.add(Linear(self.shape(x)[-1], out_features, bias), x, name=name)

    def matmul(self, a: str, b: str, transpose_b: bool = False, name: str | None = None) -> str:
        return self.add(MatMul(transpose_b), a, b, name=name)

    def act(self, x: str, fn: str, name: str | None = None) -> str:
        return self.add(Activation(fn), x, name=name)

    def relu(self, x: str, name: str | None = None) -> str:
        return self.act(x, "relu", name=name)

    def bn(self, x: str, name: str | None = None) -> str:
        return self.add(Norm("batch"), x, name=name)

    def ln(self, x: str, name: str | None = None) -> str:
        return self.add(Norm("layer"), x, name=name)

    def pool(self, x: str, mode: str, kernel: int, stride: int | None = None, padding: int = 0,
             name: str | None = None) -> str:
        return self.add(Pool(mode, kernel, stride, padding), x, name=name)

    def global_pool(self, x: str, mode: str = "avg", name: str | None = None) -> str:
        return self.add(Pool(mode, global_=True), x, name=name)

    def sum(self, *xs: str, name: str | None = None) -> str:
        """Element-wise Add of ``xs``."""
        return self.add(Add(), *xs, name=name)

    def reshape(self, x: str, shape: tuple[int, ...], name: str | None = None) -> str:
        return self.add(Reshape(shape), x, name=name)

    def flatten(self, x: str, name: str | None = None) -> str:
        return self.reshape(x, (-1,), name=name)

    def slice(self, x: str, axis: int, start: int, stop: int, name: str | None = None) -> str:
        return self.add(Slice(axis, start, stop), x, name=name)

    def posembed(self, x: str, cls_token: bool = True, name: str | None = None) -> str:
        return self.add(PosEmbed(cls_token), x, name=name)

    def dropout(self, x: str, p: float, name: str | None = None) -> str:
        return self.add(Dropout(p), x, name=name)


def _stem(op: Op) -> str:
    """Prefix of an auto-generated layer name."""
    match op:
        case Conv2d():
            return "conv"
        case Activation(fn=fn):
            return fn
        case Pool(mode=mode):
            return f"{mode}pool"
        case Norm(norm=norm):
            return "bn" if norm == "batch" else "ln"
    return op.kind
