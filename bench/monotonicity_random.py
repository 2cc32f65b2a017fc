"""The 500 random cases of tests/hwsim/test_monotone.py, every change at once, with each violation explained.

For each case (a random configuration, zoo model, method and batch, and one change that only adds a resource) the
iteration is simulated before and after; a violation is an iteration slower by more than 0.1%. For each
violation the script also times every op alone on its own tiles (the tile pipeline, with offline scheduling's bank
split) before and after: when the ops themselves get slower, the mapper's tiling is the cause, not the scheduler.
Prints the count, the worst case and one line per violation; exits 1 on any violation.

    .venv/bin/python bench/monotonicity_random.py [--no-offline]     (under a minute)
"""
import argparse
import sys
import time
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "hwsim"))
import test_monotone as tm  # noqa: E402  (the property's own cases)

from hwsim.config import load_arch  # noqa: E402
from hwsim.dataflow.lowering import Lowering, lower  # noqa: E402
from hwsim.dataflow.sparsity import resolve  # noqa: E402
from hwsim.engine import run_pipeline  # noqa: E402
from hwsim.errors import HwsimError  # noqa: E402
from hwsim.simulation import _graph, build_schedule, simulate  # noqa: E402


def run(offline: bool) -> list[dict]:
    rows = []

    @settings(max_examples=500, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck),
              phases=(Phase.explicit, Phase.reuse, Phase.generate))  # no shrinking: every case once
    @given(tm.cases())
    def one(case):
        base, change, model, res, method, nm, batch = case
        cfg = load_arch("sat-vcu1525").derive(base)
        more = cfg.derive({change: tm.FIELDS[change][1](base[change])})
        try:
            before = simulate(model, cfg, method, nm, batch, resolution=res, offline=offline).cycles
        except HwsimError:
            return
        after = simulate(model, more, method, nm, batch, resolution=res, offline=offline).cycles
        rows.append({"case": case, "cfgs": (cfg, more), "before": before, "after": after, "ratio": after / before})

    one()
    return rows


def alone(row: dict, offline: bool) -> tuple[int, float]:
    """(ops slower alone, relative change of the sum of the ops' times alone) for one case."""
    _, _, model, res, method, nm, batch = row["case"]
    meth, spec = resolve(method, nm)
    ops = lower(_graph(model, res, None), Lowering(meth, spec, batch))
    times = [run_pipeline(*build_schedule(ops, c, offline=offline).engine_args(c))[0] for c in row["cfgs"]]
    return int((times[1] > times[0]).sum()), float(times[1].sum() / times[0].sum() - 1)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-offline", action="store_true", help="ops one after another")
    args = parser.parse_args(argv)
    offline = not args.no_offline
    t0 = time.perf_counter()
    rows = run(offline)
    bad = sorted((r for r in rows if r["ratio"] > 1 + tm.TOLERANCE), key=lambda r: -r["ratio"])
    for r in bad:
        base, change, model, _, method, nm, batch = r["case"]
        n_slower, summed = alone(r, offline)
        print(f"  {(r['ratio'] - 1) * 100:+.3f}%  {change} {base[change]} -> {tm.FIELDS[change][1](base[change])}, "
              f"{model} {method}{' ' + nm if nm else ''} batch {batch}; ops alone: {n_slower} slower, "
              f"summed {summed * 100:+.3f}%")
    fields = sorted({r["case"][1] for r in bad})
    worst = max(rows, key=lambda r: r["ratio"])
    print(f"{'offline' if offline else 'one op after another'}: {len(rows)} cases, {len(bad)} violations "
          f"(> +{tm.TOLERANCE:.1%}; fields: {', '.join(fields) or 'none'}), "
          f"{sum(r['ratio'] > 1 for r in rows)} slower at all; worst {(worst['ratio'] - 1) * 100:+.3f}% "
          f"({time.perf_counter() - t0:.0f} s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
