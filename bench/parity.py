"""SCALE-Sim parity (`make parity`): the same layers through SCALE-Sim 3.0.0 and through hwsim's SCALE-Sim presets.

Layers: ResNet-18 (torchvision layout at 64x64 by default: SCALE-Sim needs many minutes at 224; conv form, written
by hwsim.models.scalesim) and a set of GEMMs
(transformer and MLP shapes, GEMM form). For each of OS and WS on a ROWSxCOLS array: per-layer dense forward
compute cycles from both (hwsim: the FF op's busy cycles minus one, SCALE-Sim counting one cycle less per
layer), their ratio, and the wall-clock ratio (SCALE-Sim's run against hwsim's `simulate`, warm). Then N:M:
GEMMs with 1:4 and 1:8 weights, SCALE-Sim's sparse mode (WS) against hwsim's SR-STE forward pass, each layer's
N:M from the topology's sparsity column.

SCALE-Sim runs in its own virtualenv (it needs numpy < 2.4): HWSIM_SCALESIM_PYTHON, else .venv-parity/bin/python.
Usage: python bench/parity.py [ROWS COLS [RESOLUTION]]
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import hwsim
from hwsim.models import zoo
from hwsim.models.scalesim import parse, write

ROOT = Path(__file__).resolve().parents[1]
GEMMS = """Layer, M, N, K,
bert.qkv, 128, 2304, 768,
bert.proj, 128, 768, 768,
bert.fc1, 128, 3072, 768,
bert.fc2, 128, 768, 3072,
vit.head, 1, 1000, 768,
mlp.wide, 256, 1024, 512,
odd.shape, 100, 37, 300,
"""
SPARSE_GEMMS = """Layer, M, N, K, Sparsity,
bert.qkv, 128, 2304, 768, 1:4,
bert.fc1, 128, 3072, 768, 1:8,
mlp.wide, 512, 1024, 1024, 1:4,
odd.shape, 100, 37, 296, 1:8,
"""


def scalesim_python() -> str | None:
    """The interpreter of SCALE-Sim's virtualenv, or None when SCALE-Sim is not installed."""
    path = os.environ.get("HWSIM_SCALESIM_PYTHON") or str(ROOT / ".venv-parity" / "bin" / "python")
    if not Path(path).exists():
        return None
    ok = subprocess.run([path, "-c", "import scalesim"], capture_output=True).returncode == 0
    return path if ok else None


def run_scalesim(python: str, topology: Path, form: str, dataflow: str, rows: int, cols: int, work: Path,
                 sparse: bool = False) -> dict:
    proc = subprocess.run([python, str(ROOT / "bench" / "scalesim_driver.py"), str(topology), form, dataflow,
                           str(rows), str(cols), str(work)] + (["sparse"] if sparse else []),
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_hwsim(topology: Path, dataflow: str, rows: int, cols: int, sparse: bool = False
              ) -> tuple[list[str], list[int], float]:
    arch = f"scalesim-{dataflow}-{rows}x{cols}"
    run = (("srste", "1:4") if sparse else ("dense", None))  # sparse: each layer's N:M from the sparsity column
    hwsim.simulate(str(topology), arch, *run, phases="ff", batch=1)  # warm-up (JIT compile, mapping cache)
    start = time.perf_counter()
    res = hwsim.simulate(str(topology), arch, *run, phases="ff", batch=1)
    seconds = time.perf_counter() - start
    gemm = res.ops[res.ops.kind == "gemm"]
    return [n.removesuffix(".ff") for n in gemm.name], [int(c) - 1 for c in gemm.busy_cycles], seconds


def compare(python: str, rows: int, cols: int, resolution: int = 64, out=sys.stdout) -> list[dict]:
    """Run both on both workloads and dataflows; print and return one row per (workload, dataflow)."""
    summary = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write(zoo.build("resnet18", resolution, 1000), tmp / "resnet18.csv")
        (tmp / "gemms.csv").write_text(GEMMS)
        (tmp / "sparse.csv").write_text(SPARSE_GEMMS)
        runs = [(tmp / "resnet18.csv", "conv", df, False) for df in ("os", "ws")]
        runs += [(tmp / "gemms.csv", "gemm", df, False) for df in ("os", "ws")]
        runs += [(tmp / "sparse.csv", "gemm", "ws", True)]
        for topology, form, dataflow, sparse in runs:
            theirs = run_scalesim(python, topology, form, dataflow, rows, cols, tmp / f"{topology.stem}-{dataflow}",
                                  sparse)
            names, ours, seconds = run_hwsim(topology, dataflow, rows, cols, sparse)
            mode = ", N:M (SCALE-Sim sparse mode)" if sparse else ""
            print(f"\n{topology.stem}, {dataflow.upper()} {rows}x{cols}{mode}: per-layer compute cycles", file=out)
            print(f"{'layer':24s} {'SCALE-Sim':>12s} {'hwsim':>12s} {'ratio':>8s}", file=out)
            for name, a, b in zip(names, theirs["cycles"], ours):
                print(f"{name:24s} {a:12d} {b:12d} {b / a:8.4f}", file=out)
            equal = sum(a == b for a, b in zip(theirs["cycles"], ours))
            speed = theirs["seconds"] / seconds
            print(f"equal on {equal} of {len(ours)} layers; wall clock: SCALE-Sim {theirs['seconds']:.2f} s, "
                  f"hwsim {seconds * 1e3:.1f} ms: hwsim {speed:,.0f}x faster", file=out)
            summary.append({"workload": topology.stem, "dataflow": dataflow, "layers": len(ours),
                            "equal": equal, "scalesim_s": theirs["seconds"], "hwsim_s": seconds,
                            "speedup": speed, "same_count": len(theirs["cycles"]) == len(ours)})
    return summary


def main(argv: list[str]) -> int:
    rows, cols = (int(argv[0]), int(argv[1])) if len(argv) >= 2 else (32, 32)
    resolution = int(argv[2]) if len(argv) == 3 else 64
    python = scalesim_python()
    if python is None:
        print("SCALE-Sim is not installed: run `make parity` (it makes .venv-parity with scalesim==3.0.0)")
        return 1
    summary = compare(python, rows, cols, resolution)
    ok = all(s["same_count"] and s["equal"] == s["layers"] for s in summary)
    print("\nparity:", "every layer equal" if ok else "DIFFERENCES above")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
