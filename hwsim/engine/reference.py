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
                          prio: np.ndarray, dep_ptr: np.ndarray, dep_idx: np.ndarray):
    """Offline scheduling: ops overlap across the two units (0 PE array, 1 vector engine) within dependencies.

    Op j may start once every op in dep_idx[dep_ptr[j]:dep_ptr[j+1]] has finished (its last compute and its
    last transfer done). `prio` lists the ops, most urgent first. The array, when free, starts the most urgent
    ready op and runs it to its end; the vector engine picks the most urgent ready op again at every chunk, so a
    long optimizer step yields to a pass the array waits for. Each op's tiles go as in `run_reference`; a unit's
    double-buffer slots carry over from op to op (the next op's first tiles load under the current op's last).

    The DMA engine and the selector are shared. DMA requests are served one at a time in the order their data is
    ready (first come, first served): a load when its buffer slot is free and its op's inputs are finished, a
    store when its tile's compute has ended. Ties: the array before the vector engine, then each unit's own
    order (tile t's store after tile t+1's load and before tile t+2's, as in `run_reference`). So a store never
    holds the queue for data that is not there yet, and a unit's store always precedes its load into the same
    slot: at most two stores per unit are ever waiting. Returns per op: start, end, busy and stall cycles.
    """
    n_ops = len(op_offsets) - 1
    start = np.zeros(n_ops, dtype=np.int64)
    end = np.full(n_ops, -1, dtype=np.int64)
    busy = np.zeros(n_ops, dtype=np.int64)
    stall = np.zeros(n_ops, dtype=np.int64)
    nxt = [int(x) for x in op_offsets[:-1]]  # each op's next tile
    started = [False] * n_ops
    own = [0] * n_ops  # when the op's last transfer so far completes
    last_comp = [0] * n_ops  # when the op's last compute ends (once all its tiles are loaded)
    stores_left = [0] * n_ops
    loaded = [False] * n_ops
    lists = [[int(j) for j in prio if unit[j] == u] for u in (0, 1)]
    cur = [-1, -1]  # the array's op in progress (it runs to its end)
    comp = [0, 0]
    slot = [[0, 0], [0, 0]]
    par = [0, 0]
    seq = [0, 0]  # each unit's request order: load L is 2L, its store 2L + 3
    waiting: list[list[tuple[int, int, int, int]]] = [[], []]  # per unit, stores: (ready, seq, bytes, op)
    dma = sel = 0
    left = n_ops

    def finish(j: int) -> None:
        nonlocal left
        end[j] = max(own[j], last_comp[j])
        left -= 1

    while left:
        best, kind, pick_op = None, "", -1
        for u in (0, 1):
            if waiting[u]:
                ready, s = waiting[u][0][:2]
                if best is None or (ready, u, s) < best:
                    best, kind, pick_op = (ready, u, s), "store", -1
            j, ready = (cur[u], 0) if u == 0 and cur[u] >= 0 else _most_urgent(lists[u], end, started, loaded,
                                                                               dep_ptr, dep_idx)
            if j >= 0:
                key = (max(slot[u][par[u]], ready), u, seq[u])
                if best is None or key < best:
                    best, kind, pick_op = key, "load", j
        if best is None:
            raise ValueError("offline schedule deadlocked: the dependencies have a cycle")
        ready, u, _ = best
        ls = max(dma, ready)
        if kind == "store":
            _, _, nbytes, j = waiting[u].pop(0)
            dma = ls + transfer(nbytes, bytes_per_cycle, latency)
            own[j] = max(own[j], dma)
            stores_left[j] -= 1
            if loaded[j] and not stores_left[j]:
                finish(j)
            continue
        j = pick_op
        t = nxt[j]
        if not started[j]:
            started[j] = True
            start[j] = ls
            own[j] = ls
            comp[u] = max(comp[u], ls)
            cur[u] = j
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
            waiting[u].append((comp[u], seq[u] + 1, int(store[t]), j))
            stores_left[j] += 1
        nxt[j] = t + 1
        if nxt[j] < op_offsets[j + 1]:
            continue
        loaded[j] = True
        last_comp[j] = comp[u]
        cur[u] = -1
        if not stores_left[j]:
            finish(j)
    return start, end, busy, stall


def _most_urgent(ops: list[int], end: np.ndarray, started: list[bool], loaded: list[bool], dep_ptr: np.ndarray,
                 dep_idx: np.ndarray) -> tuple[int, int]:
    """The first op of `ops` with tiles left to load that has started or whose dependencies have all finished,
    and when they finished (-1, 0 if none)."""
    for j in ops:
        if loaded[j]:
            continue
        if started[j]:
            return j, 0
        ready = 0
        for d in dep_idx[dep_ptr[j]:dep_ptr[j + 1]]:
            if end[d] < 0:
                break
            ready = max(ready, int(end[d]))
        else:
            return j, ready
    return -1, 0
