"""Benchmark: Verilog export of the fp16 SAT core (sat-vcu1525's PE: 4 multipliers, 2:8, depth 6) on growing
arrays, the PE datapath inlined into every PE (`SATCore(p, pe_modules=False)`, the export before issue 13) against
the PE exported once and instantiated (`core_verilog`, the export now), both measured in this run.

The buffers are shrunk to 64 KiB so that the PE array dominates (at the preset's 6 MiB their zero initialisation
does: the inlined export of a 2x2 array with them took 239 s). Then, unless --quick, the whole paper-scale
`hwsim rtl --arch sat-vcu1525` is timed (a few minutes, about 3 GB of memory).

    python bench/bench_rtl_export.py [--quick] [--sizes 4 8 16]
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("AMARANTH_USE_YOSYS", "builtin")

from hwsim.config import load_arch  # noqa: E402
from hwsim.rtl.core import SATCore  # noqa: E402
from hwsim.rtl.export import CORE_TOP, _convert, core_verilog  # noqa: E402
from hwsim.rtl.params import CoreParams  # noqa: E402


CLI = "import sys; from hwsim.cli import main; sys.exit(main())"


def params(n: int) -> CoreParams:
    cfg = load_arch("sat-vcu1525", {"array.rows": n, "array.cols": n, "buffers.a_kib": 64, "buffers.b_kib": 64})
    return CoreParams.from_config(cfg, "2:8")


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[4, 8, 16])
    ap.add_argument("--quick", action="store_true", help="skip the paper-scale CLI run")
    args = ap.parse_args()
    print("array   inlined PEs   PE modules   ratio")
    for n in args.sizes:
        p = params(n)
        inlined = timed(lambda: _convert(SATCore(p, pe_modules=False), CORE_TOP))
        modules = timed(lambda: core_verilog(p))
        print(f"{n:2d}x{n:<2d}  {inlined:9.1f} s  {modules:9.1f} s  {inlined / modules:5.1f}x", flush=True)
    if not args.quick:
        with tempfile.TemporaryDirectory() as out:
            t = timed(lambda: subprocess.run([sys.executable, "-c", CLI, "rtl", "--arch", "sat-vcu1525", "--out",
                                              out, "--quiet"], check=True, stdout=subprocess.DEVNULL))
        print(f"hwsim rtl --arch sat-vcu1525 (32x32 PEs x 4 fp16, 2:8, 6 MiB buffers, with the selector): {t:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
