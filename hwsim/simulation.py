"""`simulate`: one training iteration of a model on a SAT configuration, timed tile by tile."""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass, fields, replace
from functools import lru_cache

import numpy as np

from hwsim import models
from hwsim.dataflow.lowering import Lowering, lower
from hwsim.dataflow.ops import GemmOp, Phase, VectorOp
from hwsim.dataflow.sparsity import NM, Method, SparsityError, resolve
from hwsim.dataflow.offline import dependencies, nominal_durations, static_program, to_csr, units
from hwsim.dataflow.program_kernel import list_schedule_arrays, static_program_fast, tile_segments
from hwsim.dataflow import tiling
from hwsim.dataflow.candidate_kernel import ORDER_AXES
from hwsim.dataflow.tiling import (DATAFLOWS, MappingError, ScheduleTooLarge, Tiles, gemm_tile_count, gemm_tiles,
                                   map_gemm, split_banks, vector_chunk, vector_tile_count,
                                   vector_tiles)
from hwsim.config import SATConfig, load_arch
from hwsim.energy import COMPONENTS, OpCounts, energy_columns, op_counts, op_energy
from hwsim.engine import run_offline, run_offline_reference, run_pipeline, run_reference
from hwsim.engine.offline import owned_cycles
from hwsim.engine.roofline import roofline_cycles
from hwsim.engine.vector_walk import vector_chunk_tiles, vector_chunk_times
from hwsim.engine.walk import _op_args, branch_and_bound, gemm_walk_tiles, gemm_walk_times, walk_times
from hwsim.errors import HwsimError
from hwsim.graphs import zoo_graph as _zoo_graph
from hwsim.inputs import MAX_BATCH, MAX_DIM, check_bool, check_int, check_type, show
from hwsim.result import Result

ENGINES = {"numba": run_pipeline, "reference": run_reference}
OFFLINE_ENGINES = {"numba": run_offline, "reference": run_offline_reference}

MAX_RUN_TILES = 8_000_000
"""Whole-run budget on the schedule: every op's tiles together (a ResNet-50 iteration at batch 4096 has 3.3 M)."""
BYTES_PER_TILE = 64
"""Memory a tile costs while the schedule is built and timed (measured: 3.3 M tiles add about 200 MB)."""
MAX_RUN_OPS = 10_000
"""Whole-run budget on ops (a ViT-B/16 iteration has 443, a ResNet-152 about 1,500): mapping an op of a new
shape takes up to half a millisecond."""
MAX_RUN_MACS = 1 << 53
"""Whole-run budget on work: 9.0e15 MACs (about 200x a ResNet-50 iteration at batch 4096), so every count fits
an int64 and a float64 exactly."""


OBJECTIVES = ("latency", "energy", "edp")


