"""Lower a model graph to the ops of one training iteration: FF, then BP and WU (+ update) in reverse.

Per weighted layer (conv by im2col, per group; linear over all leading dims):

    FF  Y  = X  @ W     m = batch*positions  k = in/groups*kh*kw  n = out/groups   (W N:M along k = input dim)
    BP  dX = dY * W^T   m = batch*in positions  k = out/groups*taps  n = in/groups  (W^T N:M along the output dim)
    WU  dW = X^T @ dY   m = in/groups*kh*kw  k = batch*positions  n = out/groups   (dense)

BP is the transposed convolution; a stride-s conv splits into s*s sub-pixel GEMMs (`.bp.<ph><pw>`), each
over the input positions of one phase and the kernel taps that reach them, so BP does exactly FF's MACs.
The A operand of a conv GEMM is unrolled on chip: only the input patch crosses the DRAM bus. Layers without weights
become vector passes; attention matmuls become two dense GEMMs in BP. BP is emitted only where some
input needs a gradient (nothing flows back to the image). After each WU GEMM the optimizer step (SGD with
momentum on FP32 master weights) runs on the vector engine; with pre-generation on, the selector derives
the next iteration's compressed N:M weights from the updated ones in the same pass.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from math import ceil, log2, prod

from dataflow.ops import GemmOp, Op, Phase, VectorOp
from dataflow.sparsity import NM, Method

ELEM = 2  # FP16 activations, weights and gradients in DRAM
MASTER = 4  # FP32 master weight and momentum

# Vector-engine cost of each element-wise layer: (ops/elem, read B/elem, write B/elem) for FF and for BP,
# per output element. Unfused: every pass reads and writes DRAM. Batch norm takes two passes (statistics,
# then normalize); its backward two as well. Pooling is costed in _vector_pass (BP reads a 1-byte argmax).
_VECTOR_COST: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "relu": ((1, 2, 2), (1, 2.125, 2)),  # BP reads dY and a 1-bit mask
    "relu6": ((1, 2, 2), (1, 2.125, 2)),
    "gelu": ((8, 2, 2), (10, 4, 2)),
    "silu": ((6, 2, 2), (8, 4, 2)),
    "hswish": ((4, 2, 2), (4, 4, 2)),
    "sigmoid": ((4, 2, 2), (3, 4, 2)),
    "softmax": ((5, 2, 2), (4, 4, 2)),
    "batch": ((5, 4, 2), (8, 8, 2)),
    "layer": ((6, 2, 2), (10, 4, 2)),
    "add": ((1, 4, 2), (1, 4, 2)),  # BP: the two gradient branches meet at the block input
}
OPTIMIZER_OPS = 4  # weight decay, momentum, learning-rate scale, update: FP32 per parameter


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


def lower(graph, how: Lowering) -> list[Op]:
    """Training ops of one iteration in execution order."""
    grad = _needs_grad(graph)
    dense = _dense_layers(graph) if how.dense_ends else set()
    fused = _fusions(graph) if how.fuse else {}
    forward: list[Op] = []
    backward: list[Op] = []
    for layer in graph.layers:
        if layer.name in fused:
            continue
        sparse_ok = layer.name not in dense
        forward += _forward_ops(layer, how, sparse_ok)
        back = _backward_ops(layer, how, sparse_ok, any(grad[i] for i in layer.inputs))
        backward = back + backward
    absorbed = {src: graph.layer(act) for act, src in fused.items()}
    ops = [_absorb(op, absorbed[op.layer]) if op.layer in absorbed and op.kind == "vector" else op
           for op in forward + backward]
    return [op for op in ops if op.phase in how.phases]


EPILOGUE_ACTS = frozenset({"relu", "relu6"})  # the array's output stage clamps results as they drain


def _fusions(graph) -> dict[str, str]:
    """Activations computed inside their producer's pass, with no DRAM round trip: act -> producer.

    An activation (not softmax) fuses when its producer has no other consumer and is an element-wise
    vector pass (norm, add), or a conv/linear and the activation is a clamp (ReLU, ReLU6) that the array's
    output stage applies. In BP the fused pass applies the activation's derivative as dY streams in.
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
        if producer.op.kind in ("norm", "add") or (producer.weighted and layer.op.fn in EPILOGUE_ACTS):
            out[layer.name] = src
    return out


def _absorb(op: VectorOp, act) -> VectorOp:
    """A vector pass that also computes the fused activation: its ops, plus any extra operand BP reads."""
    ff, bp = _VECTOR_COST[act.op.fn]
    n_ops, read = (ff[0], 0.0) if op.phase is Phase.FF else (bp[0], bp[1] - ELEM)
    return replace(op, ops_per_elem=op.ops_per_elem + n_ops, read_bytes_per_elem=op.read_bytes_per_elem + read)


def _needs_grad(graph) -> dict[str, bool]:
    """Whether a gradient flows back into each tensor (weights upstream of it)."""
    grad = {"input": False}
    for layer in graph.layers:
        grad[layer.name] = layer.weighted or any(grad[i] for i in layer.inputs)
    return grad


def _dense_layers(graph) -> set[str]:
    weighted = [layer for layer in graph.layers if layer.weighted]
    names = set()
    if weighted and "input" in weighted[0].inputs:
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


def _im2col_reuse(layer) -> float:
    """How many times each input element appears in the unrolled (im2col) matrix of a conv: >= 1."""
    if layer.op.kind != "conv2d":
        return 1.0
    (_, hin, win), (_, hout, wout) = layer.in_shapes[0], layer.out_shape
    kh, kw = layer.op.kernel
    return max(1.0, kh * kw * hout * wout / (hin * win))


