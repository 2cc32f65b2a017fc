"""Benchmark: sweep points per second per core for ResNet-50 training iterations (batch 32) on sat-vcu1525.

A 32-point sweep (vector lanes x DRAM channels x array rows x {dense, bdwp 2:8}) runs in this process (one core),
first with the schedule caches off (as hwsim computed every point before they existed: only the per-shape tile
search was memoized), then with them on, on the same points. Both in this run, so the ratio is what counts
on a noisy machine. Goal: 100 points/s/core.
"""
import time

from hwsim.simulation import set_caching, simulate
from hwsim.sweeps import sweep

SPEC = {
    "version": 1, "arch": "sat-vcu1525",
    "grid": {"vector.lanes": [64, 128, 256, 512], "dram.channels": [2, 4], "array.rows": [16, 32]},
    "models": ["resnet50"], "methods": ["dense", "bdwp:2:8"], "batch": 32,
}


def rate(caching: bool) -> tuple[float, int]:
    set_caching(caching)
    t0 = time.perf_counter()
    table = sweep(SPEC, jobs=1, progress=False)
    return len(table) / (time.perf_counter() - t0), len(table)


def main() -> None:
    simulate("resnet50", "sat-vcu1525", "bdwp", "2:8", batch=32)  # JIT warm-up, not measured
    before, n = rate(False)
    after, _ = rate(True)
    again, _ = rate(True)  # every schedule already cached: what a resumed or repeated sweep costs
    print(f"sweep of {n} ResNet-50 training points, one process:")
    print(f"  caches off : {before:7.1f} points/s/core")
    print(f"  caches on  : {after:7.1f} points/s/core  ({after / before:.1f}x)")
    print(f"  warm cache : {again:7.1f} points/s/core  ({again / before:.1f}x; goal 100)")


if __name__ == "__main__":
    main()
