"""The mapper's exact timing in numba: a GEMM's tile walk timed by the tile pipeline, and the search over it.

`walk_times` gives, for each candidate mapping of one GEMM op, the cycles and DRAM bytes that
`tiling.gemm_tiles` + `run_pipeline` give (the op alone, from cycle 0), each tile's loads, stores, selection
and compute computed as the walk goes (`walk_arrays`, also the engine's per-tile arrays of the chosen
mapping). It is the same arithmetic in the same order (so the same integers and the same float roundings);
`gemm_tiles` and `walk_times_reference` are the array paths they are checked against (tests/hwsim/test_walk.py).
`branch_and_bound` is the mapper's whole search for the latency objective (`tiling._refine` in one call).
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from hwsim.dataflow.candidate_kernel import _cdiv, _port  # the closed forms and the walk share their rounding
from hwsim.dataflow.jit import njit
from hwsim.engine.pipeline import NO_CUTOFF, pipeline_time

DATAFLOW_CODES = {"os": 0, "ws": 1, "is": 2}
AXES = "mkn"


def order_codes(order: str) -> tuple[int, int, int]:
    """A loop order ("mkn", outer -> inner) as axis indices (m 0, k 1, n 2)."""
    codes = _ORDER_CODES.get(order)
    if codes is None:
        codes = _ORDER_CODES[order] = tuple(AXES.index(ax) for ax in order)
    return codes


_ORDER_CODES: dict[str, tuple[int, int, int]] = {}


@njit(cache=True, inline="always")
def _tile_work(m, k, n, first_k, df, eb, bb_edge, acc, rows, cols, k_step, fill, interleave, a_port, b_port, c_port):
    """Cycles of one m x k x n tile on the array: its compute, stretched to its traffic at the buffer ports
    (tiling.tile_compute_cycles and tiling.port_cycles)."""
    if df == 0:
        blocks = _cdiv(m, rows) * _cdiv(n, cols)
        wk = blocks * _cdiv(k, k_step) + (fill if interleave else blocks * fill)
        passes = np.int64(1)
    else:
        per_block = n if df == 2 else m
        blocks = _cdiv(k, rows * k_step) * (_cdiv(m, cols) if df == 2 else _cdiv(n, cols))
        stream = max(per_block, rows) if interleave else per_block + rows
        wk = blocks * stream + (fill if interleave else blocks * fill)
        passes = _cdiv(k, rows * k_step)
    c_bytes = m * n * acc * (2 * passes - (1 if first_k else 0))
    port = np.int64(0)
    if df == 0:
        port = _port(m * k * eb * _cdiv(n, cols), a_port, port)
        port = _port(k * n * bb_edge * _cdiv(m, rows), b_port, port)
    elif df == 1:
        port = _port(m * k * eb * _cdiv(n, cols), a_port, port)
        port = _port(k * n * bb_edge, b_port, port)
    else:
        port = _port(m * k * eb, a_port, port)
        port = _port(k * n * bb_edge * _cdiv(m, cols), b_port, port)
    port = _port(c_bytes, c_port, port)
    return max(wk, port)


A_LOAD, B_LOAD, SELECT, C_ACC, C_OUT = range(5)  # _fill's per-class table: what a tile loads, selects, stores


@njit(cache=True, inline="always")
def _axis_index(ax, o0, o1, a, b, c):
    """The index along axis `ax` of the tile at loop indices (a, b, c), loops o0 (outer), o1, o2 (inner)."""
    return a if o0 == ax else (b if o1 == ax else c)


@njit(cache=True)
def _fill(load, store, select, work, m_t, k_t, n_t, o0, o1, o2, df, dims, groups, ab, bb_load, bb_edge, eb, acc, rows,
          cols, k_step, fill, interleave, select_on_load, select_passes, sel_group, sel_lanes, sel_latency, a_port,
          b_port, c_port):
    """Write the per-tile arrays of one mapping (tiling.gemm_tiles' arithmetic, tile by tile).

    Along each axis a tile has the full size (class 0) or, the last one, the remainder (class 1): a tile's bytes
    and cycles depend only on its classes (and on whether it is the first k tile), so they are computed once per
    class and the walk, nested loops in the mapping's order, looks them up."""
    trips = (_cdiv(dims[0], m_t), _cdiv(dims[1], k_t), _cdiv(dims[2], n_t))
    ext_m = (m_t, dims[0] - (trips[0] - 1) * m_t)  # the extent of each class
    ext_k = (k_t, dims[1] - (trips[1] - 1) * k_t)
    ext_n = (n_t, dims[2] - (trips[2] - 1) * n_t)
    table = np.zeros((5, 2, 2), dtype=np.int64)  # A_LOAD [m, k class], B_LOAD and SELECT [k, n], C_* [m, n]
    for x in range(2):
        for y in range(2):
            table[A_LOAD, x, y] = np.int64(math.ceil(ext_m[x] * ext_k[y] * ab))
            k, n = ext_k[x], ext_n[y]
            table[B_LOAD, x, y] = np.int64(math.ceil(k * n * bb_load))
            if select_on_load:
                table[SELECT, x, y] = select_passes * (sel_group * _cdiv(_cdiv(k, sel_group) * n, sel_lanes)
                                                       + sel_latency)
            table[C_ACC, x, y] = ext_m[x] * ext_n[y] * acc  # the C block's partial sums
            table[C_OUT, x, y] = ext_m[x] * ext_n[y] * eb  # and its final values
    cycles = np.full((2, 2, 2, 2), -1, dtype=np.int64)  # [m, k, n class, first k tile], computed as met
    per_group = trips[0] * trips[1] * trips[2]
    pm, pk, pn = -1, -1, -1  # the previous tile's indices
    i = 0
    for a in range(trips[o0]):  # outer -> inner: the innermost loop varies fastest
        for b in range(trips[o1]):
            for c in range(trips[o2]):
                im, ik, i_n = _axis_index(0, o0, o1, a, b, c), _axis_index(1, o0, o1, a, b, c), _axis_index(
                    2, o0, o1, a, b, c)
                cm = 1 if im == trips[0] - 1 else 0
                ck = 1 if ik == trips[1] - 1 else 0
                cn = 1 if i_n == trips[2] - 1 else 0
                new_a = im != pm or ik != pk
                new_b = ik != pk or i_n != pn
                new_c = im != pm or i_n != pn
                first_k = ik == 0
                pm, pk, pn = im, ik, i_n
                ld = np.int64(0)
                if new_a:
                    ld += table[A_LOAD, cm, ck]
                if new_b:
                    ld += table[B_LOAD, ck, cn]
                if new_c and not first_k:
                    ld += table[C_ACC, cm, cn]
                if not new_c:  # the previous tile's C block goes on: it is not written out after that tile
                    store[i - 1] = 0
                store[i] = table[C_OUT if ck == 1 else C_ACC, cm, cn]  # the C block out (final or partial sums)
                load[i] = ld
                select[i] = table[SELECT, ck, cn] if new_b else 0
                fk = 1 if first_k else 0
                wk = cycles[cm, ck, cn, fk]
                if wk < 0:
                    wk = cycles[cm, ck, cn, fk] = _tile_work(
                        ext_m[cm], ext_k[ck], ext_n[cn], first_k, df, eb, bb_edge, acc, rows, cols, k_step, fill,
                        interleave, a_port, b_port, c_port)
                work[i] = wk
                i += 1
    for g in range(1, groups):  # every group walks the same tiles
        for i in range(per_group):
            t = g * per_group + i
            load[t], store[t], select[t], work[t] = load[i], store[i], select[i], work[i]
    return per_group * groups


@njit(cache=True)
def walk_arrays(m_t, k_t, n_t, o0, o1, o2, df, dims, groups, ab, bb_load, bb_edge, eb, acc, rows, cols, k_step,
                fill, interleave, select_on_load, select_passes, sel_group, sel_lanes, sel_latency, a_port, b_port,
                c_port):
    """The per-tile load, store, select and compute arrays of one mapping (all groups)."""
    total = _cdiv(dims[0], m_t) * _cdiv(dims[1], k_t) * _cdiv(dims[2], n_t) * groups
    load = np.empty(total, dtype=np.int64)
    store = np.empty(total, dtype=np.int64)
    select = np.empty(total, dtype=np.int64)
    work = np.empty(total, dtype=np.int64)
    _fill(load, store, select, work, m_t, k_t, n_t, o0, o1, o2, df, dims, groups, ab, bb_load, bb_edge, eb, acc,
          rows, cols, k_step, fill, interleave, select_on_load, select_passes, sel_group, sel_lanes, sel_latency,
          a_port, b_port, c_port)
    return load, store, select, work


@njit(cache=True)
def walk_times(tiles, orders, dataflows, dims, groups, ab, bb_load, bb_edge, eb, acc, rows, cols, k_step, fill,
               interleave, select_on_load, select_passes, sel_group, sel_lanes, sel_latency, a_port, b_port, c_port,
               bytes_per_cycle, latency):
    """Cycles and DRAM bytes of each candidate: tiles[i] = (m_t, k_t, n_t), orders[i] its loop axes outer ->
    inner (0 m, 1 k, 2 n), dataflows[i] 0 os / 1 ws / 2 is; dims = (m, k, n) of one group."""
    n_cand = tiles.shape[0]
    cycles = np.zeros(n_cand, dtype=np.int64)
    dram = np.zeros(n_cand, dtype=np.int64)
    for c in range(n_cand):
        load, store, select, work = walk_arrays(
            tiles[c, 0], tiles[c, 1], tiles[c, 2], orders[c, 0], orders[c, 1], orders[c, 2], dataflows[c], dims,
            groups, ab, bb_load, bb_edge, eb, acc, rows, cols, k_step, fill, interleave, select_on_load,
            select_passes, sel_group, sel_lanes, sel_latency, a_port, b_port, c_port)
        cycles[c] = pipeline_time(load, store, select, work, bytes_per_cycle, latency, NO_CUTOFF)
        dram[c] = load.sum() + store.sum()
    return cycles, dram


@njit(cache=True)
def _loops_that_move(o, trips, order_axes):
    """Loop order o with the loops of one trip left out, as a base-4 code (axis + 1 per moving loop)."""
    code = 0
    for j in range(3):
        ax = order_axes[o, j]
        if trips[ax] > 1:
            code = code * 4 + ax + 1
    return code


@njit(cache=True)
def _repeats_order(o, m_t, k_t, n_t, dims, order_axes):
    """Whether an earlier loop order walks this tile size's tiles in the same sequence (loops of one trip do not
    move): then it has the same time and DRAM bytes and a lower index, so this one can never be chosen."""
    trips = (_cdiv(dims[0], m_t), _cdiv(dims[1], k_t), _cdiv(dims[2], n_t))
    code = _loops_that_move(o, trips, order_axes)
    for earlier in range(o):
        if _loops_that_move(earlier, trips, order_axes) == code:
            return True
    return False


@njit(cache=True)
def branch_and_bound(m_t, k_t, n_t, compute, dram, tiles, kept, order_axes, max_tiles, dims, groups, ab, bb_load,
                     bb_edge, eb, acc, rows, cols, k_step, fill, interleave, select_on_load, select_passes, sel_group,
                     sel_lanes, sel_latency, a_port, b_port, c_port, bytes_per_cycle, latency):
    """`tiling._refine` for the latency objective over the compact candidate table (compute (3, P) per dataflow,
    dram (6, P) per loop order, tiles (P,)), candidate i enumerated as (order, kept dataflow, tile size): the
    index of least exact cycles among candidates of at most max_tiles tiles, ties to the fewest table DRAM bytes,
    then the lowest index; -1 if no candidate is that small. The lower bound is `RooflineCost.bound`'s; a
    candidate's walk stops once past the best time found."""
    n_p = m_t.shape[0]
    n_d = kept.shape[0]
    n = 6 * n_d * n_p
    bound = np.empty(n)
    edges = np.empty(n_p)  # the first load and the last store, which no compute overlaps
    t_f = np.empty(n_p)
    dram_cycles = np.empty((6, n_p))
    inv = 1.0 / bytes_per_cycle
    for p in range(n_p):
        m, k, nn = m_t[p], k_t[p], n_t[p]
        first = math.ceil(m * k * ab) + math.ceil(k * nn * bb_load)
        last = (dims[0] - (_cdiv(dims[0], m) - 1) * m) * (dims[2] - (_cdiv(dims[2], nn) - 1) * nn) * eb
        edges[p] = 2.0 * latency + math.ceil(first / bytes_per_cycle) + math.ceil(last / bytes_per_cycle)
        t_f[p] = float(tiles[p])
        for o in range(6):
            dram_cycles[o, p] = dram[o, p] * inv
    seed = -1
    best_est = np.inf
    i = 0
    for o in range(6):
        for dd in range(n_d):
            df = kept[dd]
            for p in range(n_p):
                c = float(compute[df, p])
                t = t_f[p]
                dma = dram_cycles[o, p] + 2.0 * t * latency
                bound[i] = max(c + edges[p], dram_cycles[o, p] + t * latency) * (1 - 1e-9)
                longer = c if c >= dma else dma
                if tiles[p] <= max_tiles and longer < best_est:  # the estimate is at least `longer`
                    e = longer + (c if c <= dma else dma) / t  # the roofline estimate: the seed
                    if e < best_est:
                        seed, best_est = i, e
                i += 1
    if seed < 0:
        return -1

    size = 0  # the per-tile arrays of the longest walk, allocated once
    for p in range(n_p):
        if tiles[p] <= max_tiles:
            size = max(size, tiles[p])
    load, store, select, work = (np.empty(size, dtype=np.int64), np.empty(size, dtype=np.int64),
                                 np.empty(size, dtype=np.int64), np.empty(size, dtype=np.int64))

    def walk(i, cutoff):
        p = i % n_p
        o = i // (n_d * n_p)
        count = _fill(load, store, select, work, m_t[p], k_t[p], n_t[p], order_axes[o, 0], order_axes[o, 1],
                      order_axes[o, 2], kept[(i // n_p) % n_d], dims, groups, ab, bb_load, bb_edge, eb, acc, rows,
                      cols, k_step, fill, interleave, select_on_load, select_passes, sel_group, sel_lanes,
                      sel_latency, a_port, b_port, c_port)
        return pipeline_time(load[:count], store[:count], select[:count], work[:count], bytes_per_cycle, latency,
                             cutoff)

    best_time = walk(seed, NO_CUTOFF)
    best = seed
    queue = np.empty(n, dtype=np.int64)
    count = 0
    i = 0
    for o in range(6):  # the enumeration again; the bound first: few candidates pass it
        for dd in range(n_d):
            for p in range(n_p):
                if bound[i] <= best_time and i != seed and tiles[p] <= max_tiles and not _repeats_order(
                        o, m_t[p], k_t[p], n_t[p], dims, order_axes):
                    queue[count] = i
                    count += 1
                i += 1
    queue = queue[:count]
    order = np.argsort(bound[queue], kind="mergesort")  # by bound, then index (stable)
    for q in range(count):
        i = queue[order[q]]
        if bound[i] > best_time:
            break
        cycles = walk(i, best_time)
        if cycles > best_time:
            continue
        d_i, d_best = dram[i // (n_d * n_p), i % n_p], dram[best // (n_d * n_p), best % n_p]
        if cycles < best_time or d_i < d_best or (d_i == d_best and i < best):
            best_time, best = cycles, i
    return best


def walk_times_reference(op, target, mappings, bytes_per_cycle: float, latency: int) -> tuple[list[int], list[int]]:
    """The same through the per-tile arrays: `tiling.gemm_tiles` timed by the plain `run_reference`."""
    from hwsim.dataflow.tiling import gemm_tiles
    from hwsim.engine.reference import run_reference

    cycles, dram = [], []
    for mp in mappings:
        tl = gemm_tiles(op, mp, target)
        offsets = np.array([0, len(tl)], dtype=np.int64)
        cycles.append(int(run_reference(offsets, tl.load_bytes, tl.store_bytes, tl.select_cycles, tl.compute_cycles,
                                        bytes_per_cycle, latency)[0][0]))
        dram.append(int(tl.load_bytes.sum() + tl.store_bytes.sum()))
    return cycles, dram


@lru_cache(maxsize=1024)
def _op_args(op, target) -> tuple:
    """The op's and target's numbers the kernels take, derived as tiling.gemm_tiles derives them."""
    nm = op.nm
    return (np.array([op.m, op.k, op.n], dtype=np.int64), op.groups, float(target.elem_bytes / op.a_reuse),
            float(target.b_bytes_per_position(nm, compressed=not op.select_on_load)),
            float(target.b_bytes_per_position(nm, compressed=True)), target.elem_bytes, target.acc_bytes,
            target.rows, target.cols, target.k_step(nm), target.fill_cycles, bool(target.interleave),
            bool(op.select_on_load), op.select_passes, nm.group if nm is not None else 1, target.select_lanes,
            target.select_latency, target.a_port_bytes, target.b_port_bytes, target.c_port_bytes)


def gemm_walk_times(op, target, mappings, bytes_per_cycle: float, latency: int) -> tuple[np.ndarray, np.ndarray]:
    """`walk_times` for these tiling.Mapping candidates of GemmOp `op` on ArrayTarget `target`."""
    rows = np.array([(mp.m_t, mp.k_t, mp.n_t, *order_codes(mp.order), DATAFLOW_CODES[mp.dataflow])
                     for mp in mappings], dtype=np.int64).reshape(-1, 7)
    tiles, orders, dataflows = (np.ascontiguousarray(rows[:, cut]) for cut in (slice(0, 3), slice(3, 6), 6))
    return walk_times(tiles, orders, dataflows, *_op_args(op, target), float(bytes_per_cycle), int(latency))


def gemm_walk_tiles(op, target, mp) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """`tiling.gemm_tiles`' four arrays (load, store, select, compute) for one mapping, by `walk_arrays` (the
    caller checks the tile count against tiling.MAX_TILES first)."""
    return walk_arrays(mp.m_t, mp.k_t, mp.n_t, *order_codes(mp.order), DATAFLOW_CODES[mp.dataflow],
                       *_op_args(op, target))
