"""Human-readable views of a Result: the CLI's default table output."""
from __future__ import annotations

from hwsim.result import Result


def summary_text(res: Result, top: int = 15) -> str:
    """Totals, per-phase split, energy breakdown and the layers that take the most cycles."""
    nm = f" {res.nm}" if res.nm else ""
    lines = [
        f"{res.model} on {res.arch}, {res.method}{nm}, batch {res.batch}",
        f"  {res.cycles:,} cycles = {res.seconds * 1e3:.3f} ms   energy {res.energy_j:.4g} J   "
        f"DRAM {res.dram_bytes / 1e6:,.1f} MB   MACs {res.macs / 1e9:,.2f} G",
        *_extras(res),
        "",
        f"  {'phase':6s} {'cycles':>15s} {'share':>7s} {'ms':>10s} {'energy J':>10s} {'DRAM MB':>10s}",
    ]
    for phase, p in res.phases.items():
        lines.append(f"  {phase:6s} {p['cycles']:15,d} {p['cycles'] / res.cycles:7.1%} {p['seconds'] * 1e3:10.3f} "
                     f"{p['energy_j']:10.4g} {p['dram_bytes'] / 1e6:10.1f}")
    energy = res.energy_breakdown
    lines += ["", "  energy: " + ", ".join(f"{k} {v / res.energy_j:.0%}" for k, v in energy.items() if v > 0)]
    by_layer = res.ops.groupby("layer", sort=False).agg(
        cycles=("cycles", "sum"), stall=("stall_cycles", "sum"), dram=("dram_bytes", "sum"), macs=("macs", "sum"))
    by_layer = by_layer.sort_values("cycles", ascending=False, kind="stable")
    lines += ["", f"  {'layer':28s} {'cycles':>14s} {'share':>7s} {'stall':>7s} {'DRAM MB':>9s} {'GMACs':>8s}"]
    for name, row in by_layer.head(top).iterrows():
        lines.append(f"  {name:28s} {row.cycles:14,d} {row.cycles / res.cycles:7.1%} "
                     f"{row.stall / max(row.cycles, 1):7.1%} {row.dram / 1e6:9.1f} {row.macs / 1e9:8.3f}")
    if len(by_layer) > top:
        lines.append(f"  ... {len(by_layer) - top} more layers (--top N to show more, --csv FILE for every op)")
    return "\n".join(lines)


def _extras(res: Result) -> list[str]:
    """Baseline comparison and board budget, when the result has them."""
    lines = []
    if res.baseline:
        lines.append(f"  vs dense on the same arch: speedup {res.speedup:.2f}x, energy saving {res.energy_saving:.1%}")
    r = res.resources
    if r:
        use = ", ".join(f"{k.upper()} {r[f'{k}_util']:.0%}" for k in ("dsp", "lut", "ff", "bram", "uram")
                        if f"{k}_util" in r)
        flag = "" if r["fits_board"] else "   OVER BUDGET (estimate)"
        lines.append(f"  board use (estimate): {use}{flag}")
    if res.arch_base:
        lines.append(f"  arch derived from {res.arch_base}")
    return lines
