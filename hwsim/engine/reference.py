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
    The DMA queue and the selector are shared: tiles issue in time order, the unit whose next load can start
    first going first (the array on ties). Returns per op: start, end, busy and stall cycles.
    """
    n_ops = len(op_offsets) - 1
    start = np.zeros(n_ops, dtype=np.int64)
    end = np.full(n_ops, -1, dtype=np.int64)
    busy = np.zeros(n_ops, dtype=np.int64)
    stall = np.zeros(n_ops, dtype=np.int64)
    nxt = [int(x) for x in op_offsets[:-1]]  # each op's next tile
    started = [False] * n_ops
    own = [0] * n_ops  # when the op's last transfer so far completes
    lists = [[int(j) for j in prio if unit[j] == u] for u in (0, 1)]
    cur = [-1, -1]  # the array's op in progress (it runs to its end)
    comp = [0, 0]
    slot = [[0, 0], [0, 0]]
    par = [0, 0]
    pend_ready, pend_bytes, pend_op = [0, 0], [0, 0], [-1, -1]
    dma = sel = 0
    left = n_ops
    while left:
        pick, pick_time, pick_op = -1, 0, -1
        for u in (0, 1):
            j, ready = (cur[u], 0) if u == 0 and cur[u] >= 0 else _most_urgent(lists[u], end, started, dep_ptr,
                                                                               dep_idx)
            if j < 0:
                continue
            t_issue = max(dma, slot[u][par[u]], ready)
            if pick < 0 or t_issue < pick_time:
                pick, pick_time, pick_op = u, t_issue, j
        if pick < 0:
            raise ValueError("offline schedule deadlocked: the dependencies have a cycle")
        u, j, ls = pick, pick_op, pick_time
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
        if pend_bytes[u]:  # the unit's previous store, queued behind this load
            dma = max(dma, pend_ready[u]) + transfer(pend_bytes[u], bytes_per_cycle, latency)
            own[pend_op[u]] = max(own[pend_op[u]], dma)
        pend_ready[u], pend_bytes[u], pend_op[u] = comp[u], store[t], j
        nxt[j] = t + 1
        if nxt[j] < op_offsets[j + 1]:
            continue
        if pend_bytes[u]:  # the op's last store
            dma = max(dma, pend_ready[u]) + transfer(pend_bytes[u], bytes_per_cycle, latency)
            own[j] = max(own[j], dma)
        pend_bytes[u] = 0
        end[j] = max(own[j], comp[u])
        cur[u] = -1
        left -= 1
    return start, end, busy, stall


def _most_urgent(ops: list[int], end: np.ndarray, started: list[bool], dep_ptr: np.ndarray,
                 dep_idx: np.ndarray) -> tuple[int, int]:
    """The first unfinished op of `ops` that has started or whose dependencies have all finished, and when
    they finished (-1, 0 if none)."""
    for j in ops:
        if end[j] >= 0:
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