@dataclass(frozen=True)
class RooflineCost:
    """The cost model handed to the scheduler: with T double-buffered tiles, compute and DMA overlap except
    for about 1/T of the shorter one (the first load, the last store); each transfer pays the latency.

    `objective` latency rates candidates by that estimate; energy by the energy a mapping changes (DRAM
    bytes, each also written to or read from a buffer once, and static power over the estimated time, in pJ);
    edp by their product.
    """

    bytes_per_cycle: float
    latency: int
    objective: str = "latency"
    byte_pj: float = 0.0  # DRAM + buffer energy per DRAM byte
    static_pj_per_cycle: float = 0.0
    background: bool = False  # offline scheduling: optimizer steps are background work (tiling.vector_chunk)

    def __call__(self, compute: np.ndarray, dram: np.ndarray, tiles: np.ndarray) -> np.ndarray:
        if self.objective == "latency" and _FAST and _float_vectors(compute, dram, tiles):
            return roofline_cycles(compute, dram, tiles, float(self.bytes_per_cycle), float(self.latency))
        return self.estimate(compute, dram, tiles)

    def estimate(self, compute: np.ndarray, dram: np.ndarray, tiles: np.ndarray) -> np.ndarray:
        """The objective's estimate in numpy (the reference of the latency kernel `engine.roofline`)."""
        dma = dram / self.bytes_per_cycle + 2 * tiles * self.latency
        cycles = np.maximum(compute, dma) + np.minimum(compute, dma) / tiles
        if self.objective == "latency":
            return cycles
        energy = dram * self.byte_pj + cycles * self.static_pj_per_cycle
        return energy if self.objective == "energy" else energy * cycles

    def exact(self, tiles: Tiles) -> float:
        """The objective of one op's tile schedule timed exactly, alone, by the tile pipeline engine (the mapper
        asks this of its best-rated candidates)."""
        offsets = np.array([0, len(tiles)], dtype=np.int64)
        cycles = float(run_pipeline(offsets, tiles.load_bytes, tiles.store_bytes, tiles.select_cycles,
                                    tiles.compute_cycles, float(self.bytes_per_cycle), int(self.latency))[0][0])
        if self.objective == "latency":
            return cycles
        dram = float(tiles.load_bytes.sum() + tiles.store_bytes.sum())
        return self._score(cycles, dram)

    def bound(self, compute: np.ndarray, dram: np.ndarray, tiles: np.ndarray, first_load: np.ndarray,
              last_store: np.ndarray) -> np.ndarray:
        """A lower bound of `exact` per candidate (the mapper's branch and bound): the array computes every tile
        after the first load and before the last store, and the one DMA queue moves every byte, each tile's load
        paying the latency. Shaded by 1e-9 so that float rounding cannot lift a bound over a time it ties."""
        bpc, lat = float(self.bytes_per_cycle), self.latency
        edges = 2 * lat + np.ceil(first_load / bpc) + np.ceil(last_store / bpc)
        cycles = np.maximum(compute + edges, dram / bpc + tiles * lat) * (1 - 1e-9)
        if self.objective == "latency":
            return cycles
        energy = dram * self.byte_pj + cycles * self.static_pj_per_cycle
        return (energy if self.objective == "energy" else energy * cycles) * (1 - 1e-9)

    def exact_mappings(self, op: GemmOp, target, mappings) -> list[float]:
        """`exact` of each of these candidate mappings of `op`, without building their per-tile arrays (the
        tile walk timed on the fly by `engine.walk`; the same numbers)."""
        return self._scores(*gemm_walk_times(op, target, mappings, float(self.bytes_per_cycle), int(self.latency)))

    def exact_candidates(self, op: GemmOp, target, sizes: np.ndarray, orders: np.ndarray, dataflows: np.ndarray
                         ) -> list[float]:
        """`exact_mappings` of candidates given as arrays: (m_t, k_t, n_t) rows, loop axes outer -> inner rows
        (0 m, 1 k, 2 n) and dataflow codes (0 os, 1 ws, 2 is), as the mapper's table holds them."""
        return self._scores(*walk_times(np.ascontiguousarray(sizes, dtype=np.int64),
                                        np.ascontiguousarray(orders, dtype=np.int64),
                                        np.ascontiguousarray(dataflows, dtype=np.int64), *_op_args(op, target),
                                        float(self.bytes_per_cycle), int(self.latency)))

    def search(self, op: GemmOp, target, tab, kept: np.ndarray) -> int | None:
        """`tiling._refine`'s choice over the compact candidate table in one numba pass (`engine.walk.
        branch_and_bound`), for the latency objective; None where the mapper's own loop decides (another
        objective, no candidate of at most REFINE_MAX_TILES tiles)."""
        if self.objective != "latency" or not _FAST:
            return None
        i = branch_and_bound(tab.m_t, tab.k_t, tab.n_t, tab.compute, tab.dram, tab.tiles, kept, ORDER_AXES,
                             tiling.REFINE_MAX_TILES, *_op_args(op, target), float(self.bytes_per_cycle),
                             int(self.latency))
        return None if i < 0 else int(i)

    def _scores(self, cycles: np.ndarray, dram: np.ndarray) -> list[float]:
        if self.objective == "latency":
            return [float(c) for c in cycles.tolist()]
        return [self._score(float(c), float(d)) for c, d in zip(cycles.tolist(), dram.tolist())]

    def exact_chunks(self, op: VectorOp, target, sizes: list[int]) -> list[float]:
        """`exact` of vector pass `op` in chunks of each of `sizes` elements, without building its per-tile arrays
        (`engine.vector_walk`; the same numbers)."""
        return self._scores(*vector_chunk_times(op, target, sizes, float(self.bytes_per_cycle), int(self.latency)))

    def _score(self, cycles: float, dram: float) -> float:
        if self.objective == "latency":
            return cycles
        energy = dram * self.byte_pj + cycles * self.static_pj_per_cycle
        return energy if self.objective == "energy" else energy * cycles


def _float_vectors(*arrays) -> bool:
    return all(isinstance(a, np.ndarray) and a.dtype == np.float64 and a.ndim == 1 for a in arrays)


