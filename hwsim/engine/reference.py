"""Plain-Python/numpy reference of the tile pipeline: the numba kernel must equal it exactly.

The machine, per op (ops run one after another, each starting when the previous one has drained):
  - one DMA queue to DRAM serves requests in issue order; a transfer of b > 0 bytes takes
    `latency + ceil(b / bytes_per_cycle)` cycles;
  - tile t loads into buffer slot t % 2 once the compute of tile t - 2 has freed it (double buffering);
  - the top-N-of-M selector then works on the loaded tile (0 cycles when weights were pre-generated);
  - the array computes the tile when both the selector and the previous tile are done;
  - the store of tile t is queued behind the load of tile t + 1, so it overlaps the next compute.
Returns per op: total cycles, array-busy cycles and array-stall cycles (waiting on DMA or selector).
"""
from __future__ import annotations

import math

import numpy as np


def transfer(nbytes: int, bytes_per_cycle: float, latency: int) -> int:
    return 0 if nbytes == 0 else latency + int(math.ceil(nbytes / bytes_per_cycle))


def run_reference(op_offsets: np.ndarray, load: np.ndarray, store: np.ndarray, select: np.ndarray,
                  compute: np.ndarray, bytes_per_cycle: float, latency: int):
    n_ops = len(op_offsets) - 1
    cycles = np.zeros(n_ops, dtype=np.int64)
    busy = np.zeros(n_ops, dtype=np.int64)
    stall = np.zeros(n_ops, dtype=np.int64)
    now = 0
    for j in range(n_ops):
        start = now
        dma = sel = comp = start
        slot = [start, start]
        pend_ready, pend_bytes = 0, 0
        for t in range(op_offsets[j], op_offsets[j + 1]):
            ls = max(dma, slot[t % 2])
            dma = ls + transfer(load[t], bytes_per_cycle, latency)
            sel = max(dma, sel) + select[t]
            cs = max(sel, comp)
            stall[j] += cs - comp
            comp = cs + compute[t]
            busy[j] += compute[t]
            slot[t % 2] = comp
            if pend_bytes:
                dma = max(dma, pend_ready) + transfer(pend_bytes, bytes_per_cycle, latency)
            pend_ready, pend_bytes = comp, store[t]
        if pend_bytes:
            dma = max(dma, pend_ready) + transfer(pend_bytes, bytes_per_cycle, latency)
        now = max(dma, comp)
        cycles[j] = now - start
    return cycles, busy, stall


