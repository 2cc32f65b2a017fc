"""The offline-scheduling engine as it was before issue 12 (model version 2026.12.0), kept only so that
`bench/bench_engine.py` can report the new engine's speed against it in the same run. It times a different machine
(an in-order DMA queue); its numbers are not compared, only its wall time."""
from __future__ import annotations

import numpy as np
from numba import njit

from hwsim.engine.pipeline import _transfer


@njit(cache=True)
def _most_urgent(lists, count, head, u, end, started, dep_ptr, dep_idx):
    # Finished ops never become candidates again: skip the finished prefix of the priority list once.
    while head[u] < count[u] and end[lists[u, head[u]]] >= 0:
        head[u] += 1
    for i in range(head[u], count[u]):
        j = lists[u, i]
        if end[j] >= 0:
            continue
        if started[j]:
            return j, np.int64(0)
        ready = np.int64(0)
        ok = True
        for k in range(dep_ptr[j], dep_ptr[j + 1]):
            d = dep_idx[k]
            if end[d] < 0:
                ok = False
                break
            ready = max(ready, end[d])
        if ok:
            return j, ready
    return -1, np.int64(0)


@njit(cache=True)
def run_offline(op_offsets, load, store, select, compute, bytes_per_cycle, latency, unit, prio, dep_ptr, dep_idx):
    n_ops = op_offsets.shape[0] - 1
    start = np.zeros(n_ops, dtype=np.int64)
    end = np.full(n_ops, -1, dtype=np.int64)
    busy = np.zeros(n_ops, dtype=np.int64)
    stall = np.zeros(n_ops, dtype=np.int64)
    nxt = op_offsets[:-1].copy()
    started = np.zeros(n_ops, dtype=np.bool_)
    own = np.zeros(n_ops, dtype=np.int64)
    lists = np.zeros((2, n_ops), dtype=np.int64)
    count = np.zeros(2, dtype=np.int64)
    head = np.zeros(2, dtype=np.int64)
    for i in range(prio.shape[0]):
        j = prio[i]
        lists[unit[j], count[unit[j]]] = j
        count[unit[j]] += 1
    cur = np.full(2, -1, dtype=np.int64)
    comp = np.zeros(2, dtype=np.int64)
    slot = np.zeros((2, 2), dtype=np.int64)
    par = np.zeros(2, dtype=np.int64)
    pend_ready = np.zeros(2, dtype=np.int64)
    pend_bytes = np.zeros(2, dtype=np.int64)
    pend_op = np.full(2, -1, dtype=np.int64)
    dma = np.int64(0)
    sel = np.int64(0)
    left = n_ops
    while left > 0:
        pick = -1
        pick_time = np.int64(0)
        pick_op = -1
        for u in range(2):
            if u == 0 and cur[u] >= 0:
                j = cur[u]
                ready = np.int64(0)
            else:
                j, ready = _most_urgent(lists, count, head, u, end, started, dep_ptr, dep_idx)
            if j < 0:
                continue
            t_issue = max(max(dma, slot[u, par[u]]), ready)
            if pick < 0 or t_issue < pick_time:
                pick = u
                pick_time = t_issue
                pick_op = j
        if pick < 0:
            raise ValueError("offline schedule deadlocked: the dependencies have a cycle")
        u = pick
        j = pick_op
        ls = pick_time
        t = nxt[j]
        if not started[j]:
            started[j] = True
            start[j] = ls
            own[j] = ls
            comp[u] = max(comp[u], ls)
            cur[u] = j
        dma = ls + _transfer(load[t], bytes_per_cycle, latency)
        own[j] = max(own[j], dma)
        ready_t = dma
        if select[t] > 0:
            sel = max(dma, sel) + select[t]
            ready_t = sel
        cs = max(ready_t, comp[u])
        stall[j] += cs - comp[u]
        comp[u] = cs + compute[t]
        busy[j] += compute[t]
        slot[u, par[u]] = comp[u]
        par[u] ^= 1
        if pend_bytes[u] != 0:
            dma = max(dma, pend_ready[u]) + _transfer(pend_bytes[u], bytes_per_cycle, latency)
            own[pend_op[u]] = max(own[pend_op[u]], dma)
        pend_ready[u] = comp[u]
        pend_bytes[u] = store[t]
        pend_op[u] = j
        nxt[j] = t + 1
        if nxt[j] < op_offsets[j + 1]:
            continue
        if pend_bytes[u] != 0:
            dma = max(dma, pend_ready[u]) + _transfer(pend_bytes[u], bytes_per_cycle, latency)
            own[j] = max(own[j], dma)
        pend_bytes[u] = 0
        end[j] = max(own[j], comp[u])
        cur[u] = -1
        left -= 1
    return start, end, busy, stall
