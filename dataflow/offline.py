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

`static_program` compiles the static program the engine executes: each unit's sequence of segments (an op's
tiles, or for an optimizer step that yields, part of them) and each segment's nominal start and end. It is
computed on a *nominal machine* (`nominal_durations`: work counts at fixed rates tied to the array, never the
DRAM, buffer, port, lane or selector fields), so the program is the same for every configuration that differs only
in those. Each unit then runs its segments through its own DMA queue, the two queues sharing the DRAM bandwidth
(docs/modelling.md, "DMA arbitration").
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


def static_program(durations: np.ndarray, deps: list[tuple[int, ...]], unit: np.ndarray, tiles: np.ndarray
                   ) -> tuple[np.ndarray, ...]:
    """The static program: the segments each unit runs, in order, as arrays (op, first tile, end tile,
    nominal start, nominal end); op j's tiles are numbered 0 .. tiles[j] - 1.

    A list schedule of the ops on the two units with `durations` (the nominal machine's). Whenever a unit is free
    it starts the most urgent op (`priorities`) whose dependencies have ended by then, or, if none has, the first
    to become ready. The array runs each GEMM to its end. The vector engine does too, except for ops nothing
    waits for (the optimizer steps): those fill its gaps and yield whenever another of its ops becomes ready, and
    resume later, so one op may have several segments; a yield falls on the tile boundary nearest its fraction of
    the op's nominal work. Each unit runs its segments in order of nominal start; an op's first segments come in
    a topological order. Greedy here is harmless: the program depends on the nominal durations and the tile
    counts only, not on the durations that vary.
    """
    durations = np.asarray(durations, dtype=np.float64)
    return _tile_segments(list_schedule(durations, deps, unit), durations, np.asarray(tiles, dtype=np.int64))


def list_schedule(durations: np.ndarray, deps: list[tuple[int, ...]], unit: np.ndarray) -> list[list]:
    """`static_program`'s list schedule in nominal work cycles, before the tiles: [op, work from, work to,
    nominal start, nominal end] per segment. It depends on the durations, dependencies and units alone, so the
    programs of several tilings of one lowering share it (`dataflow.program_kernel` is its numba version)."""
    n = len(durations)
    durations = np.asarray(durations, dtype=np.float64)
    rank = np.empty(n, dtype=np.int64)
    rank[priorities(durations, deps)] = np.arange(n)
    succ: list[list[int]] = [[] for _ in range(n)]
    missing = np.array([len(d) for d in deps], dtype=np.int64)
    for j, d in enumerate(deps):
        for i in d:
            succ[i].append(j)
    yields = [int(unit[j] == VECTOR and not succ[j]) for j in range(n)]
    ready_at = np.zeros(n)
    done = np.zeros(n)  # nominal work done (cycles): a yielding op may be part done
    # per unit and kind (0: runs to its end, 1: yields): heaps of ops whose dependencies are all scheduled,
    # (ready time, rank, op), and of those ready by the unit's decision, (rank, op)
    released: list[list[list]] = [[[], []], [[], []]]
    available: list[list[list]] = [[[], []], [[], []]]
    free = [0.0, 0.0]
    for j in range(n):
        if not missing[j]:
            heapq.heappush(released[unit[j]][yields[j]], (0.0, int(rank[j]), j))
    segments: list[list] = []  # [op, work from, work to, nominal start, nominal end]
    scheduled = 0

    def decision(u: int) -> float:
        if available[u][0] or available[u][1]:
            return free[u]
        first = [heap[0][0] for heap in released[u] if heap]
        return max(free[u], min(first)) if first else np.inf

    while scheduled < n:
        times = [decision(ARRAY), decision(VECTOR)]
        u = ARRAY if times[ARRAY] <= times[VECTOR] else VECTOR
        now = times[u]
        if now == np.inf:
            raise ValueError("static program: the dependencies have a cycle")
        for kind in (0, 1):
            while released[u][kind] and released[u][kind][0][0] <= now:
                _, r, j = heapq.heappop(released[u][kind])
                heapq.heappush(available[u][kind], (r, j))
        if available[u][0]:
            _, j = heapq.heappop(available[u][0])
            until = now + durations[j] - done[j]
        else:  # only yielding ops: run the most urgent until it ends or another op of this unit may become ready
            j = available[u][1][0][1]
            horizon = times[ARRAY]  # the array's next op may release one; so may the end of its current op
            if free[ARRAY] > now:
                horizon = min(horizon, free[ARRAY])
            if released[u][0]:
                horizon = min(horizon, released[u][0][0][0])
            until = min(now + durations[j] - done[j], horizon)
        ends = until >= now + durations[j] - done[j]
        work = durations[j] if ends else done[j] + until - now
        if segments and segments[-1][0] == j and segments[-1][4] == now:  # resumed at once: one segment
            segments[-1][2], segments[-1][4] = work, until
        else:
            segments.append([j, done[j], work, now, until])
        done[j] = work
        free[u] = until
        if not ends:
            continue
        if yields[j]:
            heapq.heappop(available[u][1])
        scheduled += 1
        for s in succ[j]:
            ready_at[s] = max(ready_at[s], until)
            missing[s] -= 1
            if not missing[s]:
                heapq.heappush(released[unit[s]][yields[s]], (float(ready_at[s]), int(rank[s]), s))
    return segments


def _tile_segments(segments: list[list], durations: np.ndarray, tiles: np.ndarray) -> tuple[np.ndarray, ...]:
    """Segments in work cycles -> segments in tiles (the boundary nearest the work fraction); empty ones go."""
    out = []
    for j, w0, w1, t0, t1 in segments:
        lo = min(int(tiles[j]), int(np.floor(w0 / durations[j] * tiles[j] + 0.5)))
        hi = int(tiles[j]) if w1 >= durations[j] else min(int(tiles[j]),
                                                          int(np.floor(w1 / durations[j] * tiles[j] + 0.5)))
        if hi > lo:
            out.append((j, lo, hi, t0, t1))
    seg_op, lo, hi, t0, t1 = (np.array(c) for c in zip(*out)) if out else (np.zeros(0),) * 5
    return (seg_op.astype(np.int64), lo.astype(np.int64), hi.astype(np.int64), t0.astype(np.float64),
            t1.astype(np.float64))
