"""Tile search and tile schedules: map each op onto the array under the buffer capacities.

A GEMM is cut into (m_t, k_t, n_t) tiles walked in one of six loop orders, on the array either
output-stationary (OS: a rows x cols block of C accumulates while k streams), weight-stationary (WS: a
(rows * k_step) x cols block of B is held while m streams) or input-stationary (IS: a (rows * k_step) x cols
block of A, k down the rows and m across the columns, is held while n streams). A tile takes at least the
cycles its A, B and C traffic at the array edge needs at the buffers' port rates (`port_cycles`). Every candidate is scored in closed form
(compute cycles, DRAM bytes, tile count) by the cost model the caller hands in; the winner is expanded
into per-tile arrays that the hardware engine times tile by tile.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from itertools import permutations
import math
from math import prod
from typing import Callable

import numpy as np

from hwsim.dataflow.candidate_kernel import ORDER_AXES
from hwsim.dataflow.ops import GemmOp, VectorOp
from hwsim.dataflow.target import ArrayTarget

CostModel = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
"""(compute cycles, DRAM bytes, tile count) per candidate -> estimated cycles per candidate."""

ORDERS = tuple("".join(p) for p in permutations("mkn"))  # outer -> inner loop
DATAFLOWS = ("os", "ws", "is")


MAX_TILES = 1_000_000  # per op: beyond this the per-tile arrays stop fitting comfortably in memory


class MappingError(ValueError):
    """No tile fits the buffers; the message names the op, the buffer and the sizes."""


class ScheduleTooLarge(ValueError):
    """An op would need more than MAX_TILES tiles (a huge batch or resolution)."""


def _check_size(name: str, tiles: int) -> None:
    if tiles > MAX_TILES:
        raise ScheduleTooLarge(f"{name}: needs {tiles:,} tiles (expected at most {MAX_TILES:,}: "
                               "use a smaller batch or resolution)")


@dataclass(frozen=True)
class Mapping:
    """The chosen way to run a GEMM op: dataflow, loop order and tile sizes."""

    dataflow: str
    order: str
    m_t: int
    k_t: int
    n_t: int


@dataclass(frozen=True)
class Tiles:
    """Per-tile work in execution order: what the engine times."""

    load_bytes: np.ndarray  # int64, DRAM -> buffers before the tile
    store_bytes: np.ndarray  # int64, buffers -> DRAM after the tile
    select_cycles: np.ndarray  # int64, top-N-of-M selection on the loaded B tile (0 when pre-generated)
    compute_cycles: np.ndarray  # int64, PE array or vector engine busy

    def __len__(self) -> int:
        return len(self.compute_cycles)


def _pow2_steps(quantum: int, full: int) -> np.ndarray:
    """quantum * 2^i up to the first value covering `full` (rounded up to the quantum)."""
    top = -(-full // quantum) * quantum
    vals = []
    v = quantum
    while v < top:
        vals.append(v)
        v *= 2
    vals.append(top)
    return np.array(vals, dtype=np.int64)


def _tile_sum(total: int, t: np.ndarray, f) -> np.ndarray:
    """Sum of f(tile) over the tiles of `total` cut into pieces of t (last one partial)."""
    full, rem = np.divmod(total, t)
    return full * f(t) + np.where(rem > 0, f(np.maximum(rem, 1)), 0)


def _cdiv(a, b):
    return -(-a // b)


def _reload(order: str, trips: dict[str, np.ndarray], relevant: str) -> np.ndarray:
    """How many times a tensor indexed by `relevant` loops is re-read: the trip counts of the irrelevant
    loops outside its innermost relevant loop that actually iterates."""
    factor = np.ones_like(trips["m"])
    inner_seen = np.zeros(trips["m"].shape, dtype=bool)
    for loop in reversed(order):  # inner -> outer
        if loop in relevant:
            inner_seen |= trips[loop] > 1
        else:
            factor = np.where(inner_seen, factor * trips[loop], factor)
    return factor


def _b_bytes(op: GemmOp, target: ArrayTarget) -> float:
    return target.b_bytes_per_position(op.nm, compressed=not op.select_on_load)


@dataclass(frozen=True)
class CandidateTable:
    """Every tile size that fits the buffers, scored in closed form per dataflow and per loop order (the same
    numbers `candidates` lists one row per (order, dataflow, tile size), without the rows)."""

    m_t: np.ndarray  # (P,) tile sizes
    k_t: np.ndarray
    n_t: np.ndarray
    compute: np.ndarray  # (3, P): compute cycles per dataflow of DATAFLOWS, all groups
    dram: np.ndarray  # (6, P): DRAM bytes per loop order of ORDERS, all groups
    tiles: np.ndarray  # (P,): tiles, all groups


def candidate_table(op: GemmOp, target: ArrayTarget) -> CandidateTable:
    """The closed forms of every tile size that fits the buffers (raises MappingError if none does)."""
    R, C = target.rows, target.cols
    ks = target.k_step(op.nm)
    mt, kt, nt = np.meshgrid(_pow2_steps(R, op.m), _pow2_steps(ks, op.k), _pow2_steps(C, op.n), indexing="ij")
    mt, kt, nt = mt.ravel(), kt.ravel(), nt.ravel()
    mt, kt, nt = np.minimum(mt, op.m), np.minimum(kt, op.k), np.minimum(nt, op.n)
    eb, acc, bb = target.elem_bytes, target.acc_bytes, _b_bytes(op, target)
    ab = eb / op.a_reuse
    fits = (2 * mt * kt * ab <= target.a_buffer_bytes) & (2 * kt * nt * bb <= target.b_buffer_bytes) & (
        2 * mt * nt * acc <= target.c_buffer_bytes)
    if not fits.any():
        smallest = (min(R, op.m), min(ks, op.k), min(C, op.n))
        raise MappingError(f"{op.name}: smallest tile m,k,n={smallest} does not fit the buffers "
                           f"(A {target.a_buffer_bytes} B, B {target.b_buffer_bytes} B, C {target.c_buffer_bytes} B)")
    mt, kt, nt = mt[fits], kt[fits], nt[fits]
    trips = {"m": _cdiv(op.m, mt), "k": _cdiv(op.k, kt), "n": _cdiv(op.n, nt)}
    tiles = trips["m"] * trips["k"] * trips["n"]
    fill = target.fill_cycles

    s_m = _tile_sum(op.m, mt, lambda t: _cdiv(t, R))  # row blocks over all m tiles
    s_n = _tile_sum(op.n, nt, lambda t: _cdiv(t, C))  # column blocks over all n tiles
    s_mc = _tile_sum(op.m, mt, lambda t: _cdiv(t, C))  # IS: m across the columns
    steps_os = s_m * s_n * _tile_sum(op.k, kt, lambda t: _cdiv(t, ks))
    k_blocks = _tile_sum(op.k, kt, lambda t: _cdiv(t, R * ks))
    if target.interleave:  # block boundaries overlap: fill/drain once per tile, WS preloads hidden
        comp = {"os": steps_os + tiles * fill,
                "ws": _tile_sum(op.m, mt, lambda t: np.maximum(t, R)) * s_n * k_blocks + tiles * fill,
                "is": _tile_sum(op.n, nt, lambda t: np.maximum(t, R)) * s_mc * k_blocks + tiles * fill}
    else:
        comp = {"os": steps_os + s_m * s_n * trips["k"] * fill,
                "ws": _tile_sum(op.m, mt, lambda t: t + R) * s_n * k_blocks + k_blocks * s_n * trips["m"] * fill,
                "is": _tile_sum(op.n, nt, lambda t: t + R) * s_mc * k_blocks + k_blocks * s_mc * trips["n"] * fill}
    # operand traffic at the array edge over all tiles (sums of port_cycles' per-tile bytes), at the port rates
    be = target.b_bytes_per_position(op.nm, compressed=True)  # the PEs get N:M weights either way
    edge = {"os": (op.m * op.k * eb * s_n, op.k * op.n * be * s_m, op.m * op.n * acc * (2 * trips["k"] - 1)),
            "ws": (op.m * op.k * eb * s_n, op.k * op.n * be * trips["m"], op.m * op.n * acc * (2 * k_blocks - 1)),
            "is": (op.m * op.k * eb * trips["n"], op.k * op.n * be * s_mc, op.m * op.n * acc * (2 * k_blocks - 1))}
    for df in DATAFLOWS:
        comp[df] = np.maximum(comp[df], _port_rate(target, *edge[df]))

    size_a, size_b, size_c = op.m * op.k * ab, op.k * op.n * bb, op.m * op.n
    dram = []
    for order in ORDERS:
        ra, rb, rc = _reload(order, trips, "mk"), _reload(order, trips, "kn"), _reload(order, trips, "mn")
        dram.append((size_a * ra + size_b * rb + size_c * (eb + (rc - 1) * 2 * acc)) * op.groups)
    return CandidateTable(mt, kt, nt, np.stack([comp[df] * op.groups for df in DATAFLOWS]), np.stack(dram),
                          tiles * op.groups)


def candidates(op: GemmOp, target: ArrayTarget) -> dict[str, np.ndarray]:
    """All (dataflow, order, m_t, k_t, n_t) that fit the buffers, with closed-form compute, bytes, tiles: one
    row per loop order (outer), dataflow, tile size (inner), the mapper's enumeration order."""
    tab = candidate_table(op, target)
    n, rows = len(tab.m_t), len(ORDERS) * len(DATAFLOWS)
    return {"dataflow": np.tile(np.repeat(np.array(DATAFLOWS), n), len(ORDERS)),
            "order": np.repeat(np.array(ORDERS), len(DATAFLOWS) * n),
            "m_t": np.tile(tab.m_t, rows), "k_t": np.tile(tab.k_t, rows), "n_t": np.tile(tab.n_t, rows),
            "compute": np.tile(tab.compute.ravel(), len(ORDERS)), "dram": np.repeat(tab.dram, len(DATAFLOWS), 0).ravel(),
            "tiles": np.tile(tab.tiles, rows)}


