"""`tiling.candidate_table` in one numba pass: the same closed forms, element by element, in the same order of
operations (so the same integers and float roundings); the numpy `candidate_table` is its reference
(tests/dataflow/test_candidate_kernel.py). The mapper calls it for every GEMM shape: the numpy version spends
its time in a hundred small array operations per shape.
"""
from __future__ import annotations

import math

import numpy as np

from hwsim.dataflow.jit import njit
from hwsim.dataflow.ops import GemmOp
from hwsim.dataflow.target import ArrayTarget

# loop orders of tiling.ORDERS ("mkn", "mnk", "kmn", "knm", "nmk", "nkm") as axis indices, outer -> inner
ORDER_AXES = np.array([[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]], dtype=np.int64)


@njit(cache=True, inline="always")
def _cdiv(a, b):
    return -(-a // b)


@njit(cache=True)
def _steps(quantum, full):
    top = _cdiv(full, quantum) * quantum
    count = 1
    v = quantum
    while v < top:
        count += 1
        v *= 2
    out = np.empty(count, dtype=np.int64)
    v = quantum
    for i in range(count - 1):
        out[i] = v
        v *= 2
    out[count - 1] = top
    return out


@njit(cache=True, inline="always")
def _sum_div(total, t, d):
    """_tile_sum(total, t, lambda t: ceil(t / d))."""
    full = total // t
    rem = total - full * t
    return full * _cdiv(t, d) + (_cdiv(rem, d) if rem > 0 else 0)


@njit(cache=True, inline="always")
def _sum_max(total, t, r):
    full = total // t
    rem = total - full * t
    return full * max(t, r) + (max(rem, r) if rem > 0 else 0)


@njit(cache=True, inline="always")
def _sum_add(total, t, r):
    full = total // t
    rem = total - full * t
    return full * (t + r) + ((rem + r) if rem > 0 else 0)


@njit(cache=True, inline="always")
def _port(nbytes, rate, out):
    if rate == 0:
        return out
    return max(out, np.int64(math.ceil(nbytes / rate)))


@njit(cache=True)
def candidate_arrays(M, K, N, groups, ab, bb, be, eb, acc, R, C, ks, fill, interleave, a_buf, b_buf, c_buf,
                     a_port, b_port, c_port, order_axes):
    """(m_t, k_t, n_t, compute (3, P), dram (6, P), tiles) of every fitting tile size; P = 0 if none fits."""
    sm, sk, sn = _steps(R, M), _steps(ks, K), _steps(C, N)
    total = sm.shape[0] * sk.shape[0] * sn.shape[0]
    mt = np.empty(total, dtype=np.int64)
    kt = np.empty(total, dtype=np.int64)
    nt = np.empty(total, dtype=np.int64)
    p = 0
    for a in range(sm.shape[0]):  # meshgrid order: m outer, k, n inner
        for b in range(sk.shape[0]):
            for c in range(sn.shape[0]):
                m, k, n = min(sm[a], M), min(sk[b], K), min(sn[c], N)
                if 2 * m * k * ab <= a_buf and 2 * k * n * bb <= b_buf and 2 * m * n * acc <= c_buf:
                    mt[p], kt[p], nt[p] = m, k, n
                    p += 1
    compute = np.empty((3, p), dtype=np.int64)
    dram = np.empty((6, p), dtype=np.float64)
    tiles = np.empty(p, dtype=np.int64)
    size_a, size_b, size_c = M * K * ab, K * N * bb, M * N
    trips = np.empty(3, dtype=np.int64)
    for i in range(p):
        m, k, n = mt[i], kt[i], nt[i]
        tm, tk, tn = _cdiv(M, m), _cdiv(K, k), _cdiv(N, n)
        t = tm * tk * tn
        s_m = _sum_div(M, m, R)
        s_n = _sum_div(N, n, C)
        s_mc = _sum_div(M, m, C)
        steps_os = s_m * s_n * _sum_div(K, k, ks)
        k_blocks = _sum_div(K, k, R * ks)
        if interleave:
            c_os = steps_os + t * fill
            c_ws = _sum_max(M, m, R) * s_n * k_blocks + t * fill
            c_is = _sum_max(N, n, R) * s_mc * k_blocks + t * fill
        else:
            c_os = steps_os + s_m * s_n * tk * fill
            c_ws = _sum_add(M, m, R) * s_n * k_blocks + k_blocks * s_n * tm * fill
            c_is = _sum_add(N, n, R) * s_mc * k_blocks + k_blocks * s_mc * tn * fill
        p_os = _port(M * K * eb * s_n, a_port, np.int64(0))
        p_os = _port(K * N * be * s_m, b_port, p_os)
        p_os = _port(M * N * acc * (2 * tk - 1), c_port, p_os)
        p_ws = _port(M * K * eb * s_n, a_port, np.int64(0))
        p_ws = _port(K * N * be * tm, b_port, p_ws)
        p_ws = _port(M * N * acc * (2 * k_blocks - 1), c_port, p_ws)
        p_is = _port(M * K * eb * tn, a_port, np.int64(0))
        p_is = _port(K * N * be * s_mc, b_port, p_is)
        p_is = _port(M * N * acc * (2 * k_blocks - 1), c_port, p_is)
        compute[0, i] = max(c_os, p_os) * groups
        compute[1, i] = max(c_ws, p_ws) * groups
        compute[2, i] = max(c_is, p_is) * groups
        tiles[i] = t * groups
        trips[0], trips[1], trips[2] = tm, tk, tn
        for o in range(6):
            # tiling._reload for A (m, k), B (k, n), C (m, n): the trips of the irrelevant loops outside the
            # innermost relevant loop that iterates
            ra, rb, rc = np.int64(1), np.int64(1), np.int64(1)
            seen_a, seen_b, seen_c = False, False, False
            for j in range(2, -1, -1):
                ax = order_axes[o, j]
                moves = trips[ax] > 1
                if ax == 2:
                    if seen_a:
                        ra = ra * trips[ax]
                else:
                    seen_a = seen_a or moves
                if ax == 0:
                    if seen_b:
                        rb = rb * trips[ax]
                else:
                    seen_b = seen_b or moves
                if ax == 1:
                    if seen_c:
                        rc = rc * trips[ax]
                else:
                    seen_c = seen_c or moves
            dram[o, i] = (size_a * ra + size_b * rb + size_c * (eb + (rc - 1) * 2 * acc)) * groups
    return mt[:p].copy(), kt[:p].copy(), nt[:p].copy(), compute, dram, tiles


def candidate_table_arrays(op: GemmOp, target: ArrayTarget):
    """candidate_arrays for one op on one target (the arguments as `tiling.candidate_table` derives them)."""
    eb, acc = target.elem_bytes, target.acc_bytes
    return candidate_arrays(
        op.m, op.k, op.n, op.groups, float(eb / op.a_reuse),
        float(target.b_bytes_per_position(op.nm, compressed=not op.select_on_load)),
        float(target.b_bytes_per_position(op.nm, compressed=True)), eb, acc, target.rows, target.cols,
        target.k_step(op.nm), target.fill_cycles, bool(target.interleave), target.a_buffer_bytes,
        target.b_buffer_bytes, target.c_buffer_bytes, target.a_port_bytes, target.b_port_bytes, target.c_port_bytes,
        ORDER_AXES)
