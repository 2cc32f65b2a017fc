"""Regenerate reports/rtl/: synthesized LUT/FF/DSP/BRAM of the SAT core (sat-small, 6x6 and 8x8; N:M and dense),
the cost of N:M support, ECP5 Fmax, and a plot. Needs Debian yosys and the `rtl` extra (nextpnr-ecp5).

    python reports/rtl_resources.py [--out DIR] [--no-ecp5] [--replot]
"""
import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from hwsim.rtl.synthesis_table import DEFAULT_POINTS, ecp5_fmax, nm_cost, synth_resources, write_report


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "rtl")
    ap.add_argument("--no-ecp5", action="store_true", help="skip the ECP5 place and route (minutes)")
    ap.add_argument("--replot", action="store_true", help="rewrite table and plot from resources.csv and ecp5.json")
    args = ap.parse_args()
    t0 = time.time()
    if args.replot:
        import pandas as pd

        df = pd.read_csv(args.out / "resources.csv")
        fmax = json.loads((args.out / "ecp5.json").read_text()) if (args.out / "ecp5.json").exists() else None
        for path in write_report(args.out, df, nm_cost(df), fmax):
            print(path)
        return 0
    with ProcessPoolExecutor(max_workers=1) as pool:  # ECP5 P&R runs beside the Xilinx syntheses
        fmax = None if args.no_ecp5 else pool.submit(ecp5_fmax)
        df = synth_resources(DEFAULT_POINTS, jobs=2)
        fmax = fmax.result() if fmax else None
    for path in write_report(args.out, df, nm_cost(df), fmax):
        print(path)
    print(f"done in {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