def _port_rate(target: ArrayTarget, a_bytes, b_bytes, c_bytes):
    """Cycles the A, B and C buffer ports need for these bytes (the slowest port; 0 where unlimited)."""
    out = 0
    for nbytes, rate in ((a_bytes, target.a_port_bytes), (b_bytes, target.b_port_bytes),
                         (c_bytes, target.c_port_bytes)):
        if rate:
            out = np.maximum(out, np.ceil(np.asarray(nbytes) / rate).astype(np.int64))
    return out


def port_cycles(op: GemmOp, dataflow: str, target: ArrayTarget, m, k, n, first_k=True):
    """Per tile of m x k x n: cycles the buffer ports need for its traffic at the array edge.

    A goes in once per column block (OS, WS) or once (IS, held); B once per row block (OS), once (WS, held)
    or once per column block of m (IS); FP32 partial sums go out once per pass over an output (OS: the tile;
    WS, IS: each k block of rows x k_step) and come back for every pass after the first (`first_k` False: the
    tile continues an earlier k tile). On-chip im2col reuse is not assumed: a conv's A is the unrolled one.
    """
    R, C, ks = target.rows, target.cols, target.k_step(op.nm)
    eb, acc = target.elem_bytes, target.acc_bytes
    bb = target.b_bytes_per_position(op.nm, compressed=True)  # selected on load or not, the PEs get N:M weights
    passes = 1 if dataflow == "os" else _cdiv(k, R * ks)
    c_bytes = m * n * acc * (2 * passes - np.where(first_k, 1, 0))
    if dataflow == "os":
        edge = (m * k * eb * _cdiv(n, C), k * n * bb * _cdiv(m, R), c_bytes)
    elif dataflow == "ws":
        edge = (m * k * eb * _cdiv(n, C), k * n * bb, c_bytes)
    else:
        edge = (m * k * eb, k * n * bb * _cdiv(m, C), c_bytes)
    return _port_rate(target, *edge)


