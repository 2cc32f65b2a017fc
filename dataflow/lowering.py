"""Lower a model graph to the ops of one training iteration: FF, then BP and WU (+ update) in reverse.

Per weighted layer (conv by im2col, per group; linear over all leading dims):

    FF  Y  = X  @ W     m = batch*positions     k = in/groups*kh*kw     n = out/groups  (W N:M along the input dim)
    BP  dX = dY * W^T   m = batch*in positions  k = out/groups*taps     n = in/groups   (W^T N:M along the output dim)
    WU  dW = X^T @ dY   m = in/groups*kh*kw     k = batch*positions     n = out/groups  (dense)

BP is the transposed convolution; a stride-s conv splits into s*s sub-pixel GEMMs (`.bp.<ph><pw>`), each
over the input positions of one phase and the kernel taps that reach them (so BP does FF's MACs for
'same'-padded even sizes; borders of odd sizes differ slightly). The A operand of a conv GEMM is unrolled on
chip: only the input patch crosses the DRAM bus. Layers without weights become vector passes; attention
matmuls become two dense GEMMs in BP. BP is emitted only where some input needs a gradient (nothing flows
back to the image). After each WU GEMM the optimizer step (SGD with momentum on FP32 master weights) runs on
the vector engine; with pre-generation on, the selector derives the next iteration's compressed N:M weights
from the updated ones in the same pass (so simulating without the WU phase leaves mask generation out).

A reduction dim that is not a multiple of M is zero-padded up to one (`pad`, as hardware would): the padded
positions cost compute, bytes and MACs like real ones. With `pad=False` such a phase runs dense instead, and
so does one where padding would perform more MACs than dense (a tiny reduction such as a depthwise 1x1).
A stride-s 1x1 conv reaches only one input phase in BP, so the sub-pixel GEMM writes 1/s^2 of dX; the rest
of dX is zero and is written as such (`.bp.zero`, a store-only pass) so the next op reads one dense tensor.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from math import prod

from hwsim.dataflow.ops import GemmOp, Op, Phase, VectorOp
from hwsim.dataflow.sparsity import NM, Method

MASTER = 4  # FP32 master weight and momentum (SAT's weight-update engine)
MASK_BYTES = 1 / 8  # a 1-bit mask per element, saved by clamps and read in their BP
OPTIMIZER_OPS = 4  # weight decay, momentum, learning-rate scale, update: FP32 per parameter

# Vector-engine cost of each element-wise layer, per output element: (ops, operand elements read, written)
# for FF and for BP. Every pass reads and writes DRAM unless fused (see _fusions). Batch norm takes two
# passes (statistics, then normalize) each way; BP of a clamp reads dY and its 1-bit mask (MASK_BYTES).
_VECTOR_COST: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "relu": ((1, 1, 1), (1, 1, 1)),
    "relu6": ((1, 1, 1), (1, 1, 1)),
    "gelu": ((8, 1, 1), (10, 2, 1)),
    "silu": ((6, 1, 1), (8, 2, 1)),
    "hswish": ((4, 1, 1), (4, 2, 1)),
    "sigmoid": ((4, 1, 1), (3, 2, 1)),
    "softmax": ((5, 1, 1), (4, 2, 1)),
    "batch": ((5, 2, 1), (8, 4, 1)),
    "layer": ((6, 1, 1), (10, 2, 1)),
    "add": ((1, 2, 1), (1, 2, 1)),  # BP: the two gradient branches meet at the block input
    # element-wise functions exporters emit (BP reads dY and the saved input or output, writes dX)
    "hsigmoid": ((3, 1, 1), (2, 2, 1)),
    "leakyrelu": ((2, 1, 1), (2, 2, 1)),
    "elu": ((4, 1, 1), (3, 2, 1)),
    "tanh": ((5, 1, 1), (3, 2, 1)),
    "clip": ((2, 1, 1), (1, 1, 1)),  # a clamp: BP reads its 1-bit mask (CLAMPS)
    "exp": ((4, 1, 1), (2, 2, 1)),
    "erf": ((8, 1, 1), (6, 2, 1)),
    "sqrt": ((4, 1, 1), (3, 2, 1)),
    "neg": ((1, 1, 1), (1, 1, 1)),
    "pow": ((2, 1, 1), (3, 2, 1)),
    "scale": ((1, 1, 1), (1, 1, 1)),  # a fixed scalar: BP scales dY by it
    "mask": ((1, 1, 1), (1, 1, 1)),  # a fixed mask: BP zeroes the masked gradients
    # two activations (per output element; BP writes both input gradients, a broadcast one reduced)
    "mul": ((1, 2, 1), (3, 3, 2)),  # dA = dY*B, dB = dY*A
    "div": ((1, 2, 1), (5, 3, 2)),  # dA = dY/B, dB = -dY*A/B^2
    "sub": ((1, 2, 1), (2, 1, 2)),  # dA = dY, dB = -dY
    "eadd": ((1, 2, 1), (1, 1, 2)),  # a broadcasting add: dA = dB = dY (reduced where broadcast)
    # a learned tensor (BP also reduces dY into its gradient)
    "affine.scale": ((1, 1, 1), (3, 2, 1)),  # dX = dY*g, dg = sum(dY*X)
    "affine.shift": ((1, 1, 1), (2, 1, 1)),  # dX = dY, db = sum(dY)
    "dropout": ((2, 1, 1), (1, 1, 1)),  # FF draws and writes a 1-bit mask (MASK_BYTES); BP reads it
}
CLAMPS = frozenset({"relu", "relu6", "clip"})  # also what the array's output stage can apply as results drain
MASKED = CLAMPS | {"dropout"}  # passes that save a 1-bit mask in FF and read it in BP


@dataclass(frozen=True)
class Lowering:
    """How to lower: the method, its N:M spec, the batch and the dataflow options."""

    method: Method = Method.DENSE
    nm: NM | None = None
    batch: int = 1
    pregen: bool = True  # pre-generate N:M weights during the update (selection hidden from FF/BP)
    dense_ends: bool = True  # keep the first layer and the classifier dense (usual N:M training practice)
    fuse: bool = True  # fold activations into their producer's pass (see _fusions)
    phases: frozenset[Phase] = frozenset(Phase)
    elem_bytes: int = 2  # FP16 activations, weights and gradients
    pad: bool = True  # zero-pad a reduction dim to a multiple of M (else that phase runs dense)
    layer_nm: tuple[tuple[str, NM | None], ...] = ()  # per-layer N:M (None: dense), over `nm` and dense_ends


def lower(graph, how: Lowering) -> list[Op]:
    """Training ops of one iteration in execution order."""
    grad = _needs_grad(graph)
    dense = _dense_layers(graph) if how.dense_ends else set()
    fused = _fusions(graph) if how.fuse else {}
    per_layer = dict(how.layer_nm) if how.method.sparse_phases else {}
    forward: list[Op] = []
    backward: list[Op] = []
    for layer in graph.layers:
        if layer.name in fused:
            continue
        sparse_ok = layer.name not in dense
        lhow = how
        if layer.name in per_layer:  # a layer's own N:M (a SCALE-Sim topology's sparsity column)
            lhow = replace(how, nm=per_layer[layer.name])
            sparse_ok = per_layer[layer.name] is not None
        forward += _forward_ops(layer, lhow, sparse_ok)
        backward = _backward_ops(layer, lhow, sparse_ok, any(grad[i] for i in layer.inputs)) + backward
    absorbed = {src: graph.layer(act) for act, src in fused.items()}
    ops = [_absorb(op, absorbed[op.layer], how.elem_bytes) if op.layer in absorbed and op.kind == "vector" else op
           for op in forward + backward]
    return [op for op in ops if op.phase in how.phases]


def _fusions(graph) -> dict[str, str]:
    """Activations computed inside their producer's pass, with no DRAM round trip: act -> producer.

    An activation (not softmax) fuses when its producer has no other consumer and is an element-wise
    vector pass (norm, add), or a conv/linear and the activation is a clamp that the array's output stage
    applies. In BP the fused pass applies the activation's derivative as dY streams in.
    """
    consumers = Counter(i for layer in graph.layers for i in layer.inputs)
    out = {}
    for layer in graph.layers:
        if layer.op.kind != "act" or layer.op.fn == "softmax" or len(layer.inputs) != 1:
            continue
        src = layer.inputs[0]
        if src == "input" or consumers[src] != 1:
            continue
        producer = graph.layer(src)
        if producer.op.kind in ("norm", "add") or (producer.weighted and layer.op.fn in CLAMPS):
            out[layer.name] = src
    return out


def _absorb(op: VectorOp, act, elem_bytes: int) -> VectorOp:
    """A vector pass that also computes the fused activation: its ops, plus any extra operand BP reads."""
    ff, bp = _VECTOR_COST[act.op.fn]
    if op.phase is Phase.FF:
        return replace(op, ops_per_elem=op.ops_per_elem + ff[0])
    extra = (bp[1] - 1) * elem_bytes + (MASK_BYTES if act.op.fn in CLAMPS else 0)  # dY is already read
    return replace(op, ops_per_elem=op.ops_per_elem + bp[0], read_bytes_per_elem=op.read_bytes_per_elem + extra)


def _needs_grad(graph) -> dict[str, bool]:
    """Whether a gradient flows back into each tensor (weights upstream of it, or a graph cut from a network)."""
    grad = {"input": graph.input_grad}
    for layer in graph.layers:
        grad[layer.name] = layer.weighted or any(grad[i] for i in layer.inputs)
    return grad


def _dense_layers(graph) -> set[str]:
    """The first layer (if it reads the data) and the classifier (if it is the output)."""
    weighted = [layer for layer in graph.layers if layer.weighted]
    names = set()
    if weighted and "input" in weighted[0].inputs and not graph.input_grad:
        names.add(weighted[0].name)
    if weighted and graph.layers[-1] is weighted[-1]:
        names.add(weighted[-1].name)
    return names


def _gemm_dims(layer) -> tuple[int, int, int, int]:
    """(positions per sample, reduction, outputs, groups) of a weighted layer's forward GEMM."""
    op = layer.op
    if op.kind == "conv2d":
        _, oh, ow = layer.out_shape
        kh, kw = op.kernel
        return oh * ow, op.in_channels // op.groups * kh * kw, op.out_channels // op.groups, op.groups
    rows = prod(layer.in_shapes[0][:-1])
    return rows, op.in_features, op.out_features, 1


