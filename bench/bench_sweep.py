"""Benchmark: sweep points per second per core for ResNet-50 training iterations (batch 32) on sat-vcu1525.

A 32-point sweep (vector lanes x DRAM channels x array rows x {dense, bdwp 2:8}) runs in this process (one core),
each pass cold (every per-process cache emptied first; numba already compiled):
  - plain: the fast paths off (`set_fast(False)`: every candidate row in numpy, the same branch and bound in
    Python over per-tile arrays, schedules and energy op by op), the caches on: the plain reference path;
  - fast: the fast paths on (candidate kernel, branch and bound kernel, schedule parts shared across points,
    vectorized energy);
  - warm: the same sweep again with every cache full (a resumed or repeated sweep).
All passes in this run, so the ratio is what counts on a noisy machine; the numbers are checked equal. Goal: 100
points/s/core cold. Then where the cold pass spends its time (cProfile), the offline engine's share named.
"""
import cProfile
import pstats
import time

from hwsim.simulation import clear_caches, set_fast, simulate
from hwsim.sweeps import sweep

SPEC = {
    "version": 1, "arch": "sat-vcu1525",
    "grid": {"vector.lanes": [64, 128, 256, 512], "dram.channels": [2, 4], "array.rows": [16, 32]},
    "models": ["resnet50"], "methods": ["dense", "bdwp:2:8"], "batch": 32,
}
COLUMNS = ["cycles", "energy_j", "dram_bytes"]


def run(fast: bool, cold: bool = True):
    set_fast(fast)
    if cold:
        clear_caches()
    t0 = time.perf_counter()
    table = sweep(SPEC, jobs=1, progress=False)
    return len(table) / (time.perf_counter() - t0), table


def best(fast: bool, repeat: int = 3):
    rates = [run(fast) for _ in range(repeat)]
    return max(r for r, _ in rates), rates[0][1]


def profile_shares() -> list[tuple[str, float]]:
    """Fractions of one cold fast pass spent in the main stages (cumulative times; stages may nest)."""
    set_fast(True)
    clear_caches()
    prof = cProfile.Profile()
    prof.enable()
    sweep(SPEC, jobs=1, progress=False)
    prof.disable()
    stats = pstats.Stats(prof).stats
    total = max(v[3] for v in stats.values())
    stages = {("offline.py", "run_offline"): "offline engine (run_offline)",
              ("simulation.py", "_static_program"): "offline static program (_static_program)",
              ("tiling.py", "_best"): "tile search (tiling._best)",
              ("simulation.py", "_part_tiles"): "per-tile arrays of the chosen mappings",
              ("simulation.py", "_table"): "per-op table + energy",
              ("pipeline.py", "run_pipeline"): "per-op times alone (run_pipeline)",
              ("simulation.py", "attribute"): "cycles attributed to ops",
              ("offline.py", "owned_cycles"): "cycles attributed to ops (owned_cycles)"}
    out = []
    for (path, _, name), v in stats.items():
        stage = stages.get((path.replace("\\", "/").rsplit("/", 1)[-1], name))
        if stage:
            out.append((stage, v[3] / total))
    return sorted(out, key=lambda x: -x[1])


def engine_share() -> tuple[float, float]:
    """Per point, the offline engine's and its static program's time (ms) in one cold fast pass (wrapped timers),
    and the pass's time per point (ms)."""
    import hwsim.simulation as sim

    spent = [0.0]

    def timed(fn):
        def wrapper(*args):
            t0 = time.perf_counter()
            try:
                return fn(*args)
            finally:
                spent[0] += time.perf_counter() - t0
        return wrapper

    engine, prio = sim.OFFLINE_ENGINES["numba"], sim._static_program
    sim.OFFLINE_ENGINES["numba"], sim._static_program = timed(engine), timed(prio)
    try:
        set_fast(True)
        clear_caches()
        t0 = time.perf_counter()
        n = len(sweep(SPEC, jobs=1, progress=False))
        total = time.perf_counter() - t0
    finally:
        sim.OFFLINE_ENGINES["numba"], sim._static_program = engine, prio
    return spent[0] / n * 1e3, total / n * 1e3


def main() -> None:
    simulate("resnet50", "sat-vcu1525", "bdwp", "2:8", batch=32)  # JIT warm-up, not measured
    before, plain = best(False)
    after, fast = best(True)
    again, _ = run(True, cold=False)
    set_fast(True)
    assert plain[COLUMNS].equals(fast[COLUMNS]), "the fast paths changed a number"
    n = len(fast)
    print(f"sweep of {n} ResNet-50 training points, one process, best of 3 cold passes:")
    print(f"  plain paths (fast paths off), cold     : {before:7.1f} points/s/core")
    print(f"  issue 12 fast paths, cold              : {after:7.1f} points/s/core  ({after / before:.1f}x; goal 100)")
    print(f"  issue 12, warm caches (repeat)         : {again:7.1f} points/s/core  ({again / before:.1f}x)")
    engine_ms, point_ms = engine_share()
    print(f"  offline engine + its static program    : {engine_ms:5.2f} ms of {point_ms:5.2f} ms per cold point "
          f"({engine_ms / point_ms * 100:.0f}%)")
    print("  where a cold fast pass spends its time (cProfile, cumulative):")
    for name, share in profile_shares():
        print(f"    {name:42s} {share * 100:5.1f}%")


if __name__ == "__main__":
    main()
