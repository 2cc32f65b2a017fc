"""`simulate`: one training iteration of a model on a SAT configuration, timed tile by tile."""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from hwsim import models
from hwsim.dataflow.lowering import Lowering, lower
from hwsim.dataflow.ops import GemmOp, Phase
from hwsim.dataflow.sparsity import SparsityError, resolve
from hwsim.dataflow.offline import dependencies, priorities, to_csr, units
from hwsim.dataflow.tiling import DATAFLOWS, MappingError, ScheduleTooLarge, gemm_tiles, map_gemm, vector_tiles
from hwsim.config import SATConfig, load_arch
from hwsim.energy import COMPONENTS, op_energy
from hwsim.engine import run_offline, run_offline_reference, run_pipeline, run_reference
from hwsim.errors import HwsimError
from hwsim.result import Result

ENGINES = {"numba": run_pipeline, "reference": run_reference}
OFFLINE_ENGINES = {"numba": run_offline, "reference": run_offline_reference}
VECTOR_RESERVE = 512 * 1024  # of the A and C buffers, kept for vector passes under offline scheduling


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

    def __call__(self, compute: np.ndarray, dram: np.ndarray, tiles: np.ndarray) -> np.ndarray:
        dma = dram / self.bytes_per_cycle + 2 * tiles * self.latency
        cycles = np.maximum(compute, dma) + np.minimum(compute, dma) / tiles
        if self.objective == "latency":
            return cycles
        energy = dram * self.byte_pj + cycles * self.static_pj_per_cycle
        return energy if self.objective == "energy" else energy * cycles


def simulate(model, arch, method: str = "dense", nm=None, batch: int = 32, *, phases=None,
             resolution: int | None = None, classes: int | None = None, pregen: bool = True,
             interleave: bool = True, dense_ends: bool = True, fuse: bool = True, pad: bool = True,
             offline: bool = True, objective: str = "latency", dataflow: str | None = None,
             engine: str = "numba") -> Result:
    """Simulate one iteration of `model` (zoo name, YAML file or Graph) on `arch` (preset, YAML file or SATConfig).

    method: dense | srste | bdwp | transposable, with `nm` like "2:8" for the sparse ones.
    phases: subset of ("ff", "bp", "wu"); ("ff",) simulates inference. pregen: pre-generate N:M weights
    during the update (else the selector runs as weights load). interleave: interleave mapping (fill/drain
    once per tile). dense_ends: keep the first layer and the classifier dense. fuse: fold activations into
    the pass that produces their input (see dataflow.lowering). pad: zero-pad a reduction dim that is not a
    multiple of M (else that phase runs dense). A SCALE-Sim topology's sparsity column, when it has one, sets
    each layer's N:M for the sparse methods (1:1: dense), over `nm` and `dense_ends`. offline: offline scheduling (the array and the vector engine
    work on different ops at once within the dependencies; else every op waits for the previous one).
    objective: what the mapping search minimizes per GEMM (latency | energy | edp). dataflow: os | ws | is to
    fix the dataflow of every GEMM (default: searched).
    """
    cfg = load_arch(arch)
    graph = _graph(model, resolution, classes)
    try:
        meth, spec = resolve(method, nm)
    except SparsityError as exc:
        raise HwsimError(str(exc), "--nm" if "nm:" in str(exc) else "--method") from None
    if spec is not None:
        cfg.check_nm(spec)
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise HwsimError(f"batch: {batch!r} (expected a positive integer)", "--batch")
    phase_set = _phases(phases)
    layer_nm = _topology_sparsity(model, cfg)
    how = Lowering(meth, spec, batch, pregen, dense_ends, fuse, phase_set, cfg.precision.operand_bytes, pad,
                   layer_nm)
    ops = lower(graph, how)
    if not ops:
        raise HwsimError(f"model: {graph.name} has no ops to simulate in phases {sorted(p.value for p in phase_set)}",
                         "--model")
    if engine not in ENGINES:
        raise HwsimError(f"engine: {engine!r} (expected one of: {', '.join(ENGINES)})", "engine=")
    if objective not in OBJECTIVES:
        raise HwsimError(f"objective: {objective!r} (expected one of: {', '.join(OBJECTIVES)})", "--objective")
    allowed = cfg.mapping.dataflows
    if dataflow is not None and dataflow not in allowed:
        raise HwsimError(f"dataflow: {dataflow!r} (expected one of: {', '.join(allowed)})", "--dataflow")
    interleave = interleave and cfg.mapping.interleave
    sched = build_schedule(ops, cfg, interleave, offline, objective, (dataflow,) if dataflow else allowed)
    cycles, busy, stall = ENGINES[engine](*sched.engine_args(cfg))
    if offline:
        deps = dependencies(graph, ops, how)
        unit = units(ops)
        prio = priorities(cycles.astype(np.float64), deps)  # each op's time alone as its estimate
        start, end, busy, stall = OFFLINE_ENGINES[engine](*sched.engine_args(cfg), unit, prio, *to_csr(deps))
        cycles = attribute(start, end, unit)
    else:
        end = np.cumsum(cycles)
        start = end - cycles
    table = _table(ops, sched, cycles, busy, stall, cfg)
    table["start"], table["end"] = start, end
    options = {"phases": [p.value for p in Phase if p in phase_set], "pregen": pregen, "interleave": interleave,
               "dense_ends": dense_ends, "fuse": fuse, "pad": pad, "offline": offline, "objective": objective,
               "dataflow": dataflow or "searched", "input_shape": list(graph.input_shape)}
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
    mappings: tuple = ()  # per op: the GEMM's tiling.Mapping, None for a vector pass

    def engine_args(self, cfg: SATConfig) -> tuple:
        return (self.offsets, self.load, self.store, self.select, self.compute, float(cfg.dram_bytes_per_cycle),
                int(cfg.dram_latency_cycles))


