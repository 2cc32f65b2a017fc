"""Offline scheduling: which op needs which tensor, and an op order that lets the units overlap.

`dependencies` reads the dependency graph off the lowering: an op waits for the ops that write the tensors it
reads (activations forward, gradients backward, the weight gradient before its update), and a layer's optimizer
step also waits for the same layer's BP GEMMs, which read the weights (or their pre-generated N:M copies) that
the step overwrites: a write-after-read dependency, since the weights are not double-buffered. Shape-only layers
(reshape, slice, concat, relayout) and fused activations pass tensors through; a tensor written by several
ops (a gradient summed over branches, a strided BP split into sub-pixel GEMMs) waits for all of them.

`priorities` ranks the ops ahead of time for the two units, the PE array (GEMMs) and the vector engine
(element-wise passes, optimizer steps): critical path first, by the longest estimated path to the end of the
iteration, except that optimizer steps, which nothing waits for, come last and fill the gaps. The hardware engine then
runs, on each unit, the most urgent ready op, tile by tile.
"""
from __future__ import annotations

import numpy as np

from hwsim.dataflow.ops import GemmOp, Op, Phase

ARRAY, VECTOR = 0, 1


def units(ops: list[Op]) -> np.ndarray:
    """The unit of each op: 0 the PE array (GEMMs), 1 the vector engine (everything else)."""
    return np.array([ARRAY if isinstance(op, GemmOp) else VECTOR for op in ops], dtype=np.int64)


def dependencies(graph, ops: list[Op], how) -> list[tuple[int, ...]]:
    """For each op of `lower(graph, how)`, the indices of the ops it waits for (all earlier in `ops`)."""
    from hwsim.dataflow.lowering import _fusions

    fused = _fusions(graph) if how.fuse else {}  # activation -> the producer whose pass computes it
    by_layer: dict[tuple[str, Phase], list[int]] = {}
    for j, op in enumerate(ops):
        by_layer.setdefault((op.layer, op.phase), []).append(j)

    def kinds(layer: str, phase: Phase, update: bool) -> list[int]:
        return [j for j in by_layer.get((layer, phase), []) if (ops[j].kind == "update") == update]

    act: dict[str, set[int]] = {"input": set()}  # tensor -> ops that write it
    for layer in graph.layers:
        ff = kinds(layer.name, Phase.FF, False)
        if layer.name in fused:
            act[layer.name] = act[fused[layer.name]]
        elif ff:
            act[layer.name] = set(ff)
        else:  # shape-only: the input(s) pass through
            act[layer.name] = set().union(*(act[i] for i in layer.inputs))
    deps: list[set[int]] = [set() for _ in ops]
    for layer in graph.layers:
        for j in kinds(layer.name, Phase.FF, False):
            deps[j] |= set().union(*(act[i] for i in layer.inputs))

    last = graph.layers[-1].name
    grad: dict[str, set[int]] = {name: set() for name in act}
    grad[last] = set(act[last])  # the loss gradient needs the forward output
    for layer in reversed(graph.layers):
        name = layer.name
        bp = kinds(name, Phase.BP, False)
        wu = kinds(name, Phase.WU, False)
        upd = kinds(name, Phase.WU, True)
        inputs_act = set().union(*(act[i] for i in layer.inputs))
        for j in bp:
            deps[j] |= grad[name] | act[name] | inputs_act
        for j in wu:
            deps[j] |= grad[name] | inputs_act
        reads_w = {j for j in bp if isinstance(ops[j], GemmOp)}  # BP GEMMs read the weights the update rewrites
        for j in upd:
            deps[j] |= (set(wu) or set(bp) or grad[name]) | reads_w
        if name in fused:  # the producer's BP pass applies this activation's derivative
            grad[fused[name]] |= grad[name]
            continue
        for i in layer.inputs:
            if i in grad:
                grad[i] |= set(bp) if bp else (set() if layer.weighted else grad[name])
    return [tuple(sorted(d)) for d in deps]


def to_csr(deps: list[tuple[int, ...]]) -> tuple[np.ndarray, np.ndarray]:
    """Dependency lists as (pointer, index) arrays for the engine: op j waits for idx[ptr[j]:ptr[j+1]]."""
    ptr = np.zeros(len(deps) + 1, dtype=np.int64)
    ptr[1:] = np.cumsum([len(d) for d in deps])
    idx = np.array([i for d in deps for i in d], dtype=np.int64)
    return ptr, idx


def priorities(durations: np.ndarray, deps: list[tuple[int, ...]]) -> np.ndarray:
    """The ops, most urgent first: ops that others wait for before those nothing waits for (the optimizer
    steps, which fill the gaps), each group by the longest estimated path from the op's start to the end of
    the iteration (critical path first), ties to the earlier op of the lowering.

    `durations[j]` estimates op j's time (e.g. its time run alone). With positive durations this is a
    topological order: an op's path is longer than any of its successors', and sinks come last.
    """
    n = len(durations)
    rank = np.zeros(n)
    succ: list[list[int]] = [[] for _ in range(n)]
    for j, d in enumerate(deps):
        for i in d:
            succ[i].append(j)
    for j in range(n - 1, -1, -1):  # the lowering order is topological
        rank[j] = durations[j] + max((rank[s] for s in succ[j]), default=0.0)
    sink = np.array([not s for s in succ])
    return np.lexsort((np.arange(n), -rank, sink)).astype(np.int64)
