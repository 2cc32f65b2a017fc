"""The numba offline-scheduling engine: same machine and same results as `reference.run_offline_reference`."""
from __future__ import annotations

import math

import numpy as np

from hwsim.dataflow.jit import njit
from hwsim.engine.pipeline import _transfer


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
    start = np.zeros(n_ops)
    end = np.full(n_ops, -1.0)
    busy = np.zeros(n_ops, dtype=np.int64)
    stall = np.zeros(n_ops)
    nxt = op_offsets[:-1].copy()
    own = np.zeros(n_ops)
    comp_end = np.zeros(n_ops)
    stores_left = np.zeros(n_ops, dtype=np.int64)
    n_tiles = load.shape[0]
    load_cycles = np.empty(n_tiles, dtype=np.int64)  # each transfer's cycles, computed in one tight loop
    store_cycles = np.empty(n_tiles, dtype=np.int64)
    for t in range(n_tiles):
        load_cycles[t] = _transfer(load[t], bytes_per_cycle, latency)
        store_cycles[t] = _transfer(store[t], bytes_per_cycle, latency)
    n_seg = seg_op.shape[0]
    lists = np.zeros((2, n_seg), dtype=np.int64)
    count = np.zeros(2, dtype=np.int64)
    for s in range(n_seg):
        u = unit[seg_op[s]]
        lists[u, count[u]] = s
        count[u] += 1
    pos = np.zeros(2, dtype=np.int64)
    comp = np.zeros(2)
    slot = np.zeros((2, 2))
    par = np.zeros(2, dtype=np.int64)
    seq = np.zeros(2, dtype=np.int64)
    # per unit, a ring of waiting stores (at most two wait: see the reference): ready, seq, cycles, op
    q_ready = np.zeros((2, 4))
    q_seq = np.zeros((2, 4), dtype=np.int64)
    q_cycles = np.zeros((2, 4), dtype=np.int64)
    q_op = np.zeros((2, 4), dtype=np.int64)
    q_head = np.zeros(2, dtype=np.int64)
    q_len = np.zeros(2, dtype=np.int64)
    # each unit's request in service: kind (0 none, 1 load, 2 store), data ready, service cycles left, op, tile,
    # and (a load) when its service starts
    r_kind = np.zeros(2, dtype=np.int64)
    r_ready = np.zeros(2)
    r_left = np.zeros(2)
    r_op = np.zeros(2, dtype=np.int64)
    r_tile = np.zeros(2, dtype=np.int64)
    r_start = np.zeros(2)
    active = np.zeros(2, dtype=np.bool_)
    stale = np.ones(2, dtype=np.bool_)  # a unit without a request looks again only once something has finished
    sel = 0.0
    now = 0.0
    left = n_ops
    while left > 0:
        for u in range(2):  # a unit without a request takes its next one
            if r_kind[u] != 0 or not stale[u]:
                continue
            stale[u] = False
            s = lists[u, pos[u]] if pos[u] < count[u] else -1
            j = seg_op[s] if s >= 0 else -1
            blk = j >= 0 and nxt[j] == op_offsets[j] and _blocked(j, end, dep_ptr, dep_idx)
            h = q_head[u]
            if q_len[u] > 0 and (j < 0 or blk or q_seq[u, h] < seq[u]):
                r_kind[u] = 2
                r_ready[u] = q_ready[u, h]
                r_left[u] = q_cycles[u, h]
                r_op[u] = q_op[u, h]
                q_head[u] = (h + 1) & 3
                q_len[u] -= 1
            elif j >= 0 and not blk:
                t = nxt[j]
                ready = slot[u, par[u]]
                if t == op_offsets[j]:
                    for k in range(dep_ptr[j], dep_ptr[j + 1]):
                        ready = max(ready, end[dep_idx[k]])
                r_kind[u] = 1
                r_ready[u] = ready
                r_left[u] = load_cycles[t]
                r_op[u] = j
                r_tile[u] = t
                r_start[u] = max(now, ready)
        if r_kind[0] == 0 and r_kind[1] == 0:
            raise ValueError("offline schedule deadlocked: the program's order breaks a dependency")
        ready = np.inf
        for u in range(2):
            if r_kind[u] != 0:
                ready = min(ready, r_ready[u])
        now = max(now, ready)  # if both wait for their data, jump to the first ready
        n = 0
        for u in range(2):
            active[u] = r_kind[u] != 0 and r_ready[u] <= now
            n += active[u]
        dt = np.inf  # until the first request in service completes or a waiting one becomes ready
        for u in range(2):
            if active[u]:
                dt = min(dt, r_left[u] * n)
            elif r_kind[u] != 0:
                dt = min(dt, r_ready[u] - now)
        share = dt if n == 1 else dt * 0.5  # dt / n exactly (n is 1 or 2), without a division to wait for
        for u in range(2):
            if active[u]:
                r_left[u] -= share
        now += dt
        for u in range(2):
            if not active[u] or r_left[u] > 0:
                continue
            kind, j, t = r_kind[u], r_op[u], r_tile[u]
            r_kind[u] = 0
            stale[u] = True
            if kind == 2:
                own[j] = max(own[j], now)
                stores_left[j] -= 1
                if nxt[j] == op_offsets[j + 1] and stores_left[j] == 0:
                    end[j] = max(own[j], comp_end[j])
                    left -= 1
                    stale[1 - u] = True
                continue
            if t == op_offsets[j]:
                start[j] = r_start[u]
                own[j] = r_start[u]
                comp[u] = max(comp[u], r_start[u])
            own[j] = max(own[j], now)
            ready_t = now
            if select[t] > 0:
                sel = max(now, sel) + select[t]
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
                q_len[u] += 1
                stores_left[j] += 1
            nxt[j] = t + 1
            s = lists[u, pos[u]]
            if nxt[j] - op_offsets[j] == seg_hi[s]:
                pos[u] += 1
            if nxt[j] < op_offsets[j + 1]:
                continue
            comp_end[j] = comp[u]
            if stores_left[j] == 0:
                end[j] = max(own[j], comp_end[j])
                left -= 1
                stale[1 - u] = True
    return _cycles(start), _cycles(end), busy, _cycles(stall)


