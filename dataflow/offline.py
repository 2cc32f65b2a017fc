"""Offline scheduling: which op needs which tensor, and an op order that lets the units overlap.

`dependencies` reads the dependency graph off the lowering: an op waits for the ops that write the tensors it
reads (activations forward, gradients backward, the weight gradient before its update), and a layer's optimizer
step also waits for the same layer's BP GEMMs, which read the weights (or their pre-generated N:M copies) that
the step overwrites: a write-after-read dependency, since the weights are not double-buffered. Shape-only layers
(reshape, slice, concat, relayout) and fused activations pass tensors through; a tensor written by several
ops (a gradient summed over branches, a strided BP split into sub-pixel GEMMs) waits for all of them.

`priorities` ranks the ops for the two units, the PE array (GEMMs) and the vector engine (element-wise passes,
optimizer steps): critical path first, by the longest estimated path to the end of the iteration, except that
optimizer steps, which nothing waits for, come last and fill the gaps.

`static_program` compiles the static program the engine executes: each unit's op sequence and every op's nominal
start and span, which stamp the op's DMA requests (its fraction of progress through its tiles) and so fix the
order in which the one DMA engine serves the two units. It is computed on a *nominal machine* (`nominal_durations`:
work counts at fixed rates tied to the array, never the DRAM, buffer, port, lane or selector fields), so the
program is the same for every configuration that differs only in those, and the engine's times, each a max of
sums of durations, can only fall when a duration falls (docs/modelling.md, "Why it is monotone").
"""
from __future__ import annotations

import heapq

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


# The nominal machine, per multiplier of the array (sat-vcu1525: 4,096 multipliers -> 256 B of DRAM, 256 vector lanes
# and 64 selector lanes a cycle). Fixed so that no field a monotonicity claim varies enters the program.
NOMINAL_DRAM_BYTES_PER_MULT = 1 / 16
NOMINAL_VECTOR_LANES_PER_MULT = 1 / 16
NOMINAL_SELECTOR_LANES_PER_MULT = 1 / 64


def nominal_durations(ops: list[Op], peak_macs_per_cycle: int, elem_bytes: int) -> np.ndarray:
    """Each op's time on the nominal machine, from its work counts alone (no tiling): the larger of its compute
    (a GEMM's performed MACs at the array's peak; a vector pass's element operations, or selector visits, at the
    nominal lanes) and its compulsory DRAM traffic (every operand in and the result out once) at the nominal
    bandwidth. At least 1 cycle, so that a dependency always ends before its successor starts."""
    bw = peak_macs_per_cycle * NOMINAL_DRAM_BYTES_PER_MULT
    lanes = peak_macs_per_cycle * NOMINAL_VECTOR_LANES_PER_MULT
    sel_lanes = peak_macs_per_cycle * NOMINAL_SELECTOR_LANES_PER_MULT
    out = np.empty(len(ops))
    for j, op in enumerate(ops):
        if isinstance(op, GemmOp):
            density = op.nm.density if op.nm is not None and not op.select_on_load else 1.0
            nbytes = op.groups * elem_bytes * (op.m * op.k / op.a_reuse + op.k * op.n * density + op.m * op.n)
            work = op.macs / peak_macs_per_cycle
        else:
            nbytes = op.elems * (op.read_bytes_per_elem + op.write_bytes_per_elem)
            work = max(op.elems * op.ops_per_elem / lanes, op.elems * op.select_passes / sel_lanes)
        out[j] = max(1.0, work, nbytes / bw)
    return out


def static_program(durations: np.ndarray, deps: list[tuple[int, ...]], unit: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The static program: (order, nominal start, nominal span) of the ops.

    A list schedule of the ops on the two units with `durations` (the nominal machine's): whenever a unit is
    free it starts the most urgent op (`priorities`) whose dependencies have ended by then, or, if none has,
    the first to become ready. `order` lists the ops by nominal start (a topological order; each unit runs its
    ops in this order), `start[j]` is op j's nominal start and `span[j] = durations[j]` its nominal span.
    Greedy here is harmless: the program depends only on the nominal durations, not on the ones that vary.
    """
    n = len(durations)
    durations = np.asarray(durations, dtype=np.float64)
    rank = np.empty(n, dtype=np.int64)
    rank[priorities(durations, deps)] = np.arange(n)
    succ: list[list[int]] = [[] for _ in range(n)]
    missing = np.array([len(d) for d in deps], dtype=np.int64)
    for j, d in enumerate(deps):
        for i in d:
            succ[i].append(j)
    ready_at = np.zeros(n)
    start = np.zeros(n)
    released: list[list[tuple[float, int, int]]] = [[], []]  # per unit: (ready time, rank, op), deps scheduled
    available: list[list[tuple[int, int]]] = [[], []]  # per unit: (rank, op), ready by the unit's free time
    free = [0.0, 0.0]
    for j in range(n):
        if not missing[j]:
            heapq.heappush(released[unit[j]], (0.0, int(rank[j]), j))
    order = []
    while len(order) < n:
        best = None  # (decision time, unit)
        for u in (0, 1):
            if available[u] or released[u]:
                t = free[u] if available[u] else max(free[u], released[u][0][0])
                if best is None or t < best[0]:
                    best = (t, u)
        if best is None:
            raise ValueError("static program: the dependencies have a cycle")
        now, u = best
        while released[u] and released[u][0][0] <= now:
            _, r, j = heapq.heappop(released[u])
            heapq.heappush(available[u], (r, j))
        _, j = heapq.heappop(available[u])
        start[j] = now
        free[u] = now + durations[j]
        order.append(j)
        for s in succ[j]:
            ready_at[s] = max(ready_at[s], free[u])
            missing[s] -= 1
            if not missing[s]:
                heapq.heappush(released[unit[s]], (float(ready_at[s]), int(rank[s]), s))
    return np.array(order, dtype=np.int64), start, durations.copy()
