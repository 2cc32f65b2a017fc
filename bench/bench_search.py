"""Benchmark: how much of the exhaustive Pareto front the co-search recovers, at a tenth of the evaluations.

A space small enough to enumerate (3,456 points: array rows x cols x multipliers per PE x B buffer x DRAM
channels x vector lanes x {dense, BDWP 2:8}; ResNet9 at batch 4 on sat-vcu1525, objectives latency and
resources) is first swept exhaustively with `hwsim.sweep` (over-budget configurations pruned; the table resumes
from build/, keyed by MODEL_VERSION). Then `hwsim.search` runs with a budget of 10% of the simulated grid points
(every trial counts, repeats and pruned ones included) for TPE (the default), NSGA-II and random sampling, over
several seeds. Trials are answered from the exhaustive table: the simulator is deterministic and the table's rows
are its results for exactly those designs, so the search code path runs unchanged and only the simulation is
skipped. Quality: hypervolume of the designs found / hypervolume of the exhaustive front, each objective
normalized from the exhaustive front's best (0) to its worst (1), reference point 1.1 (just beyond the front's
nadir, so the measure looks at the front and not at the easy region far behind it). Goal: >= 98% at <= 10% of
the evaluations, and better than random at the same budget (median over seeds).

Writes reports/search_quality/{summary.md, results.csv, quality.{png,pdf,svg}}.
"""
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

import hwsim
from hwsim.searches import search
from hwsim.searches import study as study_module
from hwsim.searches.front import hypervolume, pareto_mask

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "reports" / "search_quality"
GRID_CSV = ROOT / "build" / "search_quality_grid.csv"
GRID = {"array.rows": [8, 16, 24, 32, 48, 64], "array.cols": [8, 16, 32, 64], "array.mults_per_pe": [2, 4],
        "buffers.b_kib": [512, 1024, 2048, 4096], "dram.channels": [1, 2, 4], "vector.lanes": [64, 128, 256]}
METHODS = ["dense", "bdwp:2:8"]
MODEL, BATCH = "resnet9", 4
OBJECTIVES = ["latency", "resources"]
SAMPLERS = ["tpe", "nsga2", "random"]
SEEDS = [0, 1, 2, 3, 4]
GOAL_HV, BUDGET = 0.98, 0.10


def exhaustive() -> pd.DataFrame:
    GRID_CSV.parent.mkdir(exist_ok=True)
    spec = {"version": 1, "arch": "sat-vcu1525", "grid": GRID, "models": [MODEL], "methods": METHODS,
            "batch": BATCH}
    t0 = time.perf_counter()
    table = hwsim.sweep(spec, GRID_CSV, progress=sys.stderr.isatty())
    table.attrs["wall_s"] = time.perf_counter() - t0
    budget = hwsim.load_arch("sat-vcu1525").board  # resources: the largest utilization, as the search's objective
    res = table.apply(lambda r: max(r[k] / getattr(budget, k) for k in ("dsp", "lut", "ff", "bram", "uram")
                                    if getattr(budget, k)), axis=1)
    table = table.assign(latency=table["seconds"], resources=res,
                         method=[m if not isinstance(n, str) else f"{m}:{n}" for m, n in zip(table.method, table.nm)])
    return table


def lookup(table: pd.DataFrame):
    """`evaluate` answered from the exhaustive table (same signature as hwsim.searches.study.evaluate)."""
    index = {(*(row[p] for p in GRID), row["method"]): row for _, row in table.iterrows()}

    def evaluate(cfg, method, nm, batch, options, workloads):
        key = (*(_get(cfg, p) for p in GRID), f"{method}:{nm}" if nm else method)
        row = index[key]
        return [{"cycles": int(row["cycles"]), "seconds": float(row["seconds"]), "energy_j": float(row["energy_j"])}]

    return evaluate


def _get(cfg, path):
    section, field = path.split(".")
    return getattr(getattr(cfg, section), field)


