"""`simulate`: one training iteration of a model on a SAT configuration, timed tile by tile."""
from __future__ import annotations

import os
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from hwsim import models
from hwsim.dataflow.lowering import Lowering, lower
from hwsim.dataflow.ops import GemmOp, Phase
from hwsim.dataflow.sparsity import NM, Method, SparsityError, resolve
from hwsim.dataflow.tiling import (MappingError, ScheduleTooLarge, gemm_tile_count, gemm_tiles, map_gemm,
                                   vector_tile_count, vector_tiles)
from hwsim.config import SATConfig, load_arch
from hwsim.energy import COMPONENTS, op_energy
from hwsim.engine import run_pipeline, run_reference
from hwsim.errors import HwsimError
from hwsim.inputs import MAX_BATCH, MAX_DIM, check_bool, check_int, check_type, show
from hwsim.result import Result

ENGINES = {"numba": run_pipeline, "reference": run_reference}

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


@dataclass(frozen=True)
class RooflineCost:
    """The cost model handed to the scheduler: with T double-buffered tiles, compute and DMA overlap except
    for about 1/T of the shorter one (the first load, the last store); each transfer pays the latency."""

    bytes_per_cycle: float
    latency: int

    def __call__(self, compute: np.ndarray, dram: np.ndarray, tiles: np.ndarray) -> np.ndarray:
        dma = dram / self.bytes_per_cycle + 2 * tiles * self.latency
        return np.maximum(compute, dma) + np.minimum(compute, dma) / tiles


def simulate(model, arch, method: str = "dense", nm=None, batch: int = 32, *, phases=None,
             resolution: int | None = None, classes: int | None = None, pregen: bool = True,
             interleave: bool = True, dense_ends: bool = True, fuse: bool = True, engine: str = "numba") -> Result:
    """Simulate one iteration of `model` (zoo name, YAML file or Graph) on `arch` (preset, YAML file or SATConfig).

    method: dense | srste | bdwp | transposable, with `nm` like "2:8" for the sparse ones.
    phases: subset of ("ff", "bp", "wu"); ("ff",) simulates inference. pregen: pre-generate N:M weights
    during the update (else the selector runs as weights load). interleave: interleave mapping (fill/drain
    once per tile). dense_ends: keep the first layer and the classifier dense. fuse: fold activations into
    the pass that produces their input (see dataflow.lowering).
    """
    _check_arguments(model, arch, method, nm, batch, phases, resolution, classes, engine,
                     {"pregen": pregen, "interleave": interleave, "dense_ends": dense_ends, "fuse": fuse})
    cfg = load_arch(arch)
    graph = _graph(model, resolution, classes)
    try:
        meth, spec = resolve(method, nm)
    except SparsityError as exc:
        raise HwsimError(str(exc), "--nm" if "nm:" in str(exc) else "--method") from None
    if spec is not None:
        cfg.check_nm(spec)
    phase_set = _phases(phases)
    how = Lowering(meth, spec, batch, pregen, dense_ends, fuse, phase_set, cfg.precision.operand_bytes)
    ops = lower(graph, how)
    if not ops:
        raise HwsimError(f"model: {graph.name} has no ops to simulate in phases {sorted(p.value for p in phase_set)}",
                         "--model")
    _check_work(ops)
    sched = build_schedule(ops, cfg, interleave)
    cycles, busy, stall = ENGINES[engine](*sched.engine_args(cfg))
    table = _table(ops, sched, cycles, busy, stall, cfg)
    options = {"phases": [p.value for p in Phase if p in phase_set], "pregen": pregen, "interleave": interleave,
               "dense_ends": dense_ends, "fuse": fuse, "input_shape": list(graph.input_shape)}
    return Result(graph.name, cfg.name, meth.value, str(spec) if spec else None, batch, cfg.clock_hz, table, options)


@dataclass(frozen=True)
class Schedule:
    """Every op's tiles concatenated in execution order (op j owns tiles offsets[j]:offsets[j+1])."""

    rows: list[dict]
    offsets: np.ndarray
    load: np.ndarray
    store: np.ndarray
    select: np.ndarray
    compute: np.ndarray

    def engine_args(self, cfg: SATConfig) -> tuple:
        return (self.offsets, self.load, self.store, self.select, self.compute, float(cfg.dram_bytes_per_cycle),
                int(cfg.dram_latency_cycles))


