"""The greedy offline-scheduling engine of model version 2026.12.4 (before the static program), kept only so that
`bench/bench_engine.py` can report the static engine's speed against it in the same run. Its numbers are not
compared (it is not monotone: docs/modelling.md), only its wall time."""
from __future__ import annotations

import numpy as np
from numba import njit

from hwsim.engine.pipeline import _transfer


@njit(cache=True)
def _most_urgent(lists, count, head, u, end, started, loaded, dep_ptr, dep_idx):
    # Fully loaded ops never become candidates again: skip the loaded prefix of the priority list once.
    while head[u] < count[u] and loaded[lists[u, head[u]]]:
        head[u] += 1
    for i in range(head[u], count[u]):
        j = lists[u, i]
        if loaded[j]:
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
    last_comp = np.zeros(n_ops, dtype=np.int64)
    stores_left = np.zeros(n_ops, dtype=np.int64)
    loaded = np.zeros(n_ops, dtype=np.bool_)
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
    seq = np.zeros(2, dtype=np.int64)
    # per unit, a ring of waiting stores (at most two wait: see the reference): ready, seq, bytes, op
    q_ready = np.zeros((2, 4), dtype=np.int64)
    q_seq = np.zeros((2, 4), dtype=np.int64)
    q_bytes = np.zeros((2, 4), dtype=np.int64)
    q_op = np.zeros((2, 4), dtype=np.int64)
    q_head = np.zeros(2, dtype=np.int64)
    q_len = np.zeros(2, dtype=np.int64)
    c_op = np.full(2, -1, dtype=np.int64)  # each unit's most urgent candidate, kept while still valid
    c_ready = np.zeros(2, dtype=np.int64)
    valid = np.zeros(2, dtype=np.bool_)
    dma = np.int64(0)
    sel = np.int64(0)
    left = n_ops
    while left > 0:
        have = False
        is_store = False
        b_ready = np.int64(0)
        b_unit = 0
        b_seq = np.int64(0)
        b_op = -1
        for u in range(2):
            if q_len[u] > 0:
                h = q_head[u]
                r = q_ready[u, h]
                s = q_seq[u, h]
                if (not have or r < b_ready or (r == b_ready and (u < b_unit or (u == b_unit and s < b_seq)))):
                    have = True
                    is_store = True
                    b_ready = r
                    b_unit = u
                    b_seq = s
                    b_op = -1
            if u == 0 and cur[u] >= 0:
                j = cur[u]
                ready = np.int64(0)
            else:
                if not valid[u]:  # the candidate changes only when an op finishes or the unit's op is loaded
                    c_op[u], c_ready[u] = _most_urgent(lists, count, head, u, end, started, loaded, dep_ptr,
                                                       dep_idx)
                    valid[u] = True
                j = c_op[u]
                ready = c_ready[u]
            if j < 0:
                continue
            r = max(slot[u, par[u]], ready)
            s = seq[u]
            if (not have or r < b_ready or (r == b_ready and (u < b_unit or (u == b_unit and s < b_seq)))):
                have = True
                is_store = False
                b_ready = r
                b_unit = u
                b_seq = s
                b_op = j
        if not have:
            raise ValueError("offline schedule deadlocked: the dependencies have a cycle")
        u = b_unit
        ls = max(dma, b_ready)
        if is_store:
            h = q_head[u]
            j = q_op[u, h]
            dma = ls + _transfer(q_bytes[u, h], bytes_per_cycle, latency)
            q_head[u] = (h + 1) % 4
            q_len[u] -= 1
            own[j] = max(own[j], dma)
            stores_left[j] -= 1
            if loaded[j] and stores_left[j] == 0:
                end[j] = max(own[j], last_comp[j])
                valid[0] = False
                valid[1] = False
                left -= 1
            continue
        j = b_op
        t = nxt[j]
        if not started[j]:
            started[j] = True
            valid[u] = False  # a started op is a candidate whatever its inputs
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
        seq[u] += 2
        if store[t] != 0:
            if q_len[u] == 4:
                raise ValueError("offline engine: more than four stores waiting on one unit")
            k = (q_head[u] + q_len[u]) % 4
            q_ready[u, k] = comp[u]
            q_seq[u, k] = seq[u] + 1
            q_bytes[u, k] = store[t]
            q_op[u, k] = j
            q_len[u] += 1
            stores_left[j] += 1
        nxt[j] = t + 1
        if nxt[j] < op_offsets[j + 1]:
            continue
        loaded[j] = True
        valid[u] = False
        last_comp[j] = comp[u]
        cur[u] = -1
        if stores_left[j] == 0:
            end[j] = max(own[j], last_comp[j])
            valid[0] = False
            valid[1] = False
            left -= 1
    return start, end, busy, stall
