"""`offline.static_program` in numba: the same list schedule (`offline.list_schedule`, on `offline.priorities`'
ranking) over dependency arrays, and the same cut into tiles, vectorized. The Python version is the reference
(tests/hwsim/test_program_kernel.py: identical arrays on random graphs). The list schedule depends on the nominal
durations, dependencies and units only, so a caller may keep its result (`list_schedule_arrays`) and cut it for
each tiling (`tile_segments`): the sweep's points share a lowering but not always its tile counts.

The Python version keeps heaps keyed (ready time, rank, op) and (rank, op); ranks are distinct, so a heap's top is
the minimum of a set, and this kernel keeps the sets as short arrays and scans them (they hold the ready frontier).
Every float is computed by the same operations in the same order, so the nominal times are bit for bit the same.
"""
from __future__ import annotations

import numpy as np

from hwsim.dataflow.jit import njit
from hwsim.dataflow.offline import VECTOR, priorities, to_csr


@njit(cache=True, inline="always")
def _set_min(members, lo, count, key, rank):
    """Position in members[lo:lo + count] of the op of least (key, rank)."""
    best = lo
    for i in range(lo + 1, lo + count):
        a, b = members[i], members[best]
        if key[a] < key[b] or (key[a] == key[b] and rank[a] < rank[b]):
            best = i
    return best


@njit(cache=True, inline="always")
def _grown(a, n):
    out = np.empty(2 * a.shape[0], dtype=a.dtype)
    for i in range(n):
        out[i] = a[i]
    return out


@njit(cache=True)
def _schedule(durations, dep_ptr, succ_ptr, succ_idx, unit, rank, cap):
    n = durations.shape[0]
    zero = np.zeros(n)  # the key of an available set: rank alone
    yields = np.zeros(n, dtype=np.int64)
    missing = np.empty(n, dtype=np.int64)
    for j in range(n):
        if unit[j] == VECTOR and succ_ptr[j + 1] == succ_ptr[j]:
            yields[j] = 1
        missing[j] = dep_ptr[j + 1] - dep_ptr[j]
    ready_at = np.zeros(n)
    key = np.zeros(n)  # ready time when released (the heap key)
    done = np.zeros(n)
    # four sets each (unit * 2 + kind), set h in [h * n, h * n + count[h]): released (keyed ready time, rank)
    # and available (keyed rank)
    rel = np.empty(4 * n, dtype=np.int64)
    n_rel = np.zeros(4, dtype=np.int64)
    avail = np.empty(4 * n, dtype=np.int64)
    n_avail = np.zeros(4, dtype=np.int64)
    free = np.zeros(2)
    for j in range(n):
        if missing[j] == 0:
            h = unit[j] * 2 + yields[j]
            rel[h * n + n_rel[h]] = j
            n_rel[h] += 1
    s_op = np.empty(cap, dtype=np.int64)
    s_w0 = np.empty(cap)  # work from, work to, nominal start, nominal end
    s_w1 = np.empty(cap)
    s_t0 = np.empty(cap)
    s_t1 = np.empty(cap)
    n_seg = 0
    scheduled = 0
    times = np.empty(2)
    while scheduled < n:
        for u in range(2):
            if n_avail[u * 2] > 0 or n_avail[u * 2 + 1] > 0:
                times[u] = free[u]
                continue
            first = np.inf
            have = False
            for kind in range(2):
                h = u * 2 + kind
                if n_rel[h] > 0:
                    head = key[rel[_set_min(rel, h * n, n_rel[h], key, rank)]]
                    first = head if not have else min(first, head)
                    have = True
            times[u] = max(free[u], first) if have else np.inf
        u = 0 if times[0] <= times[1] else 1
        now = times[u]
        if now == np.inf:
            raise ValueError("static program: the dependencies have a cycle")
        for kind in range(2):
            h = u * 2 + kind
            i = 0
            while i < n_rel[h]:
                j = rel[h * n + i]
                if key[j] <= now:
                    avail[h * n + n_avail[h]] = j
                    n_avail[h] += 1
                    n_rel[h] -= 1
                    rel[h * n + i] = rel[h * n + n_rel[h]]
                else:
                    i += 1
        h0 = u * 2
        h1 = h0 + 1
        if n_avail[h0] > 0:
            i = _set_min(avail, h0 * n, n_avail[h0], zero, rank)
            j = avail[i]
            n_avail[h0] -= 1
            avail[i] = avail[h0 * n + n_avail[h0]]
            until = now + durations[j] - done[j]
        else:
            j = avail[_set_min(avail, h1 * n, n_avail[h1], zero, rank)]
            horizon = times[0]
            if free[0] > now:
                horizon = min(horizon, free[0])
            if n_rel[h0] > 0:
                horizon = min(horizon, key[rel[_set_min(rel, h0 * n, n_rel[h0], key, rank)]])
            until = min(now + durations[j] - done[j], horizon)
        ends = until >= now + durations[j] - done[j]
        work = durations[j] if ends else done[j] + until - now
        if n_seg > 0 and s_op[n_seg - 1] == j and s_t1[n_seg - 1] == now:  # resumed at once: one segment
            s_w1[n_seg - 1] = work
            s_t1[n_seg - 1] = until
        else:
            if n_seg == s_op.shape[0]:
                s_op, s_w0, s_w1 = _grown(s_op, n_seg), _grown(s_w0, n_seg), _grown(s_w1, n_seg)
                s_t0, s_t1 = _grown(s_t0, n_seg), _grown(s_t1, n_seg)
            s_op[n_seg] = j
            s_w0[n_seg] = done[j]
            s_w1[n_seg] = work
            s_t0[n_seg] = now
            s_t1[n_seg] = until
            n_seg += 1
        done[j] = work
        free[u] = until
        if not ends:
            continue
        if yields[j]:
            for i in range(h1 * n, h1 * n + n_avail[h1]):
                if avail[i] == j:
                    n_avail[h1] -= 1
                    avail[i] = avail[h1 * n + n_avail[h1]]
                    break
        scheduled += 1
        for k in range(succ_ptr[j], succ_ptr[j + 1]):
            s = succ_idx[k]
            ready_at[s] = max(ready_at[s], until)
            missing[s] -= 1
            if missing[s] == 0:
                key[s] = ready_at[s]
                h = unit[s] * 2 + yields[s]
                rel[h * n + n_rel[h]] = s
                n_rel[h] += 1
    return s_op[:n_seg], s_w0[:n_seg], s_w1[:n_seg], s_t0[:n_seg], s_t1[:n_seg]


