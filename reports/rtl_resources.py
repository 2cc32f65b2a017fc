"""Regenerate reports/rtl/: synthesized LUT/FF/DSP/BRAM of the SAT core over the resource estimate's calibration
set (2x2 and 3x3 arrays; int8, int16, fp16; 2, 4, 8 multipliers per PE; N:M and dense), the cost of N:M support,
ECP5 Fmax, and a plot. Needs Debian yosys and the `rtl` extra (nextpnr-ecp5).

    python reports/rtl_resources.py [--out DIR] [--no-ecp5] [--replot] [--calibrate]

Syntheses run one at a time and each row is appended to resources.csv as it finishes: a rerun resumes (delete
resources.csv to start over). --calibrate prints the least-squares constants of hwsim/resources.py's LUT and FF
rules fitted on the rows that are not held out.
"""
import argparse
import json
import sys
import time
from pathlib import Path

from hwsim.rtl.synthesis_table import CALIBRATION_POINTS, calibrate, ecp5_fmax, nm_cost, synth_rows, write_report


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "rtl")
    ap.add_argument("--no-ecp5", action="store_true", help="skip the ECP5 place and route (minutes; keeps ecp5.json)")
    ap.add_argument("--replot", action="store_true", help="rewrite table and plot from resources.csv and ecp5.json")
    ap.add_argument("--calibrate", action="store_true", help="print the fitted constants of the estimate's rules")
    args = ap.parse_args()
    t0 = time.time()
    csv = args.out / "resources.csv"
    args.out.mkdir(parents=True, exist_ok=True)
    if args.calibrate:
        import pandas as pd

        print(json.dumps(calibrate(pd.read_csv(csv)), indent=2))
        return 0
    if args.replot:
        import pandas as pd

        df = pd.read_csv(csv)
    else:
        df = synth_rows(CALIBRATION_POINTS, csv, progress=lambda line: print(line, flush=True))
    fmax_path = args.out / "ecp5.json"
    if args.replot or args.no_ecp5:
        fmax = json.loads(fmax_path.read_text()) if fmax_path.exists() else None
    else:
        fmax = ecp5_fmax()
    for path in write_report(args.out, df, nm_cost(df), fmax):
        print(path)
    print(f"done in {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