REFINE_MAX_TILES = 16_384
"""Candidates of more tiles than this are not timed (walking them would cost more than it could change); the set of
candidates timed still only grows with the buffers. If every candidate has more tiles, the estimate decides."""


_FAST = True


def set_fast(enabled: bool) -> None:
    """Search by the cost model's kernel and walk tiles on the fly (fast, the default), or run the same branch and
    bound in Python over every candidate row and per-tile arrays (the plain reference): the same choice either way."""
    global _FAST
    _FAST = bool(enabled)


def clear_caches() -> None:
    """Empty the tile search's memos (a benchmark's cold start)."""
    _best.cache_clear()
    _table.cache_clear()
    vector_chunk.cache_clear()


@lru_cache(maxsize=4096)
def _best(op: GemmOp, target: ArrayTarget, cost: CostModel, dataflows: tuple[str, ...] = DATAFLOWS) -> Mapping:
    return (_best_fast if _FAST else _best_plain)(op, target, cost, dataflows)


@lru_cache(maxsize=256)
def _table(op: GemmOp, target: ArrayTarget) -> CandidateTable:
    """candidate_table by its numba kernel, memoized: sweep points that differ only in the cost model (DRAM)
    share it."""
    from hwsim.dataflow.candidate_kernel import candidate_table_arrays

    arrays = candidate_table_arrays(op, target)
    if len(arrays[0]) == 0:
        candidate_table(op, target)  # raises the MappingError that names the buffers
    return CandidateTable(*arrays)