def build_schedule(ops, cfg: SATConfig, interleave: bool = True, offline: bool = False, objective: str = "latency",
                   dataflows: tuple[str, ...] = DATAFLOWS) -> Schedule:
    """Map every GEMM (tile search through the roofline cost model) and chunk every vector pass.

    Under offline scheduling a vector pass may run beside a GEMM, so the A and C buffers are split: the vector
    passes get VECTOR_RESERVE of each (at most a quarter), the GEMM tiles the rest.
    """
    target = replace(cfg.target, interleave=interleave)
    vector_target = target
    if offline:
        res_a = min(VECTOR_RESERVE, target.a_buffer_bytes // 4)
        res_c = min(VECTOR_RESERVE, target.c_buffer_bytes // 4)
        vector_target = replace(target, a_buffer_bytes=res_a, c_buffer_bytes=res_c)
        target = replace(target, a_buffer_bytes=target.a_buffer_bytes - res_a,
                         c_buffer_bytes=target.c_buffer_bytes - res_c)
    e = cfg.energy
    cost = RooflineCost(cfg.dram_bytes_per_cycle, cfg.dram_latency_cycles, objective, e.dram_byte_pj + e.sram_byte_pj,
                        e.static_w / cfg.clock_hz * 1e12)
    rows, tiles, mappings = [], [], []
    try:
        for op in ops:
            if isinstance(op, GemmOp):
                mp = map_gemm(op, target, cost, dataflows)
                tiles.append(gemm_tiles(op, mp, target))
                rows.append(_row(op, mp.dataflow, mp.order, f"{mp.m_t}x{mp.k_t}x{mp.n_t}"))
                mappings.append(mp)
            else:
                tiles.append(vector_tiles(op, vector_target))
                rows.append(_row(op, "vector", "", ""))
                mappings.append(None)
    except MappingError as exc:
        raise HwsimError(str(exc), f"--arch {cfg.name}") from None
    except ScheduleTooLarge as exc:
        raise HwsimError(str(exc), "--batch/--resolution") from None
    offsets = np.concatenate([[0], np.cumsum([len(t) for t in tiles])]).astype(np.int64)
    cat = [np.concatenate([getattr(t, f) for t in tiles]) for f in ("load_bytes", "store_bytes", "select_cycles",
                                                                      "compute_cycles")]
    return Schedule(rows, offsets, *cat, tuple(mappings))


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
    energy = [op_energy(op, cfg, int(d), int(c), int(s), mp) for op, d, c, s, mp in
              zip(ops, table["dram_bytes"], cycles, table["select_cycles"], sched.mappings)]
    for comp in COMPONENTS:
        table[f"e_{comp}"] = [e[comp] for e in energy]
    table["energy_j"] = table[[f"e_{c}" for c in COMPONENTS]].sum(axis=1)
    return table


def _topology_sparsity(model, cfg: SATConfig) -> tuple:
    """A SCALE-Sim topology's sparsity column as per-layer N:M specs (for sparse methods; 1:1 rows are dense)."""
    if not (isinstance(model, str) and model.lower().endswith(".csv")):
        return ()
    from hwsim.dataflow.sparsity import NM
    from hwsim.models import scalesim

    try:
        topo = scalesim.read(model)
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
            raise HwsimError(f"model {model}: layer {layer.name!r} sparsity {exc}", "--model") from None
        if nm is not None:
            cfg.check_nm(nm)
        out.append((layer.name, nm))
    return tuple(out)


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
            raise HwsimError(f"phases: {item!r} (expected a comma list of ff, bp, wu)", "--phases") from None
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
