"""Benchmark: one ResNet-50 training iteration (batch 32, BDWP 2:8) on sat-vcu1525.

Prints the numba engine time after warm-up, the plain reference engine time on the same schedule (and
the ratio, both measured in this run), the JIT compile time (first call with an empty numba cache), the
schedule-building time, the same for the offline-scheduling engine (and its dependency graph), and the
end-to-end CLI time, warm (the kernels compiled ahead of time by `python -m hwsim.engine.native`, and for
comparison on numba's JIT with its cache warm), and the import times of the CLI, of `hwsim.simulation` and of
pandas (which `simulate --json` does not import). Goals: engine <= 0.2 s, numba >= 20x the reference, CLI <= 1 s.
"""
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="hwsim-bench-numba-")  # cold cache for the compile figure

from hwsim.dataflow.lowering import Lowering, lower  # noqa: E402
from hwsim.dataflow.sparsity import resolve  # noqa: E402
from hwsim.config import load_arch  # noqa: E402
from hwsim.dataflow.offline import (dependencies, nominal_durations, priorities, static_program, to_csr,  # noqa: E402
                                   units)
from hwsim.engine import native, run_offline, run_offline_reference, run_pipeline, run_reference  # noqa: E402
from hwsim.simulation import build_schedule, clear_caches  # noqa: E402
from hwsim.models import zoo  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import engine_greedy as greedy  # noqa: E402

CMD = ["simulate", "--model", "resnet50", "--arch", "sat-vcu1525", "--method", "bdwp", "--nm", "2:8", "--batch", "32",
       "--json"]


def best_of(fn, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def import_seconds(module: str, env: dict) -> float:
    """Wall time of importing `module` in a fresh interpreter (best of 3, interpreter start-up excluded)."""
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    return min(float(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                                    env=env).stdout) for _ in range(3))


def import_profile(env: dict) -> tuple[float, dict[str, float], list[str]]:
    """`python -X importtime` of the CLI command: the summed self times (s), per top-level package, and which
    of the heavy optional packages it imported."""
    err = subprocess.run([sys.executable, "-X", "importtime", "-m", "hwsim.cli", *CMD], check=True,
                         capture_output=True, text=True, env=env).stderr
    per: dict[str, float] = {}
    for line in err.splitlines():
        if line.startswith("import time:") and "|" in line and "self [us]" not in line:
            self_us, _, name = line[len("import time:"):].split("|")
            top = name.strip().split(".")[0]
            per[top] = per.get(top, 0.0) + int(self_us) / 1e6
    names = {line.split("|")[-1].strip() for line in err.splitlines() if line.startswith("import time:")}
    heavy = [m for m in ("numba", "scipy.linalg", "pandas", "matplotlib") if m in names]
    return sum(per.values()), per, heavy


def cli_seconds(cmd: list[str], env: dict, repeat: int = 5) -> tuple[float, float]:
    """Best wall time and best CPU time (user + system) of a child process, of `repeat` runs."""
    walls, cpus = [], []
    for _ in range(repeat):
        before = os.times()
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, env=env)
        walls.append(time.perf_counter() - t0)
        after = os.times()
        cpus.append(after.children_user - before.children_user + after.children_system - before.children_system)
    return min(walls), min(cpus)