def _bp_phases(layer) -> list[tuple[str, int, int]]:
    """(name suffix, input positions per sample, kernel taps) of each sub-pixel GEMM of the BP transposed conv."""
    if layer.op.kind != "conv2d":
        return [("", prod(layer.in_shapes[0][:-1]), 1)]
    _, hin, win = layer.in_shapes[0]
    (kh, kw), (sh, sw) = layer.op.kernel, layer.op.stride
    if (sh, sw) == (1, 1):
        return [("", hin * win, kh * kw)]
    phases = []
    for ph in range(sh):
        for pw in range(sw):
            taps = len(range(ph, kh, sh)) * len(range(pw, kw, sw))
            if taps:
                phases.append((f".{ph}{pw}", len(range(ph, hin, sh)) * len(range(pw, win, sw)), taps))
    return phases


def _nm_along(how: Lowering, phase: Phase, reduction: int, sparse_ok: bool) -> NM | None:
    """The N:M spec of the weight operand in this phase, if the method sparsifies it and it divides evenly."""
    nm = how.nm
    if nm is None or not sparse_ok or phase not in how.method.sparse_phases or reduction % nm.group:
        return None
    return nm


def _forward_ops(layer, how: Lowering, sparse_ok: bool) -> list[Op]:
    b = how.batch
    kind = layer.op.kind
    name = f"{layer.name}.ff"
    if layer.weighted:
        pos, red, out, g = _gemm_dims(layer)
        nm = _nm_along(how, Phase.FF, red, sparse_ok)
        return [GemmOp(name, layer.name, Phase.FF, b * pos, red, out, g, True, nm, nm is not None and not how.pregen,
                       _im2col_reuse(layer))]
    if kind == "matmul":
        (*lead, m, k), shape_b = layer.in_shapes
        n = shape_b[-2] if layer.op.transpose_b else shape_b[-1]
        return [GemmOp(name, layer.name, Phase.FF, m, k, n, b * prod(lead))]
    vec = _vector_pass(layer, Phase.FF, b)
    return [vec] if vec else []


def _backward_ops(layer, how: Lowering, sparse_ok: bool, data_grad: bool) -> list[Op]:
    b = how.batch
    kind = layer.op.kind
    ops: list[Op] = []
    if layer.weighted:
        pos, red, out, g = _gemm_dims(layer)
        if data_grad:
            nm = _nm_along(how, Phase.BP, out, sparse_ok)
            n_in = layer.op.in_channels // g if layer.op.kind == "conv2d" else red
            for suffix, positions, taps in _bp_phases(layer):
                ops.append(GemmOp(f"{layer.name}.bp{suffix}", layer.name, Phase.BP, b * positions, out * taps, n_in,
                                  g, True, nm, nm is not None and not how.pregen, float(taps)))
        ops.append(GemmOp(f"{layer.name}.wu", layer.name, Phase.WU, red, b * pos, out, g, a_reuse=_im2col_reuse(layer)))
        ops.append(_update_op(layer, how, sparse_ok, red, out))
        return ops
    if layer.params:  # norm affine parameters, position embeddings: dense update only
        ops.append(_update_op(layer, how, False, 0, 0))
    if not data_grad:
        return ops
    if kind == "matmul":
        (*lead, m, k), shape_b = layer.in_shapes
        n = shape_b[-2] if layer.op.transpose_b else shape_b[-1]
        g = b * prod(lead)
        return [GemmOp(f"{layer.name}.bp.a", layer.name, Phase.BP, m, n, k, g),
                GemmOp(f"{layer.name}.bp.b", layer.name, Phase.BP, k, m, n, g)] + ops
    vec = _vector_pass(layer, Phase.BP, b)
    return ([vec] if vec else []) + ops


def _update_op(layer, how: Lowering, sparse_ok: bool, red: int, out: int) -> VectorOp:
    """SGD-momentum step on FP32 master weights, writing the weights the next iteration reads.

    With pre-generation, each sparse phase gets its compressed copy (values + indices) from a selector
    pass in this same stream; a phase that reads dense weights gets one shared FP16 copy.
    """
    write = float(MASTER * 2)  # master weight, momentum
    passes = 0
    dense_copy = False
    for phase, reduction in ((Phase.FF, red), (Phase.BP, out)):
        nm = _nm_along(how, phase, reduction, sparse_ok)
        if nm is not None and how.pregen:
            write += nm.keep / nm.group * (ELEM + ceil(log2(nm.group)) / 8)
            passes += 1
        else:
            dense_copy = True
    if dense_copy:
        write += ELEM
    if how.method is Method.TRANSPOSABLE:
        passes = min(passes, 1)  # one transposable mask serves both directions
    read = MASTER * 2 + ELEM  # master weight, momentum, FP16 gradient
    return VectorOp(f"{layer.name}.update", layer.name, Phase.WU, layer.params, OPTIMIZER_OPS, read, write,
                    kind="update", select_passes=passes)


def _vector_pass(layer, phase: Phase, batch: int) -> VectorOp | None:
    """The vector pass of a weight-free layer, or None for shape-only ops (reshape)."""
    op = layer.op
    key = {"act": getattr(op, "fn", None), "norm": getattr(op, "norm", None), "add": "add"}.get(op.kind)
    out = prod(layer.out_shape)
    if op.kind == "pool":  # streams the larger input; writes the pooled output (BP: the reverse)
        inp = prod(layer.in_shapes[0])
        ratio = out / inp
        cost = ((1, ELEM, ELEM * ratio), (1, ELEM * ratio + 1, ELEM))
        elems = inp
    elif key in _VECTOR_COST:
        cost = _VECTOR_COST[key]
        elems = out
    else:
        return None
    n_ops, rd, wr = cost[phase is Phase.BP]
    return VectorOp(f"{layer.name}.{phase.value}", layer.name, phase, batch * elems, n_ops, rd, wr)