def simulate(model, arch, method: str = "dense", nm=None, batch: int = 32, *, phases=None,
             resolution: int | None = None, classes: int | None = None, pregen: bool = True,
             interleave: bool = True, dense_ends: bool = True, fuse: bool = True, pad: bool = True,
             offline: bool = True, objective: str = "latency", dataflow: str | None = None,
             engine: str = "numba", baseline: str | None = None, strict_budget: bool = False) -> Result:
    """Simulate one iteration of `model` (zoo name, YAML file or Graph) on `arch` (preset, YAML file or SATConfig).

    method: dense | srste | bdwp | transposable, with `nm` like "2:8" for the sparse ones.
    phases: subset of ("ff", "bp", "wu"); ("ff",) simulates inference. pregen: pre-generate N:M weights
    during the update (else the selector runs as weights load). interleave: interleave mapping (fill/drain
    once per tile). dense_ends: keep the first layer and the classifier dense. fuse: fold activations into
    the pass that produces their input (see hwsim.dataflow.lowering). pad: zero-pad a reduction dim that is not
    a multiple of M (else that phase runs dense). A SCALE-Sim topology's sparsity column, when it has one, sets
    each layer's N:M for the sparse methods (1:1: dense), over `nm` and `dense_ends`. offline: offline
    scheduling (the array and the vector engine work on different ops at once within the dependencies; else
    every op waits for the previous one). objective: what the mapping search minimizes per GEMM (latency |
    energy | edp). dataflow: os | ws | is to fix the dataflow of every GEMM (default: searched).
    baseline: "dense" also runs the same configuration dense and reports `speedup` and `energy_saving`
    against it. strict_budget: refuse a configuration whose resource estimate exceeds its board (otherwise it
    is flagged in `resources`).
    """
    _check_arguments(model, arch, method, nm, batch, phases, resolution, classes, engine,
                     {"pregen": pregen, "interleave": interleave, "dense_ends": dense_ends, "fuse": fuse,
                      "pad": pad, "offline": offline, "strict_budget": strict_budget})
    if baseline is not None:
        check_type("baseline", baseline, (str,), "'dense' or None")
    check_type("objective", objective, (str,), f"one of: {', '.join(OBJECTIVES)}")
    if dataflow is not None:
        check_type("dataflow", dataflow, (str,), "os, ws, is or None")
    if baseline not in (None, "dense"):
        raise HwsimError(f"baseline: {baseline!r} (expected 'dense' or None)", "--baseline")
    cfg = load_arch(arch)
    if strict_budget and not cfg.resources.fits:
        raise HwsimError(f"arch: {cfg.name} needs {', '.join(cfg.resources.over)} on {cfg.board.name} (expected a "
                         "configuration within the board's budget; drop --strict-budget to simulate anyway)",
                         "--strict-budget")
    graph = _graph(model, resolution, classes)
    try:
        meth, spec = resolve(method, nm)
    except SparsityError as exc:
        raise HwsimError(str(exc), "--nm" if "nm:" in str(exc) else "--method") from None
    if spec is not None:
        cfg.check_nm(spec)
    phase_set = _phases(phases)
    layer_nm = _topology_sparsity(model, cfg)
    how = Lowering(meth, spec, batch, pregen, dense_ends, fuse, phase_set, cfg.precision.operand_bytes, pad,
                   layer_nm)
    # by identity first: hashing a graph or an ops tuple by value costs a fraction of a millisecond per run
    ops = _LOWERINGS.get((graph,), (how,), lambda: _lowered(graph, how)) if _CACHING else lower(graph, how)
    if not ops:
        raise HwsimError(f"model: {graph.name} has no ops to simulate in phases {sorted(p.value for p in phase_set)}",
                         "--model")
    if _CACHING:
        _CHECKED.get((ops,), (), lambda: _check_work(ops))
    else:
        _check_work(ops)
    if objective not in OBJECTIVES:
        raise HwsimError(f"objective: {objective!r} (expected one of: {', '.join(OBJECTIVES)})", "--objective")
    allowed = cfg.mapping.dataflows
    if dataflow is not None and dataflow not in allowed:
        raise HwsimError(f"dataflow: {dataflow!r} (expected one of: {', '.join(allowed)})", "--dataflow")
    interleave = interleave and cfg.mapping.interleave
    sched = build_schedule(ops, cfg, interleave, offline, objective, (dataflow,) if dataflow else allowed)
    if offline:
        deps = (_DEPENDENCIES.get((graph, ops), (how,), lambda: _dependencies(graph, ops, how)) if _CACHING
                else dependencies(graph, ops, how))
        if _CACHING and _FAST:  # per lowering: the units and the dependency arrays
            unit, csr = _OFFLINE_INPUTS.get((ops, deps), (), lambda: _offline_inputs(ops, deps))
        else:
            unit, csr = units(ops), to_csr(deps)
        # the static program comes from the nominal machine: no DRAM, buffer, port or lane field enters it
        program = _static_program(ops, deps, unit, csr, np.diff(sched.offsets),
                                  (cfg.peak_macs_per_cycle, cfg.precision.operand_bytes))
        start, end, busy, stall = OFFLINE_ENGINES[engine](*sched.engine_args(cfg), unit, *program, *csr)
        cycles = owned_cycles(start, end, unit) if _FAST else attribute(start, end, unit)
    else:
        cycles, busy, stall = ENGINES[engine](*sched.engine_args(cfg))
        end = np.cumsum(cycles)
        start = end - cycles
    table = _table(ops, sched, cycles, busy, stall, cfg)
    table["start"], table["end"] = start, end
    options = {"phases": [p.value for p in Phase if p in phase_set], "pregen": pregen, "interleave": interleave,
               "dense_ends": dense_ends, "fuse": fuse, "pad": pad, "offline": offline, "objective": objective,
               "dataflow": dataflow or "searched", "input_shape": list(graph.input_shape)}
    res = Result(graph.name, cfg.name, meth.value, str(spec) if spec else None, batch, cfg.clock_hz, table, options,
                 resources=cfg.resources.to_dict(), arch_base=cfg.derived_from or None)
    if baseline == "dense":
        base = res if meth.value == "dense" else simulate(
            model if isinstance(model, (str, models.Graph)) else graph, cfg, "dense", None, batch, phases=phases,
            resolution=resolution, classes=classes, pregen=pregen, interleave=interleave, dense_ends=dense_ends,
            fuse=fuse, pad=pad, offline=offline, objective=objective, dataflow=dataflow, engine=engine)
        res = res.with_baseline(base)
    return res


@dataclass(frozen=True)
class Schedule:
    """Every op's tiles concatenated in execution order (op j owns tiles offsets[j]:offsets[j+1])."""

    rows: list[dict]
    offsets: np.ndarray
    load: np.ndarray
    store: np.ndarray
    select: np.ndarray
    compute: np.ndarray
    mappings: tuple = ()  # per op: the GEMM's tiling.Mapping, None for a vector pass

    def engine_args(self, cfg: SATConfig) -> tuple:
        return (self.offsets, self.load, self.store, self.select, self.compute, float(cfg.dram_bytes_per_cycle),
                int(cfg.dram_latency_cycles))