def run_offline_reference(op_offsets: np.ndarray, load: np.ndarray, store: np.ndarray, select: np.ndarray,
                          compute: np.ndarray, bytes_per_cycle: float, latency: int, unit: np.ndarray,
                          seg_op: np.ndarray, seg_lo: np.ndarray, seg_hi: np.ndarray, seg_t0: np.ndarray,
                          seg_t1: np.ndarray, dep_ptr: np.ndarray, dep_idx: np.ndarray):
    """Offline scheduling: a static program on two units (0 PE array, 1 vector engine), executed in order.

    The program (`dataflow.offline.static_program`) is a list of segments: segment s runs tiles seg_lo[s] ..
    seg_hi[s] - 1 of op seg_op[s] (numbered from the op's first) and spans seg_t0[s] .. seg_t1[s] in nominal
    time. Each unit runs its segments in the listed order, the array and the vector engine sharing the DMA
    engine and the selector. Op j may start once every op in dep_idx[dep_ptr[j]:dep_ptr[j+1]] has finished (its
    last compute and its last transfer done). A unit's double-buffer slots carry over from segment to segment
    (the next op's first tiles load under the current op's last).

    Each unit issues its requests in its own order: load L, then the store of load L - 1 (L0 L1 S0 L2 S1 ...,
    as in `run_reference`, across segments); only when the next load is an op's first and that op's dependencies
    have not all finished *in program order* does the unit's waiting store go ahead of it. The DMA engine takes
    the two units' next requests in the order of their nominal stamps: with d = (t1 - t0) / n the nominal
    cycles a tile of a segment of n tiles starting at tile lo, tile i loads at t0 + d * max(i - lo - 1, 0) (one
    tile ahead of its nominal compute) and stores at t0 + d * (i - lo + 1) (when its nominal compute ends); ties
    to the array. No choice
    looks at a time: the sequence of requests is fixed by the program, and each request starts at the max of
    the DMA engine's previous end and its data's readiness (a load: its buffer slot free, for an op's first tile
    also its dependencies ended; a store: its tile's compute ended). Every time is thus a max of sums of
    transfer, selection and compute durations: shorter durations never make anything later.
    Returns per op: start, end, busy and stall cycles.
    """
    n_ops = len(op_offsets) - 1
    start = np.zeros(n_ops, dtype=np.int64)
    end = np.full(n_ops, -1, dtype=np.int64)
    busy = np.zeros(n_ops, dtype=np.int64)
    stall = np.zeros(n_ops, dtype=np.int64)
    lists = [[s for s in range(len(seg_op)) if unit[seg_op[s]] == u] for u in (0, 1)]
    pos = [0, 0]  # each unit's segment in progress (index into its list)
    nxt = [int(x) for x in op_offsets[:-1]]  # each op's next tile
    own = [0] * n_ops  # when the op's last transfer so far completes
    comp_end = [0] * n_ops
    stores_left = [0] * n_ops
    comp = [0, 0]
    slot = [[0, 0], [0, 0]]
    par = [0, 0]
    seq = [0, 0]  # each unit's request order: load L is 2L, its store 2L + 3
    waiting: list[list[tuple[int, int, int, int, int, int]]] = [[], []]  # stores: ready, seq, bytes, op, seg, tile
    dma = sel = 0
    left = n_ops

    scale = (np.asarray(seg_t1, dtype=np.float64) - seg_t0) / (np.asarray(seg_hi) - seg_lo)  # nominal cycles a tile

    def stamp(s: int, i: int) -> float:
        return float(seg_t0[s]) + float(scale[s]) * (i - int(seg_lo[s]))

    def finish(j: int) -> None:
        nonlocal left
        end[j] = max(own[j], comp_end[j])
        left -= 1

    while left:
        best = None  # (stamp, unit, is store)
        for u in (0, 1):
            s = lists[u][pos[u]] if pos[u] < len(lists[u]) else -1
            j = int(seg_op[s]) if s >= 0 else -1
            i = nxt[j] - int(op_offsets[j]) if s >= 0 else 0
            blocked = False
            if s >= 0 and i == 0:  # an op's first load: its dependencies must have finished
                blocked = any(end[d] < 0 for d in dep_idx[dep_ptr[j]:dep_ptr[j + 1]])
            take_store = bool(waiting[u]) and (s < 0 or blocked or waiting[u][0][1] < seq[u])
            if take_store:
                key = (stamp(waiting[u][0][4], waiting[u][0][5] + 1), u, True)
            elif s >= 0 and not blocked:
                key = (stamp(s, max(i - 1, int(seg_lo[s]))), u, False)
            else:
                continue
            if best is None or key < best:
                best = key
        if best is None:
            raise ValueError("offline schedule deadlocked: the program's order breaks a dependency")
        _, u, is_store = best
        if is_store:
            ready, _, nbytes, j, _, _ = waiting[u].pop(0)
            dma = max(dma, ready) + transfer(nbytes, bytes_per_cycle, latency)
            own[j] = max(own[j], dma)
            stores_left[j] -= 1
            if nxt[j] == op_offsets[j + 1] and not stores_left[j]:
                finish(j)
            continue
        s = lists[u][pos[u]]
        j = int(seg_op[s])
        t = nxt[j]
        first = t == op_offsets[j]
        ready = slot[u][par[u]]
        if first:
            for d in dep_idx[dep_ptr[j]:dep_ptr[j + 1]]:
                ready = max(ready, int(end[d]))
        ls = max(dma, ready)
        if first:
            start[j] = ls
            own[j] = ls
            comp[u] = max(comp[u], ls)
        dma = ls + transfer(load[t], bytes_per_cycle, latency)
        own[j] = max(own[j], dma)
        ready_t = dma
        if select[t] > 0:
            sel = max(dma, sel) + select[t]
            ready_t = sel
        cs = max(ready_t, comp[u])
        stall[j] += cs - comp[u]
        comp[u] = cs + compute[t]
        busy[j] += compute[t]
        slot[u][par[u]] = comp[u]
        par[u] ^= 1
        seq[u] += 2
        if store[t]:
            waiting[u].append((comp[u], seq[u] + 1, int(store[t]), j, s, t - int(op_offsets[j])))
            stores_left[j] += 1
        nxt[j] = t + 1
        if nxt[j] - op_offsets[j] == seg_hi[s]:
            pos[u] += 1
        if nxt[j] < op_offsets[j + 1]:
            continue
        comp_end[j] = comp[u]
        if not stores_left[j]:
            finish(j)
    return start, end, busy, stall
