"""How much of a simulated run's array time the layer machine reproduces, tile by tile.

For every GEMM tile of a run's schedule (the same `build_schedule` the simulator times, offline scheduling and
interleave as `hwsim.simulate` uses them), the layer machine's tile cycles (`layer.layer_tile_cycles`) are set
against the engine's compute cycles for that tile. A tile is
  - `exact`: lowered by rtl/program.py and timed identically;
  - `differs`: lowered, and the RTL tile takes a different, stated number of cycles (OS blocks shorter than
    max(rows, cols) steps; WS: 2 cycles for the first block's weights, and max(m, rows, cols) per block; tiles
    the simulator stretches to its buffer-port rate, which the RTL's one-word-per-cycle ports do not model);
  - `not_lowered`: input-stationary tiles and grouped GEMMs (attention heads, depthwise/grouped convs), which
    the tile program does not lower.
Shares are of the run's GEMM compute cycles (array busy). The N:M of each op is assumed built into the RTL
(the RTL implements one N:M per build; a run mixing dense and 2:8 ops needs both builds or run-time switching).
"""
import numpy as np

from hwsim.dataflow.ops import GemmOp
from hwsim.dataflow.tiling import tile_compute_cycles, tile_walk
from hwsim.rtl.layer import layer_tile_cycles


def _cdiv(a, b):
    return -(-a // b)


def schedule_coverage(ops, sched, cfg) -> dict:
    """Cycles per category (module docstring) over the GEMM ops of a schedule, and the RTL's cycles on the
    lowered ones next to the simulator's."""
    R, C, fill = cfg.array.rows, cfg.array.cols, cfg.fill_cycles
    target = cfg.target
    out = {"exact": 0, "differs": 0, "not_lowered": 0, "rtl_lowered": 0, "sim_lowered": 0,
           # where `differs` comes from: simulated and RTL cycles of those tiles, by cause
           "os_short_sim": 0, "os_short_rtl": 0, "ws_sim": 0, "ws_rtl": 0, "port_sim": 0, "port_rtl": 0}
    for j, (op, mp) in enumerate(zip(ops, sched.mappings)):
        if mp is None or not isinstance(op, GemmOp):
            continue
        comp = sched.compute[sched.offsets[j]:sched.offsets[j + 1]]
        if mp.dataflow == "is" or op.groups != 1 or op.select_on_load:
            out["not_lowered"] += int(comp.sum())
            continue
        w = tile_walk(op, mp)
        ks = target.k_step(op.nm)
        blk_n = _cdiv(w.n, C)
        if mp.dataflow == "os":
            blocks, count = _cdiv(w.m, R) * blk_n, _cdiv(w.k, ks)
        else:
            blocks, count = _cdiv(w.k, R * ks) * blk_n, w.m
        rtl = layer_tile_cycles(R, C, fill, mp.dataflow == "ws", blocks, count)
        same = rtl == comp
        port = comp > tile_compute_cycles(mp.dataflow, w.m, w.k, w.n, R, C, ks, fill, True)
        cause = "ws" if mp.dataflow == "ws" else "os_short"
        for name, mask in ((cause, ~same & ~port), ("port", ~same & port)):
            out[f"{name}_sim"] += int(comp[mask].sum())
            out[f"{name}_rtl"] += int(rtl[mask].sum())
        out["exact"] += int(comp[same].sum())
        out["differs"] += int(comp[~same].sum())
        out["rtl_lowered"] += int(rtl.sum())
        out["sim_lowered"] += int(comp.sum())
    return out


def run_coverage(model, arch, method="bdwp", nm="2:8", batch=32, resolution=None, classes=None) -> dict:
    """`schedule_coverage` of one `hwsim.simulate`-style run (same lowering, mapping and options)."""
    from hwsim.config import load_arch
    from hwsim.dataflow.lowering import Lowering, lower
    from hwsim.dataflow.sparsity import resolve
    from hwsim.simulation import _graph, build_schedule

    cfg = load_arch(arch)
    meth, spec = resolve(method, nm)
    graph = _graph(model, resolution, classes)
    ops = lower(graph, Lowering(meth, spec, batch, elem_bytes=cfg.precision.operand_bytes))
    sched = build_schedule(ops, cfg, cfg.mapping.interleave, True, "latency", cfg.mapping.dataflows)
    res = schedule_coverage(ops, sched, cfg)
    total = res["exact"] + res["differs"] + res["not_lowered"]
    res["gemm_cycles"] = total
    for key in ("exact", "differs", "not_lowered"):
        res[f"{key}_share"] = res[key] / total if total else 0.0
    return res


def paper_table(arch: str = "sat-vcu1525", method: str = "bdwp", nm: str = "2:8", batch: int = 32):
    """`run_coverage` for the SAT paper's five workloads (hwsim.studies.sat_paper.WORKLOADS) and their sum, as rows."""
    from hwsim.studies.sat_paper import WORKLOADS

    rows, tot = [], {}
    for w in WORKLOADS:
        r = run_coverage(w.model, arch, method, nm, batch, w.resolution, w.classes)
        rows.append({"workload": w.label, **r})
        for key, value in r.items():
            if not key.endswith("share"):
                tot[key] = tot.get(key, 0) + value
    total = tot["exact"] + tot["differs"] + tot["not_lowered"]
    rows.append({"workload": "all five", **tot, "gemm_cycles": total,
                 **{f"{k}_share": tot[k] / total for k in ("exact", "differs", "not_lowered")}})
    return rows


def main() -> None:
    """python -m hwsim.rtl.coverage: the paper workloads' GEMM array cycles the layer machine reproduces."""
    rows = paper_table()
    print("| workload | GEMM array cycles (sim) | timed exactly by the RTL | lowered, differs | not lowered | "
          "RTL / sim cycles on lowered tiles |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['workload']} | {r['gemm_cycles']:,} | {r['exact_share']:.1%} | {r['differs_share']:.1%} | "
              f"{r['not_lowered_share']:.1%} | {r['rtl_lowered'] / r['sim_lowered']:.3f} |")
    print()
    print("| workload | OS blocks < max(rows, cols) steps: sim -> RTL | WS tiles: sim -> RTL | port-stretched: sim -> RTL |")
    print("|---|---:|---:|---:|")
    for r in rows:
        print(f"| {r['workload']} | {r['os_short_sim']:,} -> {r['os_short_rtl']:,} | {r['ws_sim']:,} -> {r['ws_rtl']:,} "
              f"| {r['port_sim']:,} -> {r['port_rtl']:,} |")


if __name__ == "__main__":
    main()