CACHE_SIZE = 16_384  # op schedules kept per process (a ResNet-50 iteration has ~420 ops, ~100 distinct shapes)


def set_caching(enabled: bool) -> None:
    """Turn the per-process caches (graphs, lowerings, op schedules) on or off; off also empties them."""
    global _CACHING
    _CACHING = bool(enabled)
    if not enabled:
        for fn in (_op_plan, _op_tiles, _lowered, _dependencies, _zoo_graph, _anonymous):
            fn.cache_clear()
        for memo in (_PARTS, _SCHEDULES, _COUNTS, _ROW_COLUMNS, _OFFLINE_INPUTS, _PROGRAMS, _LIST_SCHEDULES,
                     _SHAPES, _VECTOR_ROWS, _LOWERINGS, _DEPENDENCIES, _CHECKED):
            memo.clear()


def clear_caches() -> None:
    """Empty every per-process cache, the tile search's too (a benchmark's cold start)."""
    set_caching(False)
    set_caching(True)
    tiling.clear_caches()
    _op_args.cache_clear()


_CACHING = True
_FAST = True


def set_fast(enabled: bool) -> None:
    """Turn the fast paths of issue 12 on (the default) or off: off computes the same numbers the way hwsim did
    before them (the benchmark's baseline): the mapper builds every candidate row with numpy, sorts them all and
    times the best ones through their per-tile arrays (`tiling.set_fast`); the chosen mappings' tile arrays come
    from numpy, schedules are concatenated op by op, and energy is computed op by op."""
    global _FAST
    _FAST = bool(enabled)
    tiling.set_fast(enabled)


# The caches below are keyed on the op's shape (names stripped) and the part of the target it depends on, so
# repeated layer shapes, dense/sparse pairs and sweep points that share a target are computed once.
@lru_cache(maxsize=CACHE_SIZE)
def _op_plan(op, target, cost, dataflows) -> tuple[tuple[str, str, str], object, int]:
    """(table info, mapping or None for a vector pass, tile count) of one op: cheap, no per-tile arrays."""
    if isinstance(op, GemmOp):
        mp = map_gemm(op, target, cost, dataflows)
        return (mp.dataflow, mp.order, f"{mp.m_t}x{mp.k_t}x{mp.n_t}"), mp, gemm_tile_count(op, mp)
    return ("vector", "", ""), None, vector_tile_count(op, target, vector_chunk(op, target, cost))


@lru_cache(maxsize=CACHE_SIZE)
def _op_tiles(op, mp, target, cost=None) -> Tiles:
    """The per-tile arrays of one op under its mapping, or a vector pass in the chunks `cost` times fastest
    (read-only: shared between results)."""
    if mp is not None and _FAST:  # the same arrays from the numba tile walk
        tiling._check_size(op.name, gemm_tile_count(op, mp))
        tiles = Tiles(*gemm_walk_tiles(op, target, mp))
    elif _FAST:  # and for a vector pass from the chunk kernel
        chunk = vector_chunk(op, target, cost)
        tiling._check_size(op.name, vector_tile_count(op, target, chunk))
        tiles = Tiles(*vector_chunk_tiles(op, target, chunk))
    else:
        tiles = (gemm_tiles(op, mp, target) if mp is not None
                 else vector_tiles(op, target, vector_chunk(op, target, cost)))
    for arr in (tiles.load_bytes, tiles.store_bytes, tiles.select_cycles, tiles.compute_cycles):
        arr.flags.writeable = False
    return tiles


@lru_cache(maxsize=CACHE_SIZE)
def _anonymous(op):
    """The op without its names: what its schedule depends on."""
    return replace(op, name="", layer="")


def _tiles_key(key: tuple, mp) -> tuple:
    """(target, cost) for _op_tiles: a GEMM's tiles follow from its mapping alone, a vector pass's from the
    chunk the cost model picks."""
    return (key[0], None) if mp is not None else key


def _relevant(gemm: bool, target, cost):
    """The part of (target, cost) a GEMM's or a vector pass's schedule depends on, so that e.g. a vector-lane
    sweep reuses every GEMM schedule. tests/hwsim/test_cache.py checks cached == uncached on random configs."""
    if gemm:
        return replace(target, vector_lanes=0, vector_latency=0), cost
    # the chunk search minimizes time, whatever the objective
    timing = RooflineCost(cost.bytes_per_cycle, cost.latency, background=cost.background)
    return replace(target, rows=0, cols=0, mults=0, b_buffer_bytes=0, fill_cycles=0, interleave=True), timing