def build_schedule(ops, cfg: SATConfig, interleave: bool = True) -> Schedule:
    """Map every GEMM (tile search through the roofline cost model) and chunk every vector pass."""
    target = replace(cfg.target, interleave=interleave)
    cost = RooflineCost(cfg.dram_bytes_per_cycle, cfg.dram_latency_cycles)
    maps, total = [], 0
    try:
        for op in ops:  # map everything and count tiles first: the budget holds before any tile array exists
            mp = map_gemm(op, target, cost) if isinstance(op, GemmOp) else None
            maps.append(mp)
            total += gemm_tile_count(op, mp) if mp else vector_tile_count(op, target)
            if total > MAX_RUN_TILES:  # stop mapping as soon as the budget is gone
                _too_many_tiles(total, len(maps), len(ops))
    except MappingError as exc:
        raise HwsimError(str(exc), f"--arch {cfg.name}") from None
    rows, tiles = [], []
    try:
        for op, mp in zip(ops, maps):
            if mp is not None:
                tiles.append(gemm_tiles(op, mp, target))
                rows.append(_row(op, mp.dataflow, mp.order, f"{mp.m_t}x{mp.k_t}x{mp.n_t}"))
            else:
                tiles.append(vector_tiles(op, target))
                rows.append(_row(op, "vector", "", ""))
    except ScheduleTooLarge as exc:
        raise HwsimError(str(exc), "--batch/--resolution") from None
    offsets = np.concatenate([[0], np.cumsum([len(t) for t in tiles])]).astype(np.int64)
    cat = [np.concatenate([getattr(t, f) for t in tiles]) for f in ("load_bytes", "store_bytes", "select_cycles",
                                                                      "compute_cycles")]
    return Schedule(rows, offsets, *cat)


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


def _check_work(ops) -> None:
    """Refuse, before any mapping, a run with too many ops to schedule in seconds, or whose MACs would overflow
    the counters (summed in Python ints: exact)."""
    if len(ops) > MAX_RUN_OPS:
        raise HwsimError(f"schedule: {len(ops):,} ops (expected at most {MAX_RUN_OPS:,} per run, a few seconds of "
                         "scheduling: use a smaller model or fewer phases)", "--model/--phases")
    macs = sum(op.macs for op in ops)
    if macs > MAX_RUN_MACS:
        raise HwsimError(f"schedule: the run needs {macs:.3g} MACs (expected at most {MAX_RUN_MACS:.3g}: "
                         "use a smaller batch, resolution or model)", "--batch/--resolution/--model")


def _too_many_tiles(total: int, mapped: int, ops: int) -> None:
    """The whole-run budget is exceeded: refuse before any per-tile array is allocated."""
    which = f"{ops:,} ops" if mapped == ops else f"the first {mapped:,} of {ops:,} ops"
    raise HwsimError(f"schedule: {which} need {total:,} tiles, about {total * BYTES_PER_TILE / 1e6:,.0f} MB "
                     f"(expected at most {MAX_RUN_TILES:,} tiles, {MAX_RUN_TILES * BYTES_PER_TILE / 1e6:,.0f} MB, "
                     "for the whole run: use a smaller batch, resolution or model)", "--batch/--resolution/--model")


def _table(ops, sched: Schedule, cycles, busy, stall, cfg: SATConfig) -> pd.DataFrame:
    """One row per op: what it is, how it was mapped, its timing, traffic and energy."""
    starts = sched.offsets[:-1]
    table = pd.DataFrame(sched.rows)
    table["tiles"] = np.diff(sched.offsets)
    table["cycles"] = cycles
    table["busy_cycles"] = busy
    table["stall_cycles"] = stall
    table["select_cycles"] = np.add.reduceat(sched.select, starts)  # every op has at least one tile
    table["dram_bytes"] = np.add.reduceat(sched.load + sched.store, starts)
    energy = [op_energy(op, cfg, int(d), int(c), int(s))
              for op, d, c, s in zip(ops, table["dram_bytes"], cycles, table["select_cycles"])]
    for comp in COMPONENTS:
        table[f"e_{comp}"] = [e[comp] for e in energy]
    table["energy_j"] = table[[f"e_{c}" for c in COMPONENTS]].sum(axis=1)
    return table


def _graph(model, resolution, classes):
    if isinstance(model, models.Graph):
        return model
    try:
        return models.load(str(model), resolution=resolution, classes=classes)
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
