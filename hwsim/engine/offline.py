"""The numba offline-scheduling engine: same machine and same results as `reference.run_offline_reference`."""
from __future__ import annotations

import numpy as np
from numba import njit

from hwsim.engine.pipeline import _transfer


@njit(cache=True, inline="always")
def _stamp(seg_lo, seg_t0, scale, s, i):
    return seg_t0[s] + scale[s] * (i - seg_lo[s])


@njit(cache=True)
def _blocked(j, end, dep_ptr, dep_idx):
    for k in range(dep_ptr[j], dep_ptr[j + 1]):
        if end[dep_idx[k]] < 0:
            return True
    return False


@njit(cache=True)
def run_offline(op_offsets, load, store, select, compute, bytes_per_cycle, latency, unit, seg_op, seg_lo, seg_hi,
                seg_t0, seg_t1, dep_ptr, dep_idx):
    n_ops = op_offsets.shape[0] - 1
    start = np.zeros(n_ops, dtype=np.int64)
    end = np.full(n_ops, -1, dtype=np.int64)
    busy = np.zeros(n_ops, dtype=np.int64)
    stall = np.zeros(n_ops, dtype=np.int64)
    nxt = op_offsets[:-1].copy()
    own = np.zeros(n_ops, dtype=np.int64)
    comp_end = np.zeros(n_ops, dtype=np.int64)
    stores_left = np.zeros(n_ops, dtype=np.int64)
    n_tiles = load.shape[0]
    load_cycles = np.empty(n_tiles, dtype=np.int64)  # each transfer's cycles, computed in one tight loop
    store_cycles = np.empty(n_tiles, dtype=np.int64)
    for t in range(n_tiles):
        load_cycles[t] = _transfer(load[t], bytes_per_cycle, latency)
        store_cycles[t] = _transfer(store[t], bytes_per_cycle, latency)
    n_seg = seg_op.shape[0]
    scale = np.empty(n_seg, dtype=np.float64)  # nominal cycles per tile of each segment
    for s in range(n_seg):
        scale[s] = (seg_t1[s] - seg_t0[s]) / (seg_hi[s] - seg_lo[s])
    lists = np.zeros((2, n_seg), dtype=np.int64)
    count = np.zeros(2, dtype=np.int64)
    for s in range(n_seg):
        u = unit[seg_op[s]]
        lists[u, count[u]] = s
        count[u] += 1
    pos = np.zeros(2, dtype=np.int64)
    comp = np.zeros(2, dtype=np.int64)
    slot = np.zeros((2, 2), dtype=np.int64)
    par = np.zeros(2, dtype=np.int64)
    seq = np.zeros(2, dtype=np.int64)
    # per unit, a ring of waiting stores (at most two wait: see the reference): ready, seq, cycles, op, tile
    q_ready = np.zeros((2, 4), dtype=np.int64)
    q_seq = np.zeros((2, 4), dtype=np.int64)
    q_cycles = np.zeros((2, 4), dtype=np.int64)
    q_op = np.zeros((2, 4), dtype=np.int64)
    q_seg = np.zeros((2, 4), dtype=np.int64)
    q_tile = np.zeros((2, 4), dtype=np.int64)
    q_head = np.zeros(2, dtype=np.int64)
    q_len = np.zeros(2, dtype=np.int64)
    # each unit's next request: kind (0 none, 1 load, 2 store) and stamp, recomputed only after the unit has
    # issued a request or an op has finished (nothing else changes it)
    h_kind = np.zeros(2, dtype=np.int64)
    h_key = np.zeros(2, dtype=np.float64)
    stale = np.ones(2, dtype=np.bool_)
    dma = np.int64(0)
    sel = np.int64(0)
    left = n_ops
    while left > 0:
        for u in range(2):
            if not stale[u]:
                continue
            stale[u] = False
            s = lists[u, pos[u]] if pos[u] < count[u] else -1
            j = seg_op[s] if s >= 0 else -1
            blk = j >= 0 and nxt[j] == op_offsets[j] and _blocked(j, end, dep_ptr, dep_idx)
            h = q_head[u]
            if q_len[u] > 0 and (j < 0 or blk or q_seq[u, h] < seq[u]):
                h_kind[u] = 2
                h_key[u] = _stamp(seg_lo, seg_t0, scale, q_seg[u, h], q_tile[u, h] + 1)
            elif j >= 0 and not blk:
                h_kind[u] = 1
                h_key[u] = _stamp(seg_lo, seg_t0, scale, s, max(nxt[j] - op_offsets[j] - 1, seg_lo[s]))
            else:
                h_kind[u] = 0
        have = h_kind[0] > 0 or h_kind[1] > 0
        b_unit = 0 if h_kind[0] > 0 and (h_kind[1] == 0 or h_key[0] <= h_key[1]) else 1  # ties: the array first
        b_store = h_kind[b_unit] == 2
        if not have:
            raise ValueError("offline schedule deadlocked: the program's order breaks a dependency")
        u = b_unit
        stale[u] = True
        if b_store:
            h = q_head[u]
            j = q_op[u, h]
            dma = max(dma, q_ready[u, h]) + q_cycles[u, h]
            q_head[u] = (h + 1) & 3
            q_len[u] -= 1
            own[j] = max(own[j], dma)
            stores_left[j] -= 1
            if nxt[j] == op_offsets[j + 1] and stores_left[j] == 0:
                end[j] = max(own[j], comp_end[j])
                left -= 1
                stale[1 - u] = True
            continue
        s = lists[u, pos[u]]
        j = seg_op[s]
        t = nxt[j]
        ready = slot[u, par[u]]
        first = t == op_offsets[j]
        if first:
            for k in range(dep_ptr[j], dep_ptr[j + 1]):
                ready = max(ready, end[dep_idx[k]])
        ls = max(dma, ready)
        if first:
            start[j] = ls
            own[j] = ls
            comp[u] = max(comp[u], ls)
        dma = ls + load_cycles[t]
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
            k = (q_head[u] + q_len[u]) & 3
            q_ready[u, k] = comp[u]
            q_seq[u, k] = seq[u] + 1
            q_cycles[u, k] = store_cycles[t]
            q_op[u, k] = j
            q_seg[u, k] = s
            q_tile[u, k] = t - op_offsets[j]
            q_len[u] += 1
            stores_left[j] += 1
        nxt[j] = t + 1
        if nxt[j] - op_offsets[j] == seg_hi[s]:
            pos[u] += 1
        if nxt[j] < op_offsets[j + 1]:
            continue
        comp_end[j] = comp[u]
        if stores_left[j] == 0:
            end[j] = max(own[j], comp_end[j])
            left -= 1
            stale[1 - u] = True
    return start, end, busy, stall