def build_schedule(ops, cfg: SATConfig, interleave: bool = True, offline: bool = False, objective: str = "latency",
                   dataflows: tuple[str, ...] = DATAFLOWS) -> Schedule:
    """Map every GEMM (tile search through the roofline cost model) and chunk every vector pass.

    Under offline scheduling a vector pass may run beside a GEMM, so the A and C buffers are split by banks: the
    vector passes own `vector.a_share` and `vector.c_share` of them, capacity and port bandwidth, the GEMM tiles
    the rest (`tiling.split_banks`).
    """
    target = replace(cfg.target, interleave=interleave)
    vector_target = target
    if offline:
        target, vector_target = split_banks(target, cfg.vector.a_share, cfg.vector.c_share)
    e = cfg.energy
    if objective == "latency":  # energy prices do not enter: points differing only in them share every mapping
        cost = RooflineCost(cfg.dram_bytes_per_cycle, cfg.dram_latency_cycles, background=offline)
    else:
        cost = RooflineCost(cfg.dram_bytes_per_cycle, cfg.dram_latency_cycles, objective,
                            e.dram_byte_pj + e.sram_byte_pj, cfg.static_w / cfg.clock_hz * 1e12, offline)
    keys = {True: _relevant(True, target, cost), False: _relevant(False, vector_target, cost)}
    if _CACHING and _FAST:
        try:
            return _assembled(tuple(ops), keys, dataflows)
        except (MappingError, ScheduleTooLarge, _OverBudget):
            pass  # the loop below raises the same error, worded as it always was
    plain = {True: (target, cost),
             False: (vector_target, RooflineCost(cost.bytes_per_cycle, cost.latency, background=offline))}
    plans, total = [], 0
    try:
        for op in ops:  # map everything and count tiles first: the budget holds before any tile array exists
            gemm = isinstance(op, GemmOp)
            plan = (_op_plan(_anonymous(op), *keys[gemm], dataflows) if _CACHING
                    else _op_plan.__wrapped__(op, *plain[gemm], dataflows))
            plans.append(plan)
            total += plan[2]
            if total > MAX_RUN_TILES:  # stop mapping as soon as the budget is gone
                _too_many_tiles(total, len(plans), len(ops))
    except MappingError as exc:
        raise HwsimError(str(exc), f"--arch {cfg.name}") from None
    rows, tiles = [], []
    try:
        for op, (info, mp, _) in zip(ops, plans):
            if _CACHING:
                op_tiles = _op_tiles(_anonymous(op), mp, *_tiles_key(keys[mp is not None], mp))
            else:
                op_tiles = _op_tiles.__wrapped__(op, mp, *_tiles_key(plain[mp is not None], mp))
            tiles.append(op_tiles)
            rows.append(_row(op, *info))
    except ScheduleTooLarge as exc:
        raise HwsimError(str(exc), "--batch/--resolution") from None
    offsets = np.concatenate([[0], np.cumsum([len(t) for t in tiles])]).astype(np.int64)
    cat = [np.concatenate([getattr(t, f) for t in tiles]) for f in ("load_bytes", "store_bytes", "select_cycles",
                                                                      "compute_cycles")]
    return Schedule(rows, offsets, *cat, tuple(mp for _, mp, _ in plans))


class _OverBudget(Exception):
    """A unit's ops alone need more than MAX_RUN_TILES tiles (build_schedule's plain loop words the error)."""


class _Memo:
    """A small LRU memo keyed on the identity of cached objects (an ops tuple from `_lowered`, a part) plus
    hashable extras; it keeps each keyed object alive, so its id cannot be reused while the entry exists.
    `weight(value)` (tiles, say) bounds what it holds in total as well as in entries."""

    def __init__(self, size: int, weight=None, max_weight: int = 0):
        self.size, self.entries, self.lock = size, {}, threading.Lock()  # a Dask worker may run threads
        self.weight, self.max_weight, self.held = weight, max_weight, 0

    def get(self, objs: tuple, extra: tuple, make):
        key = (*(id(o) for o in objs), *extra)
        with self.lock:
            hit = self.entries.pop(key, None)
            if hit is not None:
                self.entries[key] = hit  # most recently used last
                return hit[1]
        value = make()  # outside the lock: another thread may make the same value meanwhile (the first kept)
        w = self.weight(value) if self.weight else 0
        if self.weight and w > self.max_weight:
            return value  # too big to keep
        with self.lock:
            hit = self.entries.pop(key, None)
            if hit is None:
                hit = (objs, value, w)
                self.held += w
            while self.entries and (len(self.entries) >= self.size
                                    or (self.weight and self.held > self.max_weight)):
                self.held -= self.entries.pop(next(iter(self.entries)))[2]
            self.entries[key] = hit
        return hit[1]

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()
            self.held = 0


@dataclass
class _Part:
    """One unit's ops (GEMMs or vector passes) of a run under one target: plans, then tiles and rows."""

    idx: np.ndarray  # the ops' positions in the run
    plans: list
    counts: np.ndarray  # tiles per op
    tiles: list | None = None  # each op's Tiles (shared by the ops of one shape)
    rows: list | None = None
    mappings: tuple | None = None  # GEMM part: every op's mapping (None for a vector pass), in run order


@dataclass(frozen=True)
class _Shapes:
    """A lowering's ops by shape: each op's position in `distinct` (its anonymous op), and which are GEMMs. Parts
    map and tile each distinct shape once (a ResNet-50 iteration has 422 ops of about 120 shapes)."""

    distinct: list
    index: list  # per op
    gemm: np.ndarray  # positions of the GEMMs
    vector: np.ndarray  # and of the vector passes
    order: list  # each op's position in the GEMMs followed by the vector passes


def _shapes(ops: tuple) -> _Shapes:
    def make() -> _Shapes:
        first: dict = {}
        index = [first.setdefault(_anonymous(op), len(first)) for op in ops]
        gemm = np.array([isinstance(op, GemmOp) for op in ops], dtype=bool)
        split = np.concatenate([np.flatnonzero(gemm), np.flatnonzero(~gemm)])
        return _Shapes(list(first), index, split[:gemm.sum()], split[gemm.sum():], np.argsort(split).tolist())
    return _SHAPES.get((ops,), (), make)


