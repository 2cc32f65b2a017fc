"""Regenerate reports/sat_paper/: the SAT paper's five-workload comparison (the same as `hwsim demo`).

    python reports/sat_paper.py [--arch PRESET|FILE] [--out DIR] [--batch N] [--quiet]
"""
import sys
from pathlib import Path

from hwsim.cli import main

if __name__ == "__main__":
    args = sys.argv[1:]
    if "--out" not in args:
        args += ["--out", str(Path(__file__).parent / "sat_paper")]
    sys.exit(main(["demo", *args]))
