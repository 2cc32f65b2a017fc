"""Human-readable views of a Result: the CLI's default table output."""
from __future__ import annotations

import re

import pandas as pd

from hwsim.result import Result

LAYER_LEGEND = (
    "  columns: x = layers in the row (repeated layers of identical cost share a row, [a-b] spanning their\n"
    "  numbers); cycles = per layer, over its ops in every phase; share = the row's layers' part of all cycles;\n"
    "  stall = part of the layer's time on its unit (busy + stall) the unit sat idle waiting for a tile's\n"
    "  operands (DRAM load or N:M selection on load); DRAM MB = per layer, bytes read + written / 1e6;\n"
    "  GMACs = per layer, MACs / 1e9"
)


def summary_text(res: Result, top: int = 15) -> str:
    """Totals, per-phase split, energy breakdown and the costliest layers (repeated layers grouped), with a
    legend of the layer columns."""
    nm = f" {res.nm}" if res.nm else ""
    lines = [
        f"{res.model} on {res.arch}, {res.method}{nm}, batch {res.batch}",
        f"  {res.cycles:,} cycles = {res.seconds * 1e3:,.3f} ms   energy {res.energy_j:,.4f} J   "
        f"DRAM {res.dram_bytes / 1e6:,.1f} MB   MACs {res.macs / 1e9:,.3f} G",
        *_extras(res),
        "",
        f"  {'phase':6s} {'cycles':>15s} {'share':>7s} {'ms':>11s} {'energy J':>10s} {'DRAM MB':>11s}",
    ]
    for phase, p in res.phases.items():
        lines.append(f"  {phase:6s} {p['cycles']:15,d} {p['cycles'] / res.cycles:7.1%} {p['seconds'] * 1e3:11,.3f} "
                     f"{p['energy_j']:10,.4f} {p['dram_bytes'] / 1e6:11,.1f}")
    energy = res.energy_breakdown
    lines += ["", "  energy: " + ", ".join(f"{k} {v / res.energy_j:.1%}" for k, v in energy.items() if v > 0)]
    groups = layer_groups(res.ops)
    lines += ["", f"  {'layer':36s} {'x':>4s} {'cycles':>14s} {'share':>7s} {'stall':>7s} {'DRAM MB':>11s} "
                  f"{'GMACs':>9s}"]
    for row in groups.head(top).itertuples():
        label = row.label if len(row.label) <= 36 else row.label[:16] + "..." + row.label[-17:]
        lines.append(f"  {label:36s} {row.count:4d} {row.cycles:14,d} {row.total / res.cycles:7.1%} "
                     f"{row.stall / max(row.busy + row.stall, 1):7.1%} {row.dram / 1e6:11,.1f} {row.macs / 1e9:9,.3f}")
    if len(groups) > top:
        rest = int(groups["count"].iloc[top:].sum())
        lines.append(f"  ... {len(groups) - top} more rows ({rest} layers; --top N to show more, --csv FILE for "
                     "every op)")
    lines += [LAYER_LEGEND]
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


def layer_groups(ops: pd.DataFrame) -> pd.DataFrame:
    """One row per group of layers that share a name pattern (digits as '#') and an identical cost, costliest
    first: columns label, count, and per-layer cycles, stall, busy, dram, macs, and the group's total cycles."""
    per_layer = ops.groupby("layer", sort=False).agg(
        cycles=("cycles", "sum"), stall=("stall_cycles", "sum"), busy=("busy_cycles", "sum"), dram=("dram_bytes", "sum"),
        macs=("macs", "sum"))
    per_layer["pattern"] = [_DIGITS.sub("#", str(name)) for name in per_layer.index]
    keys = ["pattern", "cycles", "stall", "busy", "dram", "macs"]
    grouped = per_layer.reset_index().groupby(keys, sort=False).agg(count=("layer", "size")).reset_index()
    names = per_layer.reset_index().groupby(keys, sort=False)["layer"].agg(list).reset_index(drop=True)
    grouped["label"] = [_label(list(group)) for group in names]
    grouped["total"] = grouped["cycles"] * grouped["count"]
    cols = ["label", "count", "cycles", "stall", "busy", "dram", "macs", "total"]
    return grouped.sort_values("total", ascending=False, kind="stable")[cols].reset_index(drop=True)


_DIGITS = re.compile(r"\d+")


def _label(names: list[str]) -> str:
    """Names that differ only in their numbers, as one: each number that varies shown as [a-b] (a run),
    [a,b,c] (up to three) or [#]: ``blocks.0.mlp.fc1`` ... ``blocks.11.mlp.fc1`` -> ``blocks.[0-11].mlp.fc1``."""
    if len(names) == 1:
        return str(names[0])
    parts = [_DIGITS.split(str(n)) for n in names]
    numbers = [_DIGITS.findall(str(n)) for n in names]
    out = parts[0][0]
    for i, text in enumerate(parts[0][1:]):
        values = sorted({int(nums[i]) for nums in numbers})
        if len(values) == 1:
            shown = numbers[0][i]
        elif values == list(range(values[0], values[-1] + 1)):
            shown = f"[{values[0]}-{values[-1]}]"
        elif len(values) <= 3:
            shown = "[" + ",".join(map(str, values)) + "]"
        else:
            shown = "[#]"
        out += shown + text
    return out
