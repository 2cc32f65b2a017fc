"""The int8 training graph of a CNN: the quantized forward graph and the backward graph derived from it.

Forward (int8 inference graph): BatchNorm folded into the preceding conv's bias, ReLU/ReLU6 folded into the
conv's requantization clamp, int8 activations, int8 weights, int32 bias, fp32 per-channel scales.

Backward, per op, and what it keeps from the forward pass:

=============  ==============================================================================
op             backward and what it needs
=============  ==============================================================================
clamp          dX = dY * mask: a 1-bit mask of the output of every requantized conv (in place on dY)
conv / linear  bias grad: dY only; weight grad: the saved input, only the updated channels;
               data grad: the weights (frozen: read from Flash; trained: the SRAM copy)
depthwise      as conv, per channel (weight grad needs only the updated channels of the input)
residual add   dY goes to both inputs (one takes the buffer, the other a copy); nothing saved
avg pool       dX = dY / window, spread: shapes only
max pool       the argmax index of each window (1 byte per output)
other act.     (hswish, sigmoid, ...) its int8 input
flatten        an alias: nothing
=============  ==============================================================================

Backprop stops below the deepest conv whose bias is updated; frozen weights keep no gradient; weight
gradients cover only the updated channels. The optimizer step (SGD, no momentum, as the reference) updates
each trainable tensor from its gradient: all at the end of the backward pass, or, with operator
reordering, right after each gradient is computed, so every gradient dies at once. Reordered, the update is
fused into the weight-gradient kernel (as the reference engine's in-place kernels do): it computes and
applies one output channel's gradient at a time, so only that channel's gradient is ever buffered.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

from hwsim.dataflow.tiny.scheme import Scheme, SchemeError, parse_scheme, updated_channels


class GraphError(ValueError):
    """The model cannot be trained by the tiny engines (not a CNN, or an op without an int8 kernel)."""


@dataclass(frozen=True)
class Node:
    """One op of the int8 inference graph. ``clamp``: requantization clamps the output (ReLU/ReLU6 folded)."""

    name: str
    kind: str  # conv | linear | pool | gpool | add | act | reshape
    inputs: tuple[str, ...]
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    op: object = field(repr=False, default=None)
    clamp: bool = False
    conv: int | None = None  # index among the convs, forward order

    @property
    def out_elems(self) -> int:
        return math.prod(self.out_shape)

    @property
    def in_elems(self) -> int:
        return math.prod(self.in_shape)

    @property
    def depthwise(self) -> bool:
        return self.kind == "conv" and self.op.groups == self.op.in_channels and self.op.groups > 1

    @property
    def family(self) -> str:
        """Kernel family of a weighted node: pw (1x1), dw (depthwise), conv (k x k dense), linear."""
        if self.kind == "linear":
            return "linear"
        if self.depthwise:
            return "dw"
        return "pw" if self.op.kernel == (1, 1) else "conv"

    @property
    def weight_elems(self) -> int:
        op = self.op
        if self.kind == "linear":
            return op.in_features * op.out_features
        return op.out_channels * op.in_channels // op.groups * op.kernel[0] * op.kernel[1]

    @property
    def out_channels(self) -> int:
        return self.op.out_features if self.kind == "linear" else self.op.out_channels

    @property
    def in_channels(self) -> int:
        return self.op.in_features if self.kind == "linear" else self.op.in_channels

    @property
    def macs(self) -> int:
        if self.kind == "linear":
            return self.weight_elems
        return self.weight_elems * self.out_shape[1] * self.out_shape[2]


_ACT_CLAMPS = frozenset({"relu", "relu6"})


def int8_graph(graph) -> tuple[Node, ...]:
    """The int8 inference graph of a models.Graph: BN folded into conv biases, clamps into requantization."""
    alias: dict[str, str] = {"input": "input"}
    consumers: dict[str, int] = {}
    for layer in graph.layers:
        for i in layer.inputs:
            consumers[i] = consumers.get(i, 0) + 1
    nodes: list[Node] = []
    by_name: dict[str, Node] = {}
    position: dict[str, int] = {}
    n_conv = 0
    for layer in graph.layers:
        kind, op = layer.op.kind, layer.op
        inputs = tuple(alias[i] for i in layer.inputs)
        src = by_name.get(inputs[0])
        if kind == "norm":
            if op.norm != "batch" or src is None or src.kind != "conv" or consumers.get(layer.inputs[0], 0) != 1:
                raise GraphError(f"model: {graph.name} is not a CNN ({op.norm} norm {layer.name!r} cannot be folded "
                                 "into a conv; expected BatchNorm right after a conv)")
            alias[layer.name] = inputs[0]
            continue
        if kind == "act" and op.fn in _ACT_CLAMPS and src is not None and src.kind in ("conv", "linear") \
                and not src.clamp and consumers.get(layer.inputs[0], 0) == 1:
            folded = Node(src.name, src.kind, src.inputs, src.in_shape, src.out_shape, src.op, True, src.conv)
            nodes[position[src.name]] = by_name[src.name] = folded
            alias[layer.name] = src.name
            continue
        if kind == "conv2d":
            node = Node(layer.name, "conv", inputs, layer.in_shapes[0], layer.out_shape, op, False, n_conv)
            n_conv += 1
        elif kind == "linear":
            if len(layer.in_shapes[0]) != 1:
                raise GraphError(f"model: {graph.name} is not a CNN (linear layer {layer.name!r} on a "
                                 f"{layer.in_shapes[0]} tensor; expected linear layers on pooled features only)")
            node = Node(layer.name, "linear", inputs, layer.in_shapes[0], layer.out_shape, op)
        elif kind == "pool":
            node = Node(layer.name, "gpool" if op.global_ else "pool", inputs, layer.in_shapes[0], layer.out_shape, op)
        elif kind in ("add", "act", "reshape") and not (kind == "act" and op.fn == "softmax"):
            if kind == "reshape" and len(layer.out_shape) != 1:
                raise GraphError(f"model: {graph.name} is not a CNN (reshape {layer.name!r} to {layer.out_shape}; "
                                 "expected only a flatten before the classifier)")
            node = Node(layer.name, kind, inputs, layer.in_shapes[0], layer.out_shape, op)
        else:
            raise GraphError(f"model: {graph.name} is not a CNN ({kind} layer {layer.name!r}; expected convs, "
                             "BatchNorm, ReLU-like activations, pools, residual adds and a linear classifier)")
        position[node.name] = len(nodes)
        nodes.append(node)
        by_name[node.name] = node
        alias[layer.name] = node.name
    if n_conv == 0 or nodes[-1].kind != "linear":
        raise GraphError(f"model: {graph.name} is not a CNN (expected convs and a linear classifier at the end)")
    return tuple(nodes)


@dataclass(frozen=True)
class Precision:
    """Bytes per element of what the training graph stores (the target decides)."""

    act: int = 1  # int8 activations
    grad: int = 4  # activation gradients (fp32 backward kernels of the reference engine)
    wgrad: int = 4  # weight and bias gradients before the update
    weight: int = 1  # int8 weights (trainable copies too)
    bias: int = 4  # int32 bias
    scale: int = 4  # fp32 per-channel requantization scale
    classifier: int = 4  # the classifier is fp32 in the reference

    def __post_init__(self) -> None:
        for name in ("act", "grad", "wgrad", "weight", "bias", "scale", "classifier"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value not in (1, 2, 4):
                raise ValueError(f"precision.{name}: {value!r} (expected 1, 2 or 4 bytes)")


@dataclass(frozen=True)
class Tensor:
    """A buffer of the training step. ``persistent``: lives through the whole step (trainable copies).
    Kind ``cast``: an fp32 copy of int8 weights or a saved input made by an un-fused cast op."""

    name: str
    nbytes: int
    kind: str  # input | act | saved | mask | grad | wgrad | param
    layer: str
    persistent: bool = False

    KINDS = ("input", "act", "saved", "mask", "grad", "wgrad", "param", "cast", "optim")  # optim: momentum buffers

    def __post_init__(self) -> None:
        if self.kind not in self.KINDS or isinstance(self.nbytes, bool) or not isinstance(self.nbytes, int) \
                or self.nbytes < 0:
            raise ValueError(f"tensor {self.name!r}: kind {self.kind!r}, {self.nbytes!r} bytes "
                             f"(expected a kind in {self.KINDS} and bytes >= 0)")


@dataclass(frozen=True)
class TrainOp:
    """One kernel call. ``gemm`` = (m, k, n, groups) for GEMM-like kernels (None for element-wise ones);
    ``elems`` = elements streamed by an element-wise kernel or parameters updated by an optimizer step;
    ``flash_bytes`` = frozen weights it reads from Flash."""

    name: str
    layer: str
    phase: str  # forward | backward | update
    kernel: str  # e.g. pw, dw, conv, linear (forward); dx.pw, dw.dw, bias, clamp, update (backward)
    reads: tuple[str, ...]
    writes: tuple[str, ...]
    macs: int = 0
    elems: int = 0
    flash_bytes: int = 0
    gemm: tuple[int, int, int, int] | None = None
    a_reuse: float = 1.0  # im2col expansion of the GEMM's A operand (each input element appears this often)

    def __post_init__(self) -> None:
        if self.phase not in ("forward", "backward", "update") or min(self.macs, self.elems, self.flash_bytes) < 0 \
                or self.a_reuse < 1 or (self.gemm is not None and min(self.gemm) < 1):
            raise ValueError(f"op {self.name!r}: phase {self.phase!r}, macs {self.macs}, elems {self.elems}, "
                             f"flash {self.flash_bytes}, gemm {self.gemm}, a_reuse {self.a_reuse} (expected a phase "
                             "forward|backward|update, counts >= 0, GEMM dims >= 1, a_reuse >= 1)")


@dataclass(frozen=True)
class Saved:
    """One item of the analytic extra memory: what a layer keeps for its backward, or a trainable copy."""

    layer: str
    what: str  # input | mask | indices | weight | bias
    bits: int
    classifier: bool = False


@dataclass(frozen=True)
class TrainingGraph:
    """The pruned (and maybe reordered) training step: tensors, ops in execution order, the analytic items."""

    model: str
    scheme: Scheme
    reorder: bool
    nodes: tuple[Node, ...] = field(repr=False)
    tensors: tuple[Tensor, ...] = field(repr=False)
    ops: tuple[TrainOp, ...] = field(repr=False)
    saved: tuple[Saved, ...] = field(repr=False)
    param_bytes: int = 0  # every weight, bias and scale of the int8 model (what Flash holds)
    trained_params: int = 0  # parameters the step updates (sliced weights, biases, classifier)
    stage: PatchStage | None = None  # the frozen head run patch by patch, if any

    @cached_property
    def tensor(self) -> dict[str, Tensor]:
        return {t.name: t for t in self.tensors}

    @property
    def analytic_extra_bytes(self) -> float:
        """Saved activations + 1-bit masks + trainable copies of the backbone (the paper's Fig. 9 axis)."""
        return sum(s.bits for s in self.saved if not (s.classifier and s.what in ("weight", "bias"))) / 8

    @property
    def n_convs(self) -> int:
        return sum(n.kind == "conv" for n in self.nodes)


def training_graph(graph, scheme, reorder: bool = True, precision: Precision = Precision(),
                   patches: int = 1, inplace_dw: bool = True, fused_casts: bool = True) -> TrainingGraph:
    """Derive the training step of ``graph`` (a models.Graph CNN) under ``scheme`` (a Scheme or its spelling).

    ``patches`` > 1 runs the frozen head of the network patch by patch on a ``patches`` x ``patches`` grid
    (MCUNetV2-style; see :func:`patch_stage`), which only the forward pass's memory and MACs see.
    ``inplace_dw``: depthwise convs overwrite their input (forward) and dY (backward, stride 1) channel by
    channel, as TinyEngine's in-place depthwise kernels.
    ``fused_casts``: the fp32 backward kernels convert int8 weights and saved inputs as they load them (the
    default, as the calibrated kernels); False: the reference compiler's un-fused graph, where a cast op first
    writes an fp32 copy of the weights before each transposed conv and of the saved input before each weight
    gradient (``relay.cast(..., "float32")`` of every argument in tiny-training's compilation/autodiff/diff_ops.py),
    each an SRAM buffer of 4 bytes per element alive from the cast to the kernel that reads it.
    """
    if isinstance(patches, bool) or not isinstance(patches, int) or patches < 1:
        raise ValueError(f"patches: {patches!r} (expected an integer >= 1; 1 = no patch-based stage)")
    nodes = int8_graph(graph)
    n_convs = sum(n.kind == "conv" for n in nodes)
    scheme = parse_scheme(scheme, n_convs, graph.name)
    for name, value in (("inplace_dw", inplace_dw), ("fused_casts", fused_casts)):
        if not isinstance(value, bool):
            raise ValueError(f"{name}: {value!r} (expected True or False)")
    return _Builder(graph.name, nodes, scheme, reorder, precision, patches, inplace_dw, fused_casts).build()


class _Builder:
    def __init__(self, model: str, nodes: tuple[Node, ...], scheme: Scheme, reorder: bool, p: Precision,
                 patches: int = 1, inplace_dw: bool = True, fused_casts: bool = True) -> None:
        self.model, self.nodes, self.scheme, self.reorder, self.p = model, nodes, scheme, reorder, p
        self.patches = patches
        self.inplace_dw = inplace_dw
        self.fused_casts = fused_casts
        self.stage: PatchStage | None = None
        self.saved_act: dict[str, str] = {}  # weighted node -> the activation tensor its weight gradient reads
        self.consumers: dict[str, int] = {}
        for n in nodes:
            for i in set(n.inputs):
                self.consumers[i] = self.consumers.get(i, 0) + 1
        self.n_convs = sum(n.kind == "conv" for n in nodes)
        self.tensors: dict[str, Tensor] = {}
        self.forward: list[TrainOp] = []
        self.backward: list[TrainOp] = []
        self.updates: list[TrainOp] = []
        self.saved: list[Saved] = []
        self.act_of: dict[str, str] = {"input": "input"}  # node -> its activation tensor (reshape aliases)
        self.classifier = nodes[-1].name

    # what each node trains
    def weight_channels(self, n: Node) -> int | None:
        """Updated input channels (depthwise: channels) of a weight-trained node, else None."""
        if n.kind == "linear":
            return n.in_channels if n.name == self.classifier else None
        if n.kind != "conv" or (r := self.scheme.ratio(n.conv)) is None:
            return None
        channels = n.op.in_channels if n.depthwise or n.op.groups == 1 else n.op.in_channels
        return updated_channels(channels, r)

    def requantized(self, n: Node) -> bool:
        """An int8 output requantized from the int32 accumulator: the clamp to [-128, 127] (or the folded
        ReLU/ReLU6 range) saturates, so its backward needs a 1-bit mask whether or not a ReLU was folded in.
        Every conv and every int8 linear layer; not the fp32 classifier."""
        return n.kind == "conv" or (n.kind == "linear" and n.name != self.classifier)

    def bias_trained(self, n: Node) -> bool:
        if n.kind == "linear":
            return n.name == self.classifier and n.op.bias
        return n.kind == "conv" and self.scheme.bias_updated(n.conv, self.n_convs)

    def weight_slice(self, n: Node, ch: int) -> int:
        """Elements of the updated weight slice."""
        if n.kind == "linear":
            return n.weight_elems
        kk = n.op.kernel[0] * n.op.kernel[1]
        if n.depthwise:
            return ch * kk
        if n.op.groups > 1:  # grouped (not depthwise) conv: all of it, as the reference
            return n.weight_elems
        return n.op.out_channels * ch * kk

    def add(self, name: str, nbytes: int, kind: str, layer: str, persistent: bool = False) -> str:
        self.tensors[name] = Tensor(name, int(nbytes), kind, layer, persistent)
        return name

    def build(self, backward: bool = True) -> TrainingGraph:
        """The training graph; ``backward=False`` stops after the forward pass (enough for the analytic memory)."""
        p = self.p
        needs: dict[str, bool] = {"input": False}
        for n in self.nodes:
            trains = self.weight_channels(n) is not None or self.bias_trained(n)
            needs[n.name] = trains or any(needs[i] for i in n.inputs)
        self.needs = needs
        first_in = self.nodes[0].in_shape
        self.add("input", math.prod(first_in) * p.act, "input", "input")
        params = {}
        for n in self.nodes:  # trainable copies live in SRAM for the whole step
            ch = self.weight_channels(n)
            wb = p.classifier if n.kind == "linear" else p.weight
            bb = p.classifier if n.kind == "linear" else p.bias
            if ch is not None:
                elems = self.weight_slice(n, ch)
                params[(n.name, "w")] = self.add(f"{n.name}.w", elems * wb, "param", n.name, True)
                self.saved.append(Saved(n.name, "weight", elems * wb * 8, n.kind == "linear"))
            if self.bias_trained(n):
                params[(n.name, "b")] = self.add(f"{n.name}.b", n.out_channels * bb, "param", n.name, True)
                self.saved.append(Saved(n.name, "bias", n.out_channels * bb * 8, n.kind == "linear"))
        self.params = params
        if self.patches > 1:
            self.stage = patch_stage(self.nodes, needs, self.patches, p.act)
        self.nodes_by = {n.name: n for n in self.nodes}
        if self.stage is not None:
            self.stage_input = self.nodes_by[self.stage.nodes[0]].inputs[0]
        for n in self.nodes:
            self.forward_op(n)
        if backward:
            self.backward_pass()
        ops = self.forward + self.backward + ([] if self.reorder else self.updates)
        param_bytes = sum(self.flash_bytes(n) for n in self.nodes if n.kind in ("conv", "linear"))
        trained = sum(self.weight_slice(n, c) for n in self.nodes if (c := self.weight_channels(n)) is not None)
        trained += sum(n.out_channels for n in self.nodes if self.bias_trained(n))
        return TrainingGraph(self.model, self.scheme, self.reorder, self.nodes, tuple(self.tensors.values()),
                             tuple(ops), tuple(self.saved), param_bytes, trained, self.stage)

    def flash_bytes(self, n: Node) -> int:
        """Int8 weights, int32 bias and fp32 scale per output channel (the classifier: fp32 weights and bias)."""
        if n.kind == "linear":
            return (n.weight_elems + n.out_channels) * self.p.classifier
        return n.weight_elems * self.p.weight + n.out_channels * (self.p.bias + self.p.scale)

    # forward
    def forward_op(self, n: Node) -> None:
        p = self.p
        ins = tuple(self.act_of[i] for i in n.inputs)
        if n.kind == "reshape":
            self.act_of[n.name] = ins[0]
            return
        stage = self.stage
        in_stage = stage is not None and n.name in stage.nodes
        if n.kind in ("conv", "linear"):
            self.saved_act[n.name] = ins[0]
        inplace = (self.inplace_dw and n.depthwise and not in_stage and self.consumers.get(n.inputs[0]) == 1
                   and ins[0] != "input" and self.weight_channels(n) != n.in_channels)
        extra = []
        if in_stage:
            # every patch reads the stage input and writes its tile of the stage output: both live across
            # every op of the stage (created at its first op, read by each)
            last = self.nodes_by[stage.nodes[-1]]
            if n.name == stage.nodes[0]:
                self.add(last.name, last.out_elems * p.act, "act", last.name)
            ins = tuple(dict.fromkeys((*ins, self.act_of[self.stage_input])))
        if in_stage and n.name != stage.nodes[-1]:  # an intermediate of the stage: lives in the patch buffer
            out = self.add("patch.buffer", stage.buffer_bytes, "act", "patch-stage")
            extra.append(stage.nodes[-1])  # this patch's tile of the stage output
        elif inplace:  # in-place depthwise: channel c's output overwrites channel c's input via a 1-channel buffer
            out = ins[0]
            extra.append(self.add(f"{n.name}.tmp", n.out_shape[1] * n.out_shape[2] * p.act, "act", n.name))
        else:
            out = self.add(n.name, n.out_elems * p.act, "act", n.name)
        self.act_of[n.name] = out
        writes = [out, *extra]
        reads = list(dict.fromkeys(ins))
        flash = 0
        macs, gemm, elems = 0, None, n.out_elems
        reuse = 1.0
        if n.kind in ("conv", "linear"):
            macs, gemm, elems, reuse = n.macs, _gemm_ff(n), 0, _im2col(n)
            if (n.name, "w") in self.params:
                reads.append(self.params[(n.name, "w")])
                flash = 0 if self.weight_slice(n, self.weight_channels(n)) == n.weight_elems else \
                    self.flash_bytes(n)  # a sliced layer still reads its frozen part from Flash
            else:
                flash = self.flash_bytes(n)
            ch = self.weight_channels(n)
            if ch is not None:
                self.saved.append(Saved(n.name, "input", ch * math.prod(n.in_shape[1:]) * p.act * 8,
                                        n.name == self.classifier))
                if ch < n.in_channels:  # keep only the updated channels: a slice copy
                    writes.append(self.add(f"{n.name}.saved", ch * math.prod(n.in_shape[1:]) * p.act, "saved",
                                           n.name))
        if self.requantized(n) and self.needs[n.name]:
            writes.append(self.add(f"{n.name}.mask", math.ceil(n.out_elems / 8), "mask", n.name))
            self.saved.append(Saved(n.name, "mask", n.out_elems))
        if n.kind == "pool" and n.op.mode == "max" and self.needs[n.name]:
            writes.append(self.add(f"{n.name}.argmax", n.out_elems, "saved", n.name))
            self.saved.append(Saved(n.name, "indices", n.out_elems * 8))
        if n.kind == "act" and self.needs[n.name]:
            self.saved.append(Saved(n.name, "input", n.in_elems * p.act * 8))
        kernel = n.family if n.kind in ("conv", "linear") else n.kind
        if in_stage:  # patches recompute their halos
            macs, elems = round(macs * stage.recompute[n.name]), round(elems * stage.recompute[n.name])
        self.forward.append(TrainOp(f"{n.name}.fwd", n.name, "forward", kernel, tuple(reads), tuple(writes), macs,
                                    elems, flash, gemm, reuse))

    # backward
    def backward_pass(self) -> None:
        p = self.p
        last = self.nodes[-1]
        grad: dict[str, str] = {}
        g = self.add(f"{last.name}.grad", last.out_elems * p.grad, "grad", last.name)
        self.backward.append(TrainOp("loss.bwd", last.name, "backward", "loss", (self.act_of[last.name],), (g,),
                                     elems=last.out_elems))
        grad[last.name] = g
        for n in reversed(self.nodes):
            if not self.needs[n.name] or n.name not in grad:
                continue
            g = grad.pop(n.name)
            if n.kind == "reshape":
                self.contribute(grad, n.inputs[0], g, n)
                continue
            if self.requantized(n):
                self.emit(n, "clamp", "clamp", (g, f"{n.name}.mask"), (g,), elems=n.out_elems)
            if n.kind in ("conv", "linear"):
                self.weighted_backward(n, g, grad)
            elif n.kind == "add":
                targets = [i for i in n.inputs if self.needs[i]]
                for k, i in enumerate(targets):
                    if k == 0:
                        self.contribute(grad, i, g, n)
                    else:
                        c = self.add(f"{n.name}.grad.{k}", n.out_elems * p.grad, "grad", n.name)
                        self.emit(n, f"copy{k}", "copy", (g,), (c,), elems=n.out_elems)
                        self.contribute(grad, i, c, n)
            elif n.kind in ("gpool", "pool", "act"):
                src = n.inputs[0]
                if self.needs[src]:
                    extra = (f"{n.name}.argmax",) if n.kind == "pool" and n.op.mode == "max" else \
                        (self.act_of[src],) if n.kind == "act" else ()
                    c = self.add(f"{n.name}.dx", n.in_elems * p.grad, "grad", n.name)
                    self.emit(n, "dx", n.kind, (g, *extra), (c,), elems=n.in_elems)
                    self.contribute(grad, src, c, n)

    def contribute(self, grad: dict[str, str], target: str, g: str, n: Node) -> None:
        """The gradient ``g`` flows into ``target``: it becomes its gradient, or is added to the one there."""
        if target not in grad:
            grad[target] = g
            return
        self.emit(n, f"acc.{target}", "accumulate", (grad[target], g), (grad[target],),
                  elems=self.tensors[g].nbytes // self.p.grad)

    def emit(self, n: Node, suffix: str, kernel: str, reads, writes, **kw) -> TrainOp:
        op = TrainOp(f"{n.name}.{suffix}", n.name, "backward", kernel, tuple(reads), tuple(writes), **kw)
        self.backward.append(op)
        return op

    def weighted_backward(self, n: Node, g: str, grad: dict[str, str]) -> None:
        p = self.p
        src = n.inputs[0]
        fam = n.family
        # In-place depthwise backward: one fused kernel per channel computes the channel's weight gradient,
        # its data gradient from the old weights, applies the update, and writes dX over dY (same shape at
        # stride 1). Listed as separate ops (bias, weight, data), dX last, reusing dY's buffer.
        inplace = self.inplace_dw and n.depthwise and n.op.stride == (1, 1) and self.needs[src]
        if self.needs[src] and not inplace:
            self.data_grad(n, g, f"{n.name}.dx")
        ch = self.weight_channels(n)
        if self.bias_trained(n):
            bg = self.add(f"{n.name}.db", n.out_channels * p.wgrad, "wgrad", n.name)
            self.emit(n, "db", "bias", (g,), (bg,), elems=n.out_elems)
            self.update(n, "b", bg, n.out_channels)
        if ch is not None:
            saved = f"{n.name}.saved" if f"{n.name}.saved" in self.tensors else self.saved_act[n.name]
            if not self.fused_casts and n.kind != "linear":  # un-fused: an fp32 copy of the saved input first
                saved = self.cast(n, "saved", saved, ch * math.prod(n.in_shape[1:]), 0)
            elems = self.weight_slice(n, ch)
            # reordered: the update is fused into the weight-gradient kernel, one output channel at a time,
            # so only one channel's gradient is ever buffered; otherwise the whole gradient waits for the step
            rows = n.out_channels if n.kind == "linear" or n.depthwise or n.op.groups == 1 else 1
            buffered = elems // rows if self.reorder else elems
            wg = self.add(f"{n.name}.dw", buffered * p.wgrad, "wgrad", n.name)
            positions = 1 if n.kind == "linear" else n.out_shape[1] * n.out_shape[2]
            self.emit(n, "dW", f"dw.{fam}", (g, saved), (wg,), macs=elems * positions, gemm=_gemm_dw(n, ch),
                      a_reuse=_im2col(n))
            self.update(n, "w", wg, elems)
        if inplace:
            self.data_grad(n, g, g)
        if self.needs[src]:
            self.contribute(grad, src, g if inplace else f"{n.name}.dx", n)

    def data_grad(self, n: Node, g: str, out: str) -> None:
        """dX = dY * W^T (transposed conv), weights from the SRAM copy if trained in full, else from Flash."""
        p, fam = self.p, n.family
        w = self.params.get((n.name, "w"))
        whole = w is not None and self.weight_slice(n, self.weight_channels(n)) == n.weight_elems
        if out != g:
            self.add(out, n.in_elems * p.grad, "grad", n.name)
        flash = 0 if whole else n.weight_elems * (p.classifier if fam == "linear" else p.weight)
        if not self.fused_casts and fam != "linear":  # un-fused: the int8 weights cast to an fp32 copy first
            w, flash = self.cast(n, "w", w, n.weight_elems, flash), 0
        self.emit(n, "dx", f"dx.{fam}", (g,) + ((w,) if w else ()), (out,), macs=n.macs, flash_bytes=flash,
                  gemm=_gemm_dx(n), a_reuse=1.0 if fam == "linear" else float(n.op.kernel[0] * n.op.kernel[1]))

    def cast(self, n: Node, what: str, src: str | None, elems: int, flash: int) -> str:
        """An un-fused cast op: ``elems`` int8 values (from ``src`` in SRAM, or ``flash`` bytes) to fp32."""
        out = self.add(f"{n.name}.{what}.f32", elems * 4, "cast", n.name)
        self.emit(n, f"cast.{what}", "cast", (src,) if src else (), (out,), elems=elems, flash_bytes=flash)
        return out

    def update(self, n: Node, which: str, gradient: str, elems: int) -> None:
        param = self.params[(n.name, which)]
        op = TrainOp(f"{n.name}.update.{which}", n.name, "update", "update", (gradient, param), (param,), elems=elems)
        (self.backward if self.reorder else self.updates).append(op)


def _im2col(n: Node) -> float:
    """How often each input element appears in the unrolled (im2col) matrix of a conv: >= 1."""
    if n.kind != "conv":
        return 1.0
    kk = n.op.kernel[0] * n.op.kernel[1]
    return max(1.0, kk * n.out_shape[1] * n.out_shape[2] / (n.in_shape[1] * n.in_shape[2]))


def _gemm_ff(n: Node) -> tuple[int, int, int, int]:
    if n.kind == "linear":
        return 1, n.in_channels, n.out_channels, 1
    g = n.op.groups
    return (n.out_shape[1] * n.out_shape[2], n.op.in_channels // g * n.op.kernel[0] * n.op.kernel[1],
            n.op.out_channels // g, g)


def _gemm_dx(n: Node) -> tuple[int, int, int, int]:
    if n.kind == "linear":
        return 1, n.out_channels, n.in_channels, 1
    g = n.op.groups
    return (n.in_shape[1] * n.in_shape[2], n.op.out_channels // g * n.op.kernel[0] * n.op.kernel[1],
            n.op.in_channels // g, g)


def _gemm_dw(n: Node, ch: int) -> tuple[int, int, int, int]:
    if n.kind == "linear":
        return n.in_channels, 1, n.out_channels, 1
    kk = n.op.kernel[0] * n.op.kernel[1]
    positions = n.out_shape[1] * n.out_shape[2]
    if n.depthwise:
        return kk, positions, 1, ch
    g = n.op.groups
    if g > 1:
        return n.op.in_channels // g * kk, positions, n.op.out_channels // g, g
    return ch * kk, positions, n.op.out_channels, 1


__all__ = ["GraphError", "Node", "Precision", "Saved", "SchemeError", "Tensor", "TrainOp", "TrainingGraph",
           "int8_graph", "training_graph"]


@dataclass(frozen=True)
class PatchStage:
    """The frozen head of the network run patch by patch (MCUNetV2's patch-based inference).

    The stage's output is produced in ``patches`` x ``patches`` spatial tiles; each tile runs every node of
    the stage on the receptive field it needs (halos are recomputed), so the stage's intermediates never
    exist at full size: only one tile's worth (``buffer_bytes``, the largest set of tile tensors alive at
    once) next to the full input and the full stage output. Only frozen nodes qualify (nothing is saved for
    backward), and the stage ends where one tensor carries everything onward. The split is the candidate
    that minimises the forward peak (stage memory against the largest later forward op).
    """

    nodes: tuple[str, ...]
    patches: int
    buffer_bytes: int
    recompute: dict = field(repr=False, hash=False, compare=False)  # node -> patched / plain MACs


def patch_stage(nodes: tuple[Node, ...], needs: dict[str, bool], patches: int, act_bytes: int = 1) -> PatchStage | None:
    """The best patch-based stage of ``nodes`` (see PatchStage), or None if no split helps."""
    consumers: dict[str, list[int]] = {}
    for j, n in enumerate(nodes):
        for i in n.inputs:
            consumers.setdefault(i, []).append(j)

    def op_bytes(n: Node) -> int:
        return (sum(math.prod(nodes_by[i].out_shape) if i in nodes_by else math.prod(nodes[0].in_shape)
                    for i in set(n.inputs)) + n.out_elems) * act_bytes

    nodes_by = {n.name: n for n in nodes}
    plain = max(op_bytes(n) for n in nodes)
    best, best_cost = None, plain
    for s, n in enumerate(nodes):
        if needs[n.name] or n.kind not in ("conv", "pool", "add", "act") or len(n.out_shape) != 3:
            break
        if any(j > s + 1 or (j == s + 1 and t != s) for t in range(s + 1)
               for j in consumers.get(nodes[t].name, [])):
            continue  # a tensor of the head is still needed past the split
        if n.out_shape[1] < patches:
            break
        buffer, recompute = _patch_buffer(nodes[: s + 1], patches, act_bytes)
        stage_mem = math.prod(nodes[0].in_shape) * act_bytes + n.out_elems * act_bytes + buffer
        rest = max((op_bytes(m) for m in nodes[s + 1:]), default=0)
        cost = max(stage_mem, rest)
        if cost < best_cost:
            best, best_cost = PatchStage(tuple(m.name for m in nodes[: s + 1]), patches, buffer, recompute), cost
    return best


def _patch_buffer(stage: tuple[Node, ...], patches: int, act_bytes: int) -> tuple[int, dict]:
    """Bytes of one tile's intermediates alive at once, and each node's MAC factor from halo recompute."""
    last = stage[-1]
    extent: dict[str, int] = {last.name: math.ceil(last.out_shape[1] / patches)}
    for n in reversed(stage):
        e = extent[n.name]
        if n.kind in ("conv", "pool"):
            k, st = n.op.kernel[0], n.op.stride[0]
            need = min((e - 1) * st + k, n.in_shape[1])
        else:
            need = e
        for i in n.inputs:
            extent[i] = max(extent.get(i, 0), need)
    names = [n.name for n in stage]
    last_use = {}
    for j, n in enumerate(stage):
        for i in n.inputs:
            last_use[i] = j
    peak = 0
    for j, n in enumerate(stage):
        live = sum(stage[t].out_shape[0] * extent[names[t]] ** 2 * act_bytes for t in range(j + 1)
                   if names[t] != last.name and (t == j or last_use.get(names[t], -1) >= j))
        peak = max(peak, live)
    recompute = {k: max(1.0, patches ** 2 * extent[k] ** 2 / nodes_area) for k, nodes_area in
                 ((n.name, n.out_shape[1] ** 2) for n in stage)}
    return peak, recompute