def edge_bytes(op: GemmOp, target: ArrayTarget, m_t: np.ndarray, k_t: np.ndarray, n_t: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
    """Per tile size: the bytes of the first tile's load (its A and B) and of the last tile's store (the last C
    block, final): the transfers no schedule can overlap with compute, so they bound its time from below."""
    eb, bb = target.elem_bytes, _b_bytes(op, target)
    first = np.ceil(m_t * k_t * (eb / op.a_reuse)).astype(np.int64) + np.ceil(k_t * n_t * bb).astype(np.int64)
    last = (op.m - (_cdiv(op.m, m_t) - 1) * m_t) * (op.n - (_cdiv(op.n, n_t) - 1) * n_t) * eb
    return first, last


def _refine(est: np.ndarray, bound: np.ndarray | None, dram: np.ndarray, tiles: np.ndarray, timed) -> int:
    """The candidate (index into the enumeration) of least exact time (objective) of all those of at most
    REFINE_MAX_TILES tiles, ties to the fewest DRAM bytes, then to the first; the estimate's best if none is that
    small or the cost model cannot time (`bound` None).

    Branch and bound: candidates are timed in order of `bound`, a lower bound of each one's exact time, until the
    next bound exceeds the best time found, so the choice is the true minimum over a set of candidates that only
    grows with the buffers: more buffer can never pick a slower tiling (the old rule, the exact time of the
    estimate's six best, could: a bigger buffer changed the six). `timed(indices)` gives their exact times.
    """
    eligible = np.flatnonzero(tiles <= REFINE_MAX_TILES)
    if bound is None or len(eligible) == 0 or len(est) == 1:
        return int(np.argmin(est))  # first minimum: enumeration order makes the choice deterministic
    seed = int(eligible[np.argmin(est[eligible])])  # the estimate's best: usually close, so few bounds stay below it
    best_time = float(timed(np.array([seed]))[0])
    best = [seed]
    rest = eligible[(bound[eligible] <= best_time) & (eligible != seed)]
    queue = rest[np.argsort(bound[rest], kind="stable")]  # by bound, then enumeration
    pos, batch = 0, 8
    while pos < len(queue) and bound[queue[pos]] <= best_time:
        chunk = queue[pos:pos + batch]
        chunk = chunk[bound[chunk] <= best_time]
        for i, score in zip(chunk.tolist(), timed(chunk)):
            if score < best_time:
                best_time, best = score, [i]
            elif score == best_time:
                best.append(i)
        pos += batch
        batch = min(2 * batch, 64)
    return min(best, key=lambda i: (dram[i], i))


def _bounds(cost, op: GemmOp, target: ArrayTarget, m_t, k_t, n_t, compute, dram, tiles, repeat: int = 1
            ) -> np.ndarray | None:
    """The cost model's lower bound of each candidate's exact objective (None if it has no exact timing); the tile
    sizes repeat `repeat` times along the candidates (the compact table's enumeration)."""
    bound = getattr(cost, "bound", None)
    if getattr(cost, "exact", None) is None or bound is None:
        return None
    first, last = (np.tile(a, repeat) for a in edge_bytes(op, target, m_t, k_t, n_t))
    return bound(compute.astype(np.float64), dram.astype(np.float64), tiles.astype(np.float64), first, last)


def _best_fast(op: GemmOp, target: ArrayTarget, cost: CostModel, dataflows: tuple[str, ...]) -> Mapping:
    """_best_plain's choice from the compact candidate table, the candidates timed by walking their tiles."""
    tab = _table(op, target)
    kept = [d for d, df in enumerate(DATAFLOWS) if df in dataflows]
    n_p, n_d = len(tab.m_t), len(kept)
    rows = len(ORDERS) * n_d
    kept_codes = np.array(kept, dtype=np.int64)  # DATAFLOWS index = the walk's dataflow code

    def mapping(i: int) -> Mapping:
        p = i % n_p
        return Mapping(DATAFLOWS[kept[(i // n_p) % n_d]], ORDERS[i // (n_p * n_d)], int(tab.m_t[p]), int(tab.k_t[p]),
                       int(tab.n_t[p]))

    search = getattr(cost, "search", None)  # the whole search in one kernel, where the cost model has one
    chosen = search(op, target, tab, kept_codes) if search is not None and n_p * rows > 1 else None
    if chosen is not None:
        return mapping(chosen)
    compute = np.tile(tab.compute[kept].ravel(), len(ORDERS))  # enumeration order: order, dataflow, tile size
    dram = np.repeat(tab.dram, n_d, 0).ravel()
    tiles = np.tile(tab.tiles, rows)
    est = cost(compute.astype(np.float64), dram.astype(np.float64), tiles.astype(np.float64))
    bound = _bounds(cost, op, target, tab.m_t, tab.k_t, tab.n_t, compute, dram, tiles, repeat=rows)
    exact_many = getattr(cost, "exact_candidates", None)  # the same times, without Mapping objects or tile arrays

    def timed(indices: np.ndarray):
        if exact_many is None:
            return [cost.exact(gemm_tiles(op, mapping(i), target)) for i in indices.tolist()]
        p = indices % n_p
        sizes = np.stack([tab.m_t[p], tab.k_t[p], tab.n_t[p]], axis=1)
        return exact_many(op, target, sizes, ORDER_AXES[indices // (n_p * n_d)], kept_codes[(indices // n_p) % n_d])

    return mapping(_refine(est, bound, dram, tiles, timed))


def _best_plain(op: GemmOp, target: ArrayTarget, cost: CostModel, dataflows: tuple[str, ...]) -> Mapping:
    cand = candidates(op, target)
    keep = np.isin(cand["dataflow"], dataflows)
    cand = {key: val[keep] for key, val in cand.items()}
    est = cost(cand["compute"].astype(np.float64), cand["dram"].astype(np.float64), cand["tiles"].astype(np.float64))

    def mapping(i: int) -> Mapping:
        return Mapping(str(cand["dataflow"][i]), str(cand["order"][i]), int(cand["m_t"][i]), int(cand["k_t"][i]),
                       int(cand["n_t"][i]))

    bound = _bounds(cost, op, target, cand["m_t"], cand["k_t"], cand["n_t"], cand["compute"], cand["dram"],
                    cand["tiles"])
    return mapping(_refine(est, bound, cand["dram"], cand["tiles"],
                           lambda indices: [cost.exact(gemm_tiles(op, mapping(i), target)) for i in indices.tolist()]))


def map_gemm(op: GemmOp, target: ArrayTarget, cost: CostModel, dataflows: tuple[str, ...] = DATAFLOWS) -> Mapping:
    """The candidate the cost model rates best, among `dataflows` (memoized on the op's shape, the target, the
    cost model and the dataflows: networks repeat shapes)."""
    try:
        anonymous = op if op.name == "" and op.layer == "" else replace(op, name="", layer="")
        return _best(anonymous, target, cost, tuple(dataflows))
    except MappingError as exc:
        raise MappingError(f"{op.name}{exc}") from None


def gemm_tile_count(op: GemmOp, mp: Mapping) -> int:
    """How many tiles ``gemm_tiles`` will produce for this mapping (exact, without building them)."""
    return _cdiv(op.m, mp.m_t) * _cdiv(op.k, mp.k_t) * _cdiv(op.n, mp.n_t) * op.groups


def tile_compute_cycles(dataflow: str, m, k, n, rows: int, cols: int, k_step: int, fill: int,
                        interleave: bool = True):
    """Cycles the PE array spends on one (m, k, n) tile: first operand read to last result out.

    The one timing function of the array: the engine charges it per tile, the mapper's closed forms sum it,
    and the RTL tests (tests/rtl) assert it cycle for cycle against the Verilog. Works on ints or arrays.
    OS: each rows x cols block of C takes ceil(k / k_step) steps. WS: each (rows * k_step) x cols block of B
    streams max(m, rows) rows of A (with interleave the next block's weight preload, `rows` cycles, hides
    under the stream). `fill` (rows + cols + PE pipeline depth: skew in, skew out, PE latency) is paid once
    per tile with interleave mapping, once per block without.
    """
    if dataflow == "os":
        blocks = _cdiv(m, rows) * _cdiv(n, cols)
        return blocks * _cdiv(k, k_step) + (fill if interleave else blocks * fill)
    if dataflow == "ws":
        blocks = _cdiv(k, rows * k_step) * _cdiv(n, cols)
        per_block = np.maximum(m, rows) if interleave else m + rows
        return blocks * per_block + (fill if interleave else blocks * fill)
    if dataflow == "is":  # input-stationary: a (rows * k_step) x cols block of A^T held, n streams
        blocks = _cdiv(k, rows * k_step) * _cdiv(m, cols)
        per_block = np.maximum(n, rows) if interleave else n + rows
        return blocks * per_block + (fill if interleave else blocks * fill)
    raise ValueError(f"dataflow {dataflow!r} (expected 'os', 'ws' or 'is')")


def tile_select_cycles(k, n, group: int, lanes: int, latency: int):
    """Cycles the top-N-of-M selector spends on a dense k x n B tile: first weight in to last group out.

    The k*n/M groups are dealt round-robin to the lanes; a lane takes one weight per cycle (M cycles per
    group), and the last group's result appears `latency` cycles after its last weight.
    """
    return group * _cdiv(_cdiv(k, group) * n, lanes) + latency


@dataclass(frozen=True)
class TileWalk:
    """Where each tile of a GEMM sits and what it reuses, in execution order (one op group): the part of the
    schedule that both the engine's per-tile arrays (`gemm_tiles`) and the RTL's tile program are built from."""

    m0: np.ndarray  # first row, reduction position and column of the tile
    k0: np.ndarray
    n0: np.ndarray
    m: np.ndarray  # the tile's extents (the last tile along an axis may be partial)
    k: np.ndarray
    n: np.ndarray
    new_a: np.ndarray  # bool: another A tile than the previous tile's (loaded)
    new_b: np.ndarray
    new_c: np.ndarray  # another C block than the previous tile's
    first_k: np.ndarray  # the first k tile of its C block (no partial sums before it)
    final_k: np.ndarray  # the last k tile of its C block
    last_c: np.ndarray  # the next tile works on another C block: this one is written out

    def __len__(self) -> int:
        return len(self.m)


def tile_walk(op: GemmOp, mp: Mapping) -> TileWalk:
    """The tiles of one group of `op` under `mp`, walked in the mapping's loop order (outer -> inner)."""
    sizes = {"m": (op.m, mp.m_t), "k": (op.k, mp.k_t), "n": (op.n, mp.n_t)}
    trips = [_cdiv(sizes[ax][0], sizes[ax][1]) for ax in mp.order]
    _check_size(op.name, prod(trips) * op.groups)
    grid = np.indices(trips).reshape(len(trips), -1)
    idx = {ax: grid[i] for i, ax in enumerate(mp.order)}
    ext = {ax: np.minimum(sizes[ax][1], sizes[ax][0] - idx[ax] * sizes[ax][1]) for ax in "mkn"}

    def changed(axes: str) -> np.ndarray:
        diff = np.zeros(len(ext["m"]), dtype=bool)
        diff[0] = True
        for ax in axes:
            diff[1:] |= idx[ax][1:] != idx[ax][:-1]
        return diff

    new_c = changed("mn")
    return TileWalk(idx["m"] * mp.m_t, idx["k"] * mp.k_t, idx["n"] * mp.n_t, ext["m"], ext["k"], ext["n"],
                    changed("mk"), changed("kn"), new_c, idx["k"] == 0,
                    idx["k"] == trips[mp.order.index("k")] - 1, np.append(new_c[1:], True))


def gemm_tiles(op: GemmOp, mp: Mapping, target: ArrayTarget) -> Tiles:
    """Expand a mapping into per-tile loads, stores, selection and compute, in loop order."""
    R, C, ks = target.rows, target.cols, target.k_step(op.nm)
    eb, acc, bb = target.elem_bytes, target.acc_bytes, _b_bytes(op, target)
    ab = eb / op.a_reuse
    w = tile_walk(op, mp)
    m, k, n = w.m, w.k, w.n
    load = (w.new_a * np.ceil(m * k * ab).astype(np.int64) + w.new_b * np.ceil(k * n * bb).astype(np.int64)
            + (w.new_c & ~w.first_k) * m * n * acc)  # A, B, and partial sums when k is not innermost
    store = w.last_c * m * n * np.where(w.final_k, eb, acc)
    group = op.nm.group if op.nm is not None else 1
    select = np.where(w.new_b & op.select_on_load,
                      op.select_passes * tile_select_cycles(k, n, group, target.select_lanes, target.select_latency),
                      0)
    compute = tile_compute_cycles(mp.dataflow, m, k, n, R, C, ks, target.fill_cycles, target.interleave)
    compute = np.maximum(compute, port_cycles(op, mp.dataflow, target, m, k, n, w.first_k))
    arrays = [a.astype(np.int64) for a in (load, store, select, compute)]
    if op.groups > 1:
        arrays = [np.tile(a, op.groups) for a in arrays]
    return Tiles(*arrays)


def split_banks(target: ArrayTarget, a_share: float, c_share: float) -> tuple[ArrayTarget, ArrayTarget]:
    """(GEMM tiles' target, vector passes' target) when both units run at once (offline scheduling).

    The A and C buffers are banked; vector passes own `a_share` of A's banks and `c_share` of C's, and with
    them the same share of each buffer's capacity and port bytes per cycle (banks are alike, each with its own
    ports); GEMM tiles get the rest. So neither unit sees bandwidth the other one uses. B is the array's alone.
    """
    def cut(total: int, share: float) -> int:
        return max(1, int(total * share)) if total else 0

    res_a, res_c = cut(target.a_buffer_bytes, a_share), cut(target.c_buffer_bytes, c_share)
    port_a, port_c = cut(target.a_port_bytes, a_share), cut(target.c_port_bytes, c_share)
    vector = replace(target, a_buffer_bytes=res_a, c_buffer_bytes=res_c, a_port_bytes=port_a, c_port_bytes=port_c)
    gemm = replace(target, a_buffer_bytes=target.a_buffer_bytes - res_a, c_buffer_bytes=target.c_buffer_bytes - res_c,
                   a_port_bytes=target.a_port_bytes - port_a, c_port_bytes=target.c_port_bytes - port_c)
    return gemm, vector


VECTOR_CHUNK_BYTES = 256 * 1024  # long DRAM bursts, yet small enough to pipeline load, compute and store
VECTOR_CHUNK_FLOOR = 64 * 1024
"""Smallest chunk (bytes read) the chunk search times. Smaller chunks shorten a pass's fill and drain further but
multiply its tiles, and the simulation's time grows with them (32 KiB: the same monotonicity, a sweep 40% slower
than 256 KiB chunks; 128 KiB: no slowdown, but a bank share under 256 KiB falls below the floor, see below)."""


def _vector_limit(op: VectorOp, target: ArrayTarget) -> int:
    """Most elements per chunk: double-buffered in the A (in) and C (out) shares, at most 256 KiB read."""
    per_chunk = min(target.a_buffer_bytes // (2 * max(op.read_bytes_per_elem, 1e-9)),
                    target.c_buffer_bytes // (2 * max(op.write_bytes_per_elem, 1e-9)),
                    VECTOR_CHUNK_BYTES // max(op.read_bytes_per_elem, 1e-9))
    return max(1, int(min(per_chunk, op.elems)))


def vector_chunk_candidates(op: VectorOp, target: ArrayTarget) -> list[int]:
    """Chunk sizes (elements) the search times, ascending: the powers of two from the one reading at least
    VECTOR_CHUNK_FLOOR bytes up to the limit, and the whole pass when it fits. Whether a size is in the set
    depends only on whether it fits, so more buffer only adds candidates (the chosen chunk's time alone cannot
    grow). A share below the floor gets the limit alone: that one is not nested (it grows with the share)."""
    limit = _vector_limit(op, target)
    floor = 1 << max(0, math.ceil(math.log2(max(VECTOR_CHUNK_FLOOR / max(op.read_bytes_per_elem, 1e-9), 1))))
    sizes = []
    size = floor
    while size <= limit:
        if _cdiv(op.elems, size) <= MAX_TILES:
            sizes.append(size)
        size *= 2
    if limit == op.elems and op.elems not in sizes:
        sizes.append(op.elems)
    return sizes or [limit]


@lru_cache(maxsize=4096)
def vector_chunk(op: VectorOp, target: ArrayTarget, cost: CostModel) -> int:
    """Elements per chunk of a vector pass: of `vector_chunk_candidates`, the one whose tiles the cost model's
    `exact` (the tile pipeline engine, the op alone) times fastest, ties to the smaller chunk (memoized on the
    op's shape, the target and the cost model). An optimizer step under a cost model for background work
    (`background`: offline scheduling, where those steps fill the vector engine's gaps) takes the smallest chunk:
    it yields at chunk boundaries, and its DMA requests, queued between the critical path's, stay short."""
    sizes = vector_chunk_candidates(op, target)
    if op.kind == "update" and getattr(cost, "background", False):
        return sizes[0]
    exact = getattr(cost, "exact", None)
    if exact is None or len(sizes) == 1:
        return sizes[-1]
    exact_many = getattr(cost, "exact_chunks", None) if _FAST else None  # the same times, without tile arrays
    times = (exact_many(op, target, sizes) if exact_many is not None
             else [exact(vector_tiles(op, target, size)) for size in sizes])
    return sizes[times.index(min(times))]  # the first minimum: the smallest of the fastest


def vector_tile_count(op: VectorOp, target: ArrayTarget, chunk: int | None = None) -> int:
    """How many tiles ``vector_tiles`` will produce (exact, without building them)."""
    return _cdiv(op.elems, chunk or _vector_limit(op, target))


def vector_tiles(op: VectorOp, target: ArrayTarget, chunk: int | None = None) -> Tiles:
    """Stream a vector pass in chunks of `chunk` elements (default: the most the buffers hold, at most 256 KiB
    read), double-buffered in the A (in) and C (out) buffers; a chunk takes at least the cycles its elements
    need on the lanes (and the selector) and its bytes need at the A (read) and C (write) port rates."""
    chunk = chunk or _vector_limit(op, target)
    full, rem = divmod(op.elems, chunk)
    _check_size(op.name, full + (rem > 0))
    elems = np.append(np.full(full, chunk, dtype=np.int64), [rem] if rem else []).astype(np.int64)
    work = np.maximum(_cdiv(np.ceil(elems * op.ops_per_elem).astype(np.int64), target.vector_lanes),
                      _cdiv(elems * op.select_passes, target.select_lanes))
    # the input is read through the A buffer's ports and the output written through the C buffer's
    work = np.maximum(work, _port_rate(target, np.ceil(elems * op.read_bytes_per_elem), 0,
                                       np.ceil(elems * op.write_bytes_per_elem)))
    return Tiles(np.ceil(elems * op.read_bytes_per_elem).astype(np.int64),
                 np.ceil(elems * op.write_bytes_per_elem).astype(np.int64),
                 np.zeros(len(elems), dtype=np.int64),
                 work + target.vector_latency)