def _matmul_dims(layer) -> tuple[int, int, int, int]:
    """(m, k, n, batch of heads per sample) of an activation x activation matmul."""
    (*lead, m, k), shape_b = layer.in_shapes
    n = shape_b[-2] if layer.op.transpose_b else shape_b[-1]
    return m, k, n, prod(lead)


def _im2col_reuse(layer) -> float:
    """How many times each input element appears in the unrolled (im2col) matrix of a conv: >= 1."""
    if layer.op.kind != "conv2d":
        return 1.0
    (_, hin, win), (_, hout, wout) = layer.in_shapes[0], layer.out_shape
    kh, kw = layer.op.kernel
    return max(1.0, kh * kw * hout * wout / (hin * win))


def _bp_phases(layer) -> list[tuple[str, int, int]]:
    """(name suffix, input positions per sample, kernel taps) of each sub-pixel GEMM of the BP transposed conv.

    Input row i of a stride-s conv with padding p is reached by the taps t = (i + p) mod s, s + that, ...
    """
    if layer.op.kind != "conv2d":
        return [("", prod(layer.in_shapes[0][:-1]), 1)]
    _, hin, win = layer.in_shapes[0]
    (kh, kw), (sh, sw), (ph_, pw_) = layer.op.kernel, layer.op.stride, layer.op.padding
    if (sh, sw) == (1, 1):
        return [("", hin * win, kh * kw)]
    phases = []
    for ph in range(sh):
        for pw in range(sw):
            taps = len(range((ph + ph_) % sh, kh, sh)) * len(range((pw + pw_) % sw, kw, sw))
            positions = len(range(ph, hin, sh)) * len(range(pw, win, sw))
            if taps and positions:
                phases.append((f".{ph}{pw}", positions, taps))
    return phases