@njit(cache=True)
def _cycles(times):
    """Times in (possibly fractional) cycles -> whole cycles, rounded up: a time is reached within its cycle."""
    out = np.empty(times.shape[0], dtype=np.int64)
    for i in range(times.shape[0]):
        out[i] = np.int64(math.ceil(times[i]))
    return out


@njit(cache=True)
def owned_cycles(start, end, unit):
    """`simulation.attribute` (its numpy reference: tests/hwsim/test_offline.py) in one pass: each op's share of
    the iteration's cycles, by the same rules and the same searches, without its forty small numpy calls."""
    n = start.shape[0]
    cycles = np.zeros(n, dtype=np.int64)
    if n == 0:
        return cycles
    by_end = np.argsort(end, kind="mergesort")
    end_sorted = end[by_end]
    # per unit, its ops in order of end, each owning from the later of its start and the previous one's end
    idx = np.empty((2, n), dtype=np.int64)
    lo = np.empty((2, n), dtype=np.int64)
    count = np.zeros(2, dtype=np.int64)
    prev = np.zeros(2, dtype=np.int64)
    for j in by_end:
        u = unit[j]
        idx[u, count[u]] = j
        lo[u, count[u]] = max(start[j], prev[u])
        prev[u] = end[j]
        count[u] += 1
    points = np.unique(np.concatenate((np.zeros(1, dtype=np.int64), start, end, lo[0, :count[0]],
                                       lo[1, :count[1]])))
    for s in range(points.shape[0] - 1):
        a, b = points[s], points[s + 1]
        owner = -1
        for u in range(2):  # the array op owning a, else the vector op owning it
            i = np.searchsorted(lo[u, :count[u]], a, side="right") - 1
            if i >= 0 and a < end[idx[u, i]]:
                owner = idx[u, i]
                break
        if owner < 0:  # else the next op to finish
            owner = by_end[min(np.searchsorted(end_sorted, b, side="left"), n - 1)]
        cycles[owner] += b - a
    return cycles
