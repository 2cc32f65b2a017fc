"""The 140-case monotonicity review: more resources must never make a training iteration slower.

The five SAT paper workloads (batch 32, `sat-vcu1525`), dense and BDWP 2:8, each with 14 single-field increases of
a resource (DRAM bandwidth, buffers, latency down, vector lanes, selector lanes, buffer ports): 140 cases. A case
is a violation when the iteration gets slower by more than 0.1%. Prints every case slower at all, the worst
ratio and the count of violations; exits 1 on any violation.

    .venv/bin/python bench/monotonicity.py [--batch N] [--json]
"""
import argparse
import json
import sys
import time

from hwsim.config import load_arch
from hwsim.studies.sat_paper import WORKLOADS
from hwsim.simulation import simulate

TOLERANCE = 1e-3  # slower by more than 0.1% is a violation
METHODS = (("dense", None), ("bdwp", "2:8"))
CHANGES = (  # (field, more-resource value) against sat-vcu1525
    ("dram.efficiency", 0.9), ("dram.efficiency", 1.0), ("dram.channels", 8), ("dram.mega_transfers", 3200),
    ("dram.latency_ns", 75.0), ("dram.latency_ns", 0.0),
    ("buffers.a_kib", 8192), ("buffers.b_kib", 4096), ("buffers.c_kib", 4096),
    ("vector.lanes", 512), ("selector.lanes", 128),
    ("ports.a_bytes", 2048), ("ports.b_bytes", 1024), ("ports.c_bytes", 2048),
)


def run(batch: int = 32) -> list[dict]:
    base_cfg = load_arch("sat-vcu1525")
    rows = []
    for w in WORKLOADS:
        for method, nm in METHODS:
            kw = dict(batch=batch, resolution=w.resolution, classes=w.classes)
            base = simulate(w.model, base_cfg, method, nm, **kw).cycles
            for path, value in CHANGES:
                cycles = simulate(w.model, base_cfg.derive({path: value}), method, nm, **kw).cycles
                rows.append({"workload": w.label, "method": method if nm is None else f"{method} {nm}",
                             "change": f"{path}={value}", "base": int(base), "cycles": int(cycles),
                             "ratio": cycles / base})
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    rows = run(args.batch)
    slower = [r for r in rows if r["ratio"] > 1]
    violations = [r for r in rows if r["ratio"] > 1 + TOLERANCE]
    worst = max(rows, key=lambda r: r["ratio"])
    if args.json:
        print(json.dumps({"cases": len(rows), "violations": len(violations), "slower": slower, "worst": worst}))
    else:
        for r in slower:
            print(f"  slower: {r['workload']:22s} {r['method']:9s} {r['change']:24s} {r['base']:>11,} -> "
                  f"{r['cycles']:>11,} ({(r['ratio'] - 1) * 100:+.3f}%)")
        print(f"monotonicity review: {len(rows)} cases, {len(violations)} violations (> +{TOLERANCE:.1%}), "
              f"{len(slower)} slower at all; worst {worst['workload']} {worst['method']} {worst['change']}: "
              f"{(worst['ratio'] - 1) * 100:+.3f}% ({time.perf_counter() - t0:.0f} s)")
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