def main() -> None:
    cfg = load_arch("sat-vcu1525")
    method, nm = resolve("bdwp", "2:8")
    one = [np.zeros(1, dtype=np.int64)] * 4
    t0 = time.perf_counter()
    run_pipeline(np.array([0, 1], dtype=np.int64), *one, 1.0, 0)  # the mapper times candidates with it: compile now
    t_compile = time.perf_counter() - t0
    t0 = time.perf_counter()
    build_schedule(lower(zoo.build("resnet50"), Lowering(method, nm, batch=32)), cfg)
    t_mapper_jit = time.perf_counter() - t0  # the mapper's numba kernels compile here (cold numba cache)
    clear_caches()
    t0 = time.perf_counter()
    ops = lower(zoo.build("resnet50"), Lowering(method, nm, batch=32))
    sched = build_schedule(ops, cfg)
    t_schedule = time.perf_counter() - t0
    args = sched.engine_args(cfg)

    t_engine = best_of(lambda: run_pipeline(*args), 20)
    t_ref = best_of(lambda: run_reference(*args), 3)
    assert all((a == b).all() for a, b in zip(run_pipeline(*args), run_reference(*args)))

    # offline scheduling: its dependency graph and static program, then the two-unit engine on the offline schedule
    graph = zoo.build("resnet50")
    how = Lowering(method, nm, batch=32)
    osched = build_schedule(ops, cfg, offline=True)
    oargs = osched.engine_args(cfg)
    t0 = time.perf_counter()
    deps = dependencies(graph, ops, how)
    unit = units(ops)
    program = static_program(nominal_durations(ops, cfg.peak_macs_per_cycle, cfg.precision.operand_bytes), deps, unit,
                             np.diff(osched.offsets))
    t_graph = time.perf_counter() - t0
    csr = to_csr(deps)
    oargs = (*oargs, unit, *program, *csr)
    t0 = time.perf_counter()
    run_offline(*oargs)
    t_ofirst = time.perf_counter() - t0
    t_off = best_of(lambda: run_offline(*oargs), 20)
    t_oref = best_of(lambda: run_offline_reference(*oargs), 3)
    # the engine it replaced, on the same schedule with their priority lists (each op's time alone)
    old_args = (*osched.engine_args(cfg), unit, priorities(run_pipeline(*osched.engine_args(cfg))[0].astype(float),
                                                           deps), *csr)
    greedy.run_offline(*old_args)  # compile
    t_greedy = best_of(lambda: greedy.run_offline(*old_args), 20)
    assert all((a == b).all() for a, b in zip(run_offline(*oargs), run_offline_reference(*oargs)))

    hwsim_cli = [sys.executable, "-m", "hwsim.cli"]
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    jit_env = {**env, "HWSIM_NATIVE": "0"}  # the CLI on numba's JIT, as without the ahead-of-time extension
    subprocess.run(hwsim_cli + CMD, check=True, capture_output=True, env=jit_env)  # warm the on-disk cache
    native_built = native.load() is not None
    t_cli, cpu_cli = cli_seconds(hwsim_cli + CMD, env)
    t_cli_jit, cpu_cli_jit = cli_seconds(hwsim_cli + CMD, jit_env)
    t_python, _ = cli_seconds([sys.executable, "-c", "pass"], env)
    imports = {name: import_seconds(name, env) for name in ("hwsim.cli", "hwsim.simulation", "pandas")}
    imp_total, imp_per, heavy = import_profile(env)
    top = sorted(imp_per.items(), key=lambda kv: -kv[1])[:5]

    rows = [
        ("ops / tiles in the schedule", f"{len(ops)} / {len(sched.compute):,}", ""),
        ("schedule build (lower + map + tile)", f"{t_schedule:.3f} s", "cold caches, kernels compiled"),
        ("  first build, mapper kernels' JIT compile", f"{t_mapper_jit:.2f} s", "cold numba cache"),
        ("numba engine, warm (best of 20)", f"{t_engine * 1e3:.2f} ms", "goal <= 200 ms"),
        ("plain reference engine (best of 3)", f"{t_ref * 1e3:.1f} ms", ""),
        ("speed-up numba / reference", f"{t_ref / t_engine:.0f}x", "goal >= 20x"),
        ("JIT compile (first call, cold cache)", f"{t_compile:.2f} s", ""),
        ("offline: dependency graph + static program", f"{t_graph * 1e3:.1f} ms", ""),
        ("offline numba engine, warm (best of 20)", f"{t_off * 1e3:.2f} ms", ""),
        ("offline plain reference (best of 3)", f"{t_oref * 1e3:.1f} ms", ""),
        ("greedy engine of 2026.12.4 (best of 20)", f"{t_greedy * 1e3:.2f} ms", ""),
        ("speed-up over the greedy engine", f"{t_greedy / t_off:.1f}x", "goal >= 1x"),
        ("speed-up offline numba / reference", f"{t_oref / t_off:.0f}x", "goal >= 20x"),
        ("offline JIT compile (first call)", f"{t_ofirst - t_off:.2f} s", ""),
        ("CLI end to end, warm (best of 5)", f"{t_cli:.2f} s",
         "goal <= 1 s; " + ("ahead-of-time kernels" if native_built else "NO ahead-of-time kernels built: JIT")),
        ("  its CPU time, user + system (best of 5)", f"{cpu_cli:.2f} s", ""),
        ("CLI on numba's JIT (HWSIM_NATIVE=0)", f"{t_cli_jit:.2f} s",
         f"CPU {cpu_cli_jit:.2f} s; ahead-of-time saves {t_cli_jit / t_cli:.1f}x"),
        ("  python -c pass (best of 5)", f"{t_python:.2f} s", "interpreter start-up alone"),
    ] + [(f"import {name} (best of 3)", f"{t * 1e3:.0f} ms", "not imported by simulate --json" if name == "pandas"
          else "") for name, t in imports.items()] + [
        ("simulate --json: -X importtime, summed", f"{imp_total * 1e3:.0f} ms",
         ", ".join(f"{name} {t * 1e3:.0f}" for name, t in top) + " ms"),
        ("  numba / scipy.linalg / pandas / matplotlib", "imported" if heavy else "not imported", ", ".join(heavy)),
    ]
    print("ResNet-50, batch 32, BDWP 2:8 on sat-vcu1525 (" + " ".join(CMD) + ")")
    for name, value, goal in rows:
        print(f"  {name:40s} {value:>14s}   {goal}")


if __name__ == "__main__":
    main()