MEMO_TILES = 4_000_000
"""Tiles the shared schedule parts, and apart from them the assembled schedules, hold at most (32 B each)."""
_PARTS = _Memo(64, lambda part: int(part.counts.sum()), MEMO_TILES)
_SCHEDULES = _Memo(64, lambda sched: len(sched.load), MEMO_TILES)
_COUNTS = _Memo(64)
_ROW_COLUMNS = _Memo(64)
_OFFLINE_INPUTS = _Memo(64)
_PROGRAMS = _Memo(64)  # static programs, per lowering, nominal machine and tile counts
_LIST_SCHEDULES = _Memo(64)  # their list schedules (nominal durations, segments), per lowering and nominal machine
_SHAPES = _Memo(64)  # per lowering
_LOWERINGS = _Memo(64)  # `_lowered`, `_dependencies` and `_check_work` by the identity of the graph and the ops
_DEPENDENCIES = _Memo(64)
_CHECKED = _Memo(64)
_VECTOR_ROWS = _Memo(64)  # the vector passes' table rows, per lowering (their mapping columns are constant)


def _static_program(ops, deps, unit: np.ndarray, csr: tuple, tiles: np.ndarray, nominal: tuple) -> tuple:
    """The static program of a run (`offline.static_program`). Fast paths: its numba version; with the caches,
    its list schedule is kept per lowering and nominal machine (the sweep's points share it whatever their
    tilings), and the program per tile counts as well."""
    if not _FAST:
        return static_program(nominal_durations(ops, *nominal), deps, unit, tiles)
    if not _CACHING:
        return static_program_fast(nominal_durations(ops, *nominal), deps, unit, tiles, csr)

    def scheduled() -> tuple:
        durations = nominal_durations(ops, *nominal)
        return durations, list_schedule_arrays(durations, deps, unit, csr)

    def make() -> tuple:
        durations, schedule = _LIST_SCHEDULES.get((ops, deps), nominal, scheduled)
        return tile_segments(schedule, durations, tiles)
    return _PROGRAMS.get((ops, deps), (*nominal, tiles.tobytes()), make)


def _offline_inputs(ops: tuple, deps: tuple) -> tuple[np.ndarray, tuple]:
    """The offline engine's unit per op and dependency arrays (shared by every run of the lowering; left
    writeable: numba compiles a separate kernel for read-only arrays)."""
    return units(ops), to_csr(deps)


def _part(ops: tuple, gemm: bool, target, cost, dataflows) -> _Part:
    """Map (or chunk) one unit's ops, counting tiles against the budget (no tile array yet)."""
    def make() -> _Part:
        shapes = _shapes(ops)
        idx = shapes.gemm if gemm else shapes.vector
        known: list = [None] * len(shapes.distinct)
        plans, total = [], 0
        for j in idx.tolist():
            d = shapes.index[j]
            plan = known[d]
            if plan is None:
                plan = known[d] = _op_plan(shapes.distinct[d], target, cost, dataflows)
            total += plan[2]
            if total > MAX_RUN_TILES:
                raise _OverBudget
            plans.append(plan)
        return _Part(idx, plans, np.array([p[2] for p in plans], dtype=np.int64))

    return _PARTS.get((ops,), (gemm, target, cost, dataflows), make)


def _part_tiles(ops: tuple, part: _Part, key: tuple, gemm: bool) -> _Part:
    if part.tiles is None:
        shapes = _shapes(ops)
        known: dict = {}
        tiles = []
        for j, (_, mp, _) in zip(part.idx.tolist(), part.plans):
            d = shapes.index[j]
            t = known.get(d)
            if t is None:
                t = known[d] = _op_tiles(shapes.distinct[d], mp, *_tiles_key(key, mp))
            tiles.append(t)
        if gemm:
            part.rows = [_row(ops[j], *info) for j, (info, _, _) in zip(part.idx.tolist(), part.plans)]
        else:  # ("vector", "", "") for every pass: the rows depend on the lowering alone
            part.rows = _VECTOR_ROWS.get((ops,), (), lambda: [_row(ops[j], *info) for j, (info, _, _) in
                                                             zip(part.idx.tolist(), part.plans)])
        part.tiles = tiles
    return part


def _assembled(ops: tuple, keys: dict, dataflows) -> Schedule:
    """build_schedule from the two units' parts, each shared by every run with the same ops and the same
    relevant target (so a vector-lane sweep maps its GEMMs once): the same schedule, put together by index."""
    gemm, vector = (_part(ops, unit, *keys[unit], dataflows) for unit in (True, False))
    if gemm.counts.sum() + vector.counts.sum() > MAX_RUN_TILES:
        raise _OverBudget
    _part_tiles(ops, gemm, keys[True], True)
    _part_tiles(ops, vector, keys[False], False)

    def make() -> Schedule:
        counts = np.zeros(len(ops), dtype=np.int64)
        counts[gemm.idx], counts[vector.idx] = gemm.counts, vector.counts
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        order = _shapes(ops).order
        tiles = gemm.tiles + vector.tiles
        tiles = [tiles[i] for i in order]
        rows = gemm.rows + vector.rows
        rows = [rows[i] for i in order]
        arrays = [np.concatenate([t.load_bytes for t in tiles]), np.concatenate([t.store_bytes for t in tiles]),
                  np.concatenate([t.select_cycles for t in tiles]), np.concatenate([t.compute_cycles for t in tiles])]
        if gemm.mappings is None:  # one tuple per GEMM part: the energy counts are memoized on it
            mappings = [None] * len(ops)
            for j, (_, mp, _) in zip(gemm.idx.tolist(), gemm.plans):
                mappings[j] = mp
            gemm.mappings = tuple(mappings)
        return Schedule(rows, offsets, *arrays, gemm.mappings)

    return _SCHEDULES.get((gemm, vector), (), make)


