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
    """Offline scheduling: a static program on two units (0 PE array, 1 vector engine), each with its own DMA queue.

    The program (`dataflow.offline.static_program`) is a list of segments: segment s runs tiles seg_lo[s] ..
    seg_hi[s] - 1 of op seg_op[s] (numbered from the op's first); seg_t0/seg_t1, its nominal span, fixed where
    the segments were cut and do not enter the timing. Each unit runs its segments in the listed order; the
    two units share the DRAM bandwidth and the selector. Op j may start once every op in
    dep_idx[dep_ptr[j]:dep_ptr[j+1]] has finished (its last compute and its last transfer done). A unit's
    double-buffer slots carry over from segment to segment (the next op's first tiles load under the current
    op's last).

    Each unit issues its requests to its own queue, in order: load L, then the store of load L - 1 (L0 L1 S0 L2
    S1 ..., as in `run_reference`, across segments); only when the next load is an op's first and that op's
    dependencies have not all finished does the unit's waiting store go ahead of it. A request is served from
    when its data is ready (a load: its buffer slot free, for an op's first tile also its dependencies ended; a
    store: its tile's compute ended). Arbitration: the DRAM bandwidth is shared equally between the queues whose
    request is being served, so a transfer of c cycles (`transfer`) takes c cycles alone and up to 2c beside the
    other unit's; a queue never waits for the other queue's request to become ready. Times are fractional
    cycles, rounded up to whole cycles at the end. Returns per op: start, end, busy and stall cycles.
    """
    n_ops = len(op_offsets) - 1
    start, end = [0.0] * n_ops, [-1.0] * n_ops
    busy, stall = [0] * n_ops, [0.0] * n_ops
    lists = [[s for s in range(len(seg_op)) if unit[seg_op[s]] == u] for u in (0, 1)]
    pos = [0, 0]  # each unit's segment in progress (index into its list)
    nxt = [int(x) for x in op_offsets[:-1]]  # each op's next tile
    own = [0.0] * n_ops  # when the op's last transfer so far completes
    comp_end = [0.0] * n_ops
    stores_left = [0] * n_ops
    comp = [0.0, 0.0]
    slot = [[0.0, 0.0], [0.0, 0.0]]
    par = [0, 0]
    seq = [0, 0]  # each unit's request order: load L is 2L, its store 2L + 3
    waiting: list[list[tuple]] = [[], []]  # stores: ready, seq, cycles, op
    serving: list[dict | None] = [None, None]  # each queue's request in service
    sel = now = 0.0
    left = n_ops

    def finish(j: int) -> None:
        nonlocal left
        end[j] = max(own[j], comp_end[j])
        left -= 1

    def next_request(u: int) -> dict | None:
        s = lists[u][pos[u]] if pos[u] < len(lists[u]) else -1
        j = int(seg_op[s]) if s >= 0 else -1
        blocked = (s >= 0 and nxt[j] == op_offsets[j]
                   and any(end[d] < 0 for d in dep_idx[dep_ptr[j]:dep_ptr[j + 1]]))
        if waiting[u] and (s < 0 or blocked or waiting[u][0][1] < seq[u]):
            ready, _, cycles, j = waiting[u].pop(0)
            return {"store": True, "ready": ready, "left": float(cycles), "op": j}
        if s < 0 or blocked:
            return None
        t = nxt[j]
        ready = slot[u][par[u]]
        if t == op_offsets[j]:
            ready = max([ready] + [end[d] for d in dep_idx[dep_ptr[j]:dep_ptr[j + 1]]])
        return {"store": False, "ready": ready, "left": float(transfer(load[t], bytes_per_cycle, latency)), "op": j,
                "tile": t, "start": max(now, ready)}

    def loaded(u: int, r: dict) -> None:
        nonlocal sel
        j, t = r["op"], r["tile"]
        if t == op_offsets[j]:
            start[j] = own[j] = r["start"]
            comp[u] = max(comp[u], r["start"])
        own[j] = max(own[j], now)
        ready_t = now
        if select[t] > 0:
            sel = max(now, sel) + select[t]
            ready_t = sel
        cs = max(ready_t, comp[u])
        stall[j] += cs - comp[u]
        comp[u] = cs + compute[t]
        busy[j] += int(compute[t])
        slot[u][par[u]] = comp[u]
        par[u] ^= 1
        seq[u] += 2
        if store[t]:
            waiting[u].append((comp[u], seq[u] + 1, transfer(int(store[t]), bytes_per_cycle, latency), j))
            stores_left[j] += 1
        nxt[j] = t + 1
        if nxt[j] - op_offsets[j] == seg_hi[lists[u][pos[u]]]:
            pos[u] += 1
        if nxt[j] == op_offsets[j + 1]:
            comp_end[j] = comp[u]
            if not stores_left[j]:
                finish(j)

    while left:
        for u in (0, 1):
            if serving[u] is None:
                serving[u] = next_request(u)
        queued = [u for u in (0, 1) if serving[u] is not None]
        if not queued:
            raise ValueError("offline schedule deadlocked: the program's order breaks a dependency")
        active = [u for u in queued if serving[u]["ready"] <= now]
        if not active:
            now = min(serving[u]["ready"] for u in queued)
            continue
        n = len(active)
        steps = [serving[u]["left"] * n for u in active] + [serving[u]["ready"] - now for u in queued
                                                              if u not in active]
        dt = min(steps)
        for u in active:
            serving[u]["left"] -= dt / n
        now += dt
        for u in active:
            r = serving[u]
            if r["left"] > 0:
                continue
            serving[u] = None
            if r["store"]:
                j = r["op"]
                own[j] = max(own[j], now)
                stores_left[j] -= 1
                if nxt[j] == op_offsets[j + 1] and not stores_left[j]:
                    finish(j)
            else:
                loaded(u, r)
    whole = [math.ceil(x) for x in start], [math.ceil(x) for x in end], busy, [math.ceil(x) for x in stall]
    return tuple(np.array(c, dtype=np.int64) for c in whole)
