"""Regenerate reports/sat_paper/: the SAT paper's five-workload comparison (same as `hwsim demo`).

    python reports/sat_paper.py [--arch PRESET|FILE] [--out DIR]
"""
import argparse
from pathlib import Path

from hwsim.paper import run_paper_comparison

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="sat-vcu1525")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "sat_paper")
    args = parser.parse_args()
    print(run_paper_comparison(args.out, arch=args.arch))