def attribute(start: np.ndarray, end: np.ndarray, unit: np.ndarray) -> np.ndarray:
    """Split the iteration's cycles among overlapping ops so that they sum to its length.

    Each cycle goes to the array op that owns it (from the later of its start and the previous array op's
    end, to its end), else to the vector op that owns it likewise, else to the next op to finish. A vector
    pass hidden under GEMMs gets 0 cycles; an op alone gets its whole duration.
    """
    n = len(start)
    cycles = np.zeros(n, dtype=np.int64)
    if n == 0:
        return cycles
    owned = []
    for u in (0, 1):
        idx = np.flatnonzero(unit == u)
        idx = idx[np.argsort(end[idx], kind="stable")]
        prev = np.concatenate([[0], end[idx][:-1]]) if len(idx) else np.zeros(0, dtype=np.int64)
        lo = np.maximum(start[idx], prev)
        owned.append((idx, lo, end[idx]))
    points = np.unique(np.concatenate([[0], start, end, owned[0][1], owned[1][1]]))
    a, b = points[:-1], points[1:]
    owner = np.full(len(a), -1, dtype=np.int64)
    for idx, lo, hi in owned:
        i = np.searchsorted(lo, a, side="right") - 1
        ok = (owner < 0) & (i >= 0)
        ok[ok] &= a[ok] < hi[i[ok]]
        owner[ok] = idx[i[ok]]
    by_end = np.argsort(end, kind="stable")
    rest = owner < 0
    owner[rest] = by_end[np.minimum(np.searchsorted(end[by_end], b[rest]), n - 1)]
    np.add.at(cycles, owner, b - a)
    return cycles


def _check_arguments(model, arch, method, nm, batch, phases, resolution, classes, engine, flags: dict) -> None:
    """Type (TypeError) and range (HwsimError) checks on simulate's arguments, each naming the argument."""
    check_type("model", model, (str, os.PathLike, models.Graph), "a zoo name, a .yaml path or a hwsim.models.Graph")
    check_type("arch", arch, (str, os.PathLike, SATConfig), "a preset name, a .yaml path or a SATConfig")
    check_type("method", method, (str, Method), "one of: " + ", ".join(m.value for m in Method))
    if nm is not None:
        check_type("nm", nm, (str, NM), 'an N:M spec like "2:8", or None')
    check_int("batch", batch, 1, MAX_BATCH, "--batch")
    if phases is not None and not isinstance(phases, str):
        check_type("phases", phases, (list, tuple, set, frozenset), 'a comma list like "ff,bp" or a list of phases')
        for item in phases:
            check_type("phases", item, (str, Phase), '"ff", "bp" or "wu"')
    for name, value in (("resolution", resolution), ("classes", classes)):
        if value is not None:
            check_int(name, value, 1, MAX_DIM, f"--{name}")
    for name, value in flags.items():
        check_bool(name, value)
    check_type("engine", engine, (str,), f"one of: {', '.join(ENGINES)}")
    if engine not in ENGINES:
        raise HwsimError(f"engine: {show(engine)} (expected one of: {', '.join(ENGINES)})", "engine=")


def _check_work(ops) -> bool:
    """Refuse, before any mapping, a run with too many ops to schedule in seconds, or whose MACs would overflow
    the counters (summed in Python ints: exact). True when it passes."""
    if len(ops) > MAX_RUN_OPS:
        raise HwsimError(f"schedule: {len(ops):,} ops (expected at most {MAX_RUN_OPS:,} per run, a few seconds of "
                         "scheduling: use a smaller model or fewer phases)", "--model/--phases")
    macs = sum(op.macs for op in ops)
    if macs > MAX_RUN_MACS:
        raise HwsimError(f"schedule: the run needs {macs:.3g} MACs (expected at most {MAX_RUN_MACS:.3g}: "
                         "use a smaller batch, resolution or model)", "--batch/--resolution/--model")
    return True


def _too_many_tiles(total: int, mapped: int, ops: int) -> None:
    """The whole-run budget is exceeded: refuse before any per-tile array is allocated."""
    which = f"{ops:,} ops" if mapped == ops else f"the first {mapped:,} of {ops:,} ops"
    raise HwsimError(f"schedule: {which} need {total:,} tiles, about {total * BYTES_PER_TILE / 1e6:,.0f} MB "
                     f"(expected at most {MAX_RUN_TILES:,} tiles, {MAX_RUN_TILES * BYTES_PER_TILE / 1e6:,.0f} MB, "
                     "for the whole run: use a smaller batch, resolution or model)", "--batch/--resolution/--model")


def _columns(rows: list[dict]) -> dict[str, list]:
    return {key: [row[key] for row in rows] for key in rows[0]}