def successors(dep_ptr: np.ndarray, dep_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The dependency arrays (`offline.to_csr`) turned around: op i is waited for by succ_idx[succ_ptr[i]:...]."""
    n = len(dep_ptr) - 1
    waiter = np.repeat(np.arange(n, dtype=np.int64), np.diff(dep_ptr))
    order = np.argsort(dep_idx, kind="stable")
    ptr = np.zeros(n + 1, dtype=np.int64)
    ptr[1:] = np.cumsum(np.bincount(dep_idx, minlength=n))
    return ptr, waiter[order].astype(np.int64)


def list_schedule_arrays(durations: np.ndarray, deps: list[tuple[int, ...]], unit: np.ndarray,
                         csr: tuple[np.ndarray, np.ndarray] | None = None, capacity: int = 0) -> tuple[np.ndarray, ...]:
    """`offline.list_schedule` as arrays: op, work from, work to, nominal start, nominal end per segment.
    `csr`: the dependencies as `offline.to_csr` arrays, if the caller has them; `capacity`: segments to allocate
    for at first (default 2 per op; more grow the arrays)."""
    durations = np.ascontiguousarray(durations, dtype=np.float64)
    dep_ptr, dep_idx = csr if csr is not None else to_csr(deps)
    succ_ptr, succ_idx = successors(np.asarray(dep_ptr, dtype=np.int64), np.asarray(dep_idx, dtype=np.int64))
    rank = np.empty(len(durations), dtype=np.int64)
    rank[priorities(durations, deps)] = np.arange(len(durations))  # the ranking itself: the Python one
    return _schedule(durations, np.asarray(dep_ptr, dtype=np.int64), succ_ptr, succ_idx,
                     np.ascontiguousarray(unit, dtype=np.int64), rank, max(1, capacity or 2 * len(durations) + 16))


def tile_segments(schedule: tuple[np.ndarray, ...], durations: np.ndarray, tiles: np.ndarray
                  ) -> tuple[np.ndarray, ...]:
    """`offline._tile_segments` vectorized: each segment's work fraction to the nearest tile boundary; empty
    segments go."""
    seg_op, w0, w1, t0, t1 = schedule
    d = np.asarray(durations, dtype=np.float64)[seg_op]
    t = np.asarray(tiles, dtype=np.int64)[seg_op]
    lo = np.minimum(t, np.floor(w0 / d * t + 0.5).astype(np.int64))
    hi = np.where(w1 >= d, t, np.minimum(t, np.floor(w1 / d * t + 0.5).astype(np.int64)))
    keep = hi > lo
    return seg_op[keep], lo[keep], hi[keep], t0[keep], t1[keep]


def static_program_fast(durations: np.ndarray, deps: list[tuple[int, ...]], unit: np.ndarray, tiles: np.ndarray,
                        csr: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, ...]:
    """`offline.static_program`: the same five arrays."""
    return tile_segments(list_schedule_arrays(durations, deps, unit, csr), durations, tiles)