def _nm_along(how: Lowering, phase: Phase, reduction: int, sparse_ok: bool) -> NM | None:
    """The N:M spec of the weight operand in this phase, if the method sparsifies it and it divides evenly
    (or is padded to a multiple of M)."""
    nm = how.nm
    if nm is None or not sparse_ok or phase not in how.method.sparse_phases:
        return None
    if reduction % nm.group and not (how.pad and -(-reduction // nm.group) * nm.keep < reduction):
        return None  # not padded, or padding would perform more MACs than running dense (k = 1, 2, ...)
    return nm


def _padded(reduction: int, nm: NM | None) -> int:
    """The reduction length the array runs: rounded up to a multiple of M when the operand is N:M."""
    return reduction if nm is None else -(-reduction // nm.group) * nm.group


def _select_visits(how: Lowering) -> int:
    """Selector visits per weight for one mask selection: a transposable mask costs its own search."""
    return how.method.select_visits(how.nm) if how.nm is not None else 0


def _forward_ops(layer, how: Lowering, sparse_ok: bool) -> list[Op]:
    name, b = f"{layer.name}.ff", how.batch
    if layer.weighted:
        pos, red, out, g = _gemm_dims(layer)
        nm = _nm_along(how, Phase.FF, red, sparse_ok)
        return [GemmOp(name, layer.name, Phase.FF, b * pos, _padded(red, nm), out, g, nm=nm,
                       select_on_load=nm is not None and not how.pregen, a_reuse=_im2col_reuse(layer),
                       select_passes=_load_passes(how, nm))]
    if layer.op.kind == "matmul":
        m, k, n, heads = _matmul_dims(layer)
        return [GemmOp(name, layer.name, Phase.FF, m, k, n, b * heads)]
    vec = _vector_pass(layer, Phase.FF, how)
    return [vec] if vec else []


def _backward_ops(layer, how: Lowering, sparse_ok: bool, data_grad: bool) -> list[Op]:
    b = how.batch
    if layer.weighted:
        pos, red, out, g = _gemm_dims(layer)
        ops: list[Op] = []
        if data_grad:
            nm = _nm_along(how, Phase.BP, out, sparse_ok)
            n_in = layer.op.in_channels // g if layer.op.kind == "conv2d" else red
            covered = 0
            for suffix, positions, taps in _bp_phases(layer):
                covered += positions
                ops.append(GemmOp(f"{layer.name}.bp{suffix}", layer.name, Phase.BP, b * positions,
                                  _padded(out, nm) * taps, n_in, g, nm=nm,
                                  select_on_load=nm is not None and not how.pregen, a_reuse=float(taps),
                                  select_passes=_load_passes(how, nm)))
            if layer.op.kind == "conv2d" and covered < prod(layer.in_shapes[0][1:]):
                missing = b * (prod(layer.in_shapes[0][1:]) - covered) * layer.op.in_channels
                ops.append(VectorOp(f"{layer.name}.bp.zero", layer.name, Phase.BP, missing, 0.0, 0.0,
                                    float(how.elem_bytes)))
        ops.append(GemmOp(f"{layer.name}.wu", layer.name, Phase.WU, red, b * pos, out, g,
                          a_reuse=_im2col_reuse(layer)))
        return ops + [_update_op(layer, how, sparse_ok, red, out)]
    ops = []
    if data_grad and layer.op.kind == "matmul":
        m, k, n, heads = _matmul_dims(layer)
        ops += [GemmOp(f"{layer.name}.bp.a", layer.name, Phase.BP, m, n, k, b * heads),
                GemmOp(f"{layer.name}.bp.b", layer.name, Phase.BP, k, m, n, b * heads)]
    elif data_grad and (vec := _vector_pass(layer, Phase.BP, how)):
        ops.append(vec)
    if layer.params:  # norm affine parameters, position embeddings: a dense update
        ops.append(_update_op(layer, how, False, 0, 0))
    return ops


def _load_passes(how: Lowering, nm: NM | None) -> int:
    """Selector visits per B element when the mask is chosen as the weights load (no pre-generation)."""
    return _select_visits(how) if nm is not None and not how.pregen else 1


def _update_op(layer, how: Lowering, sparse_ok: bool, red: int, out: int) -> VectorOp:
    """SGD-momentum step on FP32 master weights, writing the weights the next iteration reads.

    With pre-generation, each sparse phase gets its compressed copy (values + indices) from a selector
    pass in this same stream (a transposable mask needs one search for both, costlier than a top-N pass:
    `Method.select_visits`); a phase that reads dense weights gets one shared FP16 copy. A padded
    reduction stores its padded compressed copy.
    """
    eb = how.elem_bytes
    write = float(MASTER * 2)  # master weight, momentum
    passes = 0
    dense_copy = False
    for phase, reduction in ((Phase.FF, red), (Phase.BP, out)):
        nm = _nm_along(how, phase, reduction, sparse_ok)
        if nm is not None and how.pregen:
            write += nm.bytes_per_position(eb) * _padded(reduction, nm) / max(reduction, 1)
            passes += 1
        else:
            dense_copy = True
    write += eb if dense_copy else 0
    read = MASTER * 2 + eb  # master weight, momentum, gradient
    return VectorOp(f"{layer.name}.update", layer.name, Phase.WU, layer.params, OPTIMIZER_OPS, read, write,
                    kind="update", select_passes=min(passes, how.method.masks_per_iteration) * _select_visits(how))


def _vector_pass(layer, phase: Phase, how: Lowering) -> VectorOp | None:
    """The vector pass of a weight-free layer, or None for shape-only ops (reshape, slice, ...)."""
    op, eb = layer.op, how.elem_bytes
    key = {"act": getattr(op, "fn", None), "norm": getattr(op, "norm", None), "add": "add", "dropout": "dropout",
           "eltwise": "eadd" if getattr(op, "fn", None) == "add" else getattr(op, "fn", None),
           "affine": f"affine.{getattr(op, 'fn', '')}"}.get(op.kind)
    out = prod(layer.out_shape)
    if op.kind in ("pool", "reduce"):  # streams the larger input, writes the pooled output; BP the reverse
        elems = prod(layer.in_shapes[0])
        ratio = out / elems
        index = 0 if op.kind == "reduce" and op.fn != "max" else 1  # BP reads the max's position (a pool: always)
        n_ops, rd, wr = (1, eb, eb * ratio) if phase is Phase.FF else (1, eb * ratio + index, eb)
    elif key in _VECTOR_COST:
        elems = out
        n_ops, rd, wr = (x * y for x, y in zip(_VECTOR_COST[key][phase is Phase.BP], (1, eb, eb)))
        if key in MASKED and (phase is Phase.BP or key == "dropout"):
            rd, wr = (rd + MASK_BYTES, wr) if phase is Phase.BP else (rd, wr + MASK_BYTES)
    else:
        return None
    return VectorOp(f"{layer.name}.{phase.value}", layer.name, phase, how.batch * elems, n_ops, rd, wr)