def _table(ops, sched: Schedule, cycles, busy, stall, cfg: SATConfig) -> dict:
    """The per-op table as columns: what each op is, how it was mapped, its timing, traffic and energy."""
    starts = sched.offsets[:-1]
    if _FAST and _CACHING:  # one set of row columns per lowering and GEMM mapping set
        rows = _ROW_COLUMNS.get((ops, sched.mappings), (), lambda: _columns(sched.rows))
        cols = {key: list(col) for key, col in rows.items()}
    else:
        cols = _columns(sched.rows)
    cols["tiles"] = np.diff(sched.offsets)
    cols["cycles"] = cycles
    cols["busy_cycles"] = busy
    cols["stall_cycles"] = stall
    cols["select_cycles"] = np.add.reduceat(sched.select, starts)  # every op has at least one tile
    cols["dram_bytes"] = np.add.reduceat(sched.load + sched.store, starts)
    if _FAST:
        target = cfg.target
        if _CACHING:  # one per lowering and GEMM mapping set (_assembled shares the mappings tuple)
            counts = _COUNTS.get((ops, sched.mappings),
                                 (target.rows, target.cols, target.mults, target.elem_bytes, target.acc_bytes),
                                 lambda: _shape_counts(ops, cfg, sched.mappings))
        else:
            counts = op_counts(ops, cfg, sched.mappings)
        energy = energy_columns(counts, cfg, cols["dram_bytes"], cycles, cols["select_cycles"])
        parts = {f"e_{comp}": energy[comp] for comp in COMPONENTS}
    else:
        energy = [op_energy(op, cfg, int(d), int(c), int(s), mp) for op, d, c, s, mp in
                  zip(ops, cols["dram_bytes"], cycles, cols["select_cycles"], sched.mappings)]
        parts = {f"e_{comp}": np.array([e[comp] for e in energy]) for comp in COMPONENTS}
    cols.update(parts)
    cols["energy_j"] = np.sum(list(parts.values()), axis=0)
    return cols


def _shape_counts(ops: tuple, cfg: SATConfig, mappings: tuple) -> OpCounts:
    """`op_counts` computed once per distinct (op shape, mapping) of a lowering and spread to its ops (the counts
    depend on neither names nor layers)."""
    shapes = _shapes(ops)
    first: dict = {}
    where = [first.setdefault((shapes.index[j], mp), len(first)) for j, mp in enumerate(mappings)]
    sub = op_counts([shapes.distinct[d] for d, _ in first], cfg, [mp for _, mp in first])
    where = np.array(where, dtype=np.int64)
    return OpCounts(*(getattr(sub, f.name)[where] for f in fields(OpCounts)))


@lru_cache(maxsize=256)
def _lowered(graph, how: Lowering) -> tuple:
    return tuple(lower(graph, how))


@lru_cache(maxsize=256)
def _dependencies(graph, ops: tuple, how: Lowering):
    return tuple(dependencies(graph, ops, how))


def _topology_sparsity(model, cfg: SATConfig) -> tuple:
    """A SCALE-Sim topology's sparsity column as per-layer N:M specs (for sparse methods; 1:1 rows are dense)."""
    if isinstance(model, models.Graph) or not models.is_topology(model):
        return ()
    from hwsim.dataflow.sparsity import NM
    from hwsim.models import scalesim

    try:
        topo = scalesim.read(models.source(model))
    except models.ModelError as exc:
        raise HwsimError(str(exc), "--model") from None
    if not topo.sparsity:
        return ()
    out = []
    for layer in topo.graph.weighted_layers:
        ratio = topo.sparsity.get(layer.name)
        try:
            nm = NM.parse(ratio) if ratio else None
        except SparsityError as exc:
            raise HwsimError(f"model {models.source(model)}: layer {layer.name!r} sparsity {exc}", "--model") from None
        if nm is not None:
            cfg.check_nm(nm)
        out.append((layer.name, nm))
    return tuple(out)


def _graph(model, resolution, classes):
    if isinstance(model, models.Graph):
        return model
    try:
        src = models.source(model)
        if _CACHING and isinstance(src, str) and src in models.zoo.names():
            return _zoo_graph(src, resolution, classes)
        return models.load(src, resolution=resolution, classes=classes)
    except models.ModelError as exc:
        field = str(exc).split(":", 1)[0]
        raise HwsimError(str(exc), f"--{field}" if field in ("resolution", "classes") else "--model") from None


def _phases(phases) -> frozenset[Phase]:
    if phases is None:
        return frozenset(Phase)
    items = phases.split(",") if isinstance(phases, str) else list(phases)
    out = set()
    for item in items:
        try:
            out.add(Phase(str(getattr(item, "value", item)).strip()))
        except ValueError:
            raise HwsimError(f"phases: {show(item)} (expected a comma list of ff, bp, wu)", "--phases") from None
    if not out:
        raise HwsimError("phases: empty (expected a comma list of ff, bp, wu)", "--phases")
    return frozenset(out)


def _row(op, dataflow: str, order: str, tile: str) -> dict:
    """What an op is: GEMM dims (0 for vector passes) or streamed elements (0 for GEMMs), and its mapping."""
    gemm = isinstance(op, GemmOp)
    return {
        "name": op.name, "layer": op.layer, "phase": op.phase.value, "kind": op.kind,
        "m": op.m if gemm else 0, "k": op.k if gemm else 0, "n": op.n if gemm else 0,
        "groups": op.groups if gemm else 1, "elems": 0 if gemm else op.elems,
        "nm": str(op.nm) if gemm and op.nm else "", "dataflow": dataflow, "order": order, "tile": tile,
        "macs": op.macs,
    }
