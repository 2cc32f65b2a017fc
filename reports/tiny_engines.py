"""Regenerate reports/tiny/: the 256KB on-device training engines (the same as `hwsim report --only tiny`).

    python reports/tiny_engines.py [--out DIR]
"""
import sys
from pathlib import Path

from hwsim.cli import main

if __name__ == "__main__":
    args = sys.argv[1:]
    out = Path(args[args.index("--out") + 1]) if "--out" in args else Path(__file__).parent
    sys.exit(main(["report", "--out", str(out.parent if out.name == "tiny" else out), "--only", "tiny"]))