def main() -> None:
    grid = exhaustive()
    n_grid = len(grid)
    total = int(np.prod([len(v) for v in GRID.values()])) * len(METHODS)
    values = grid[OBJECTIVES].to_numpy(dtype=float)
    front = values[pareto_mask(values)]
    lo, hi = front.min(axis=0), front.max(axis=0)
    norm = lambda v: (np.asarray(v, dtype=float) - lo) / (hi - lo)  # noqa: E731
    ref = np.full(len(OBJECTIVES), 1.1)
    hv_grid = hypervolume(norm(front), ref)
    budget = int(BUDGET * n_grid)
    print(f"exhaustive grid: {total} points, {n_grid} simulated (the rest over the board budget; "
          f"{grid.attrs['computed']} computed now, {grid.attrs['resumed']} resumed from {GRID_CSV.name}, "
          f"{grid.attrs['wall_s']:.0f} s); front {len(front)} designs; search budget {budget} trials")

    study_module.evaluate = lookup(grid)
    rows, curves, found_fronts = [], {}, {}
    space = {p: v for p, v in GRID.items()} | {"method": METHODS}
    with tempfile.TemporaryDirectory() as tmp:
        for sampler in SAMPLERS:
            for seed in SEEDS:
                spec = {"version": 1, "arch": "sat-vcu1525", "space": space, "models": [MODEL], "batch": BATCH,
                        "objectives": OBJECTIVES, "trials": budget, "sampler": sampler, "seed": seed}
                t0 = time.perf_counter()
                res = search(spec, Path(tmp) / f"{sampler}-{seed}", jobs=1, progress=False)
                wall = time.perf_counter() - t0
                trials = res.trials.sort_values("trial")
                ok = trials[(trials.status == "ok")]
                found = ok[OBJECTIVES].to_numpy(dtype=float)
                hv = hypervolume(norm(found), ref) / hv_grid
                curve = []
                for n in range(10, budget + 1, 10):
                    part = trials[(trials.trial < n) & (trials.status == "ok")][OBJECTIVES].to_numpy(dtype=float)
                    curve.append(hypervolume(norm(part), ref) / hv_grid if len(part) else 0.0)
                curves[(sampler, seed)] = curve
                found_fronts[(sampler, seed)] = found[pareto_mask(found)]
                reach = next((n for n, c in zip(range(10, budget + 1, 10), curve) if c >= GOAL_HV), None)
                rows.append({"sampler": sampler, "seed": seed, "trials": len(trials),
                             "simulated": int(res.counts["simulated"]), "repeats": int(res.counts["cached"]),
                             "over_budget": int(res.counts["over_budget"]), "hv_ratio": hv,
                             "front_found": len(res.front), "trials_to_98": reach, "wall_s": wall})
                print(f"  {sampler:6s} seed {seed}: {hv:.4f} of the exhaustive hypervolume "
                      f"({len(trials)} trials, {res.counts['simulated']} distinct designs, {wall:.1f} s)")
    table = pd.DataFrame(rows)
    med = table.groupby("sampler", sort=False)["hv_ratio"].median()
    OUT.mkdir(parents=True, exist_ok=True)
    table.to_csv(OUT / "results.csv", index=False)
    figs = _figure(grid, front, curves, budget, found_fronts)
    verdict = med["tpe"] >= GOAL_HV and med["tpe"] > med["random"]
    lines = ["# Search quality against an exhaustive grid", "",
             "Written by `python bench/bench_search.py` (`make bench`, or `make bench-search` alone).", "",
             f"Space: {' x '.join(f'{p} {v}' for p, v in GRID.items())} x methods {METHODS}: {total:,} points; "
             f"{n_grid:,} within the VCU1525 budget were simulated ({MODEL}, batch {BATCH}); the exhaustive front "
             f"has {len(front)} designs. Objectives: {', '.join(OBJECTIVES)} (latency per iteration; resources = "
             "the largest board utilization).", "",
             f"Budget: {budget} trials = {budget / n_grid:.1%} of the simulated grid points (every trial counts, "
             "including repeats and over-budget ones). Quality: hypervolume of the designs a search simulated over "
             "the exhaustive front's, each objective normalized from the front's best (0) to its worst (1), "
             "reference point 1.1.", "",
             "| sampler | median hypervolume ratio | min | max | median distinct designs simulated | median trials "
             "to reach 98% (checked every 10) |",
             "|---|---|---|---|---|---|"]
    for sampler, part in table.groupby("sampler", sort=False):
        reach = part.trials_to_98.dropna()
        shown = f"{reach.median():.0f} ({len(reach)} of {len(part)} seeds reach it)" if len(reach) else "not reached"
        lines.append(f"| {sampler} | {part.hv_ratio.median():.4f} | {part.hv_ratio.min():.4f} | "
                     f"{part.hv_ratio.max():.4f} | {part.simulated.median():.0f} | {shown} |")
    lines += ["", f"Goal (TPE, the default): median >= {GOAL_HV:.0%} and above random: "
                  f"{'met' if verdict else 'NOT met'} ({med['tpe']:.2%} vs random {med['random']:.2%}).", "",
              "![quality](quality.png)", ""]
    (OUT / "summary.md").write_text("\n".join(lines))
    print("\n".join(lines[-4:-2]))
    print("wrote", OUT / "summary.md", *figs)


def _figure(grid, front, curves, budget, found_fronts):
    from hwsim.figures.style import figure, save_figure

    fig, (ax1, ax2) = figure(1, 2, figsize=(10, 4))
    xs = list(range(10, budget + 1, 10))
    colors = {"tpe": "#0072B2", "nsga2": "#009E73", "random": "#D55E00"}
    for sampler in SAMPLERS:
        runs = np.array([curves[(sampler, s)] for s in SEEDS])
        ax1.plot(xs, np.median(runs, axis=0), color=colors[sampler], label=f"{sampler} (median of {len(SEEDS)})")
        ax1.fill_between(xs, runs.min(axis=0), runs.max(axis=0), color=colors[sampler], alpha=0.15)
    ax1.axhline(GOAL_HV, color="k", lw=0.8, ls=":", label=f"{GOAL_HV:.0%}")
    ax1.set_xlabel("trials")
    ax1.set_ylabel("hypervolume / exhaustive")
    ax1.set_ylim(0.0, 1.01)
    ax1.grid(True, alpha=0.25)
    ax1.legend(loc="lower right", fontsize=8)
    ax2.scatter(grid["latency"] * 1e3, grid["resources"], s=4, color="#BBBBBB", label="exhaustive grid")
    f = front[np.argsort(front[:, 0])]
    ax2.plot(f[:, 0] * 1e3, f[:, 1], color="k", marker="o", ms=7, mfc="none", lw=1, label="exhaustive front")
    for sampler in ("tpe", "random"):
        g = found_fronts[(sampler, SEEDS[0])]
        ax2.scatter(g[:, 0] * 1e3, g[:, 1], s=14, color=colors[sampler], zorder=3,
                    label=f"front found by {sampler} (seed {SEEDS[0]})")
    ax2.set_xscale("log")
    ax2.set_xlabel("latency per iteration (ms)")
    ax2.set_ylabel("largest board utilization")
    ax2.grid(True, alpha=0.25)
    ax2.legend(loc="upper right", fontsize=8)
    fig.suptitle("Co-search against the exhaustive grid")
    return save_figure(fig, OUT / "quality")


if __name__ == "__main__":
    main()
