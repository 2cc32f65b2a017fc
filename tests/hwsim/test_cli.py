"""The `hwsim` command line: the JSON contract, listings, and one-line errors with exit code 2."""
import json
from importlib.resources import files
import subprocess
import sys

import pytest

from hwsim.cli import main

CONTRACT = {"model", "arch", "method", "nm", "batch", "cycles", "seconds", "energy_j", "dram_bytes", "phases", "layers"}


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_simulate_json_contract(capsys):
    code, out, _ = run(capsys, "simulate", "--model", "resnet9", "--arch", "sat-vcu1525", "--method", "bdwp",
                       "--nm", "2:8", "--batch", "8", "--json")
    assert code == 0
    res = json.loads(out)
    assert CONTRACT <= set(res)
    assert (res["model"], res["arch"], res["method"], res["nm"], res["batch"]) == ("resnet9", "sat-vcu1525", "bdwp",
                                                                                     "2:8", 8)
    assert set(res["phases"]) == {"ff", "bp", "wu"}
    assert sum(p["cycles"] for p in res["phases"].values()) == res["cycles"] == sum(x["cycles"] for x in res["layers"])
    assert all({"name", "phase", "cycles"} <= set(x) for x in res["layers"])
    assert res["layers"][0]["phase"] == "ff" and res["layers"][-1]["phase"] == "wu"  # execution order
    assert res["seconds"] == pytest.approx(res["cycles"] / 200e6)


def test_inference_only_simulates_ff(capsys):
    code, out, _ = run(capsys, "simulate", "--model", "resnet9", "--phases", "ff", "--batch", "2", "--json")
    res = json.loads(out)
    assert code == 0 and set(res["phases"]) == {"ff"} and {x["phase"] for x in res["layers"]} == {"ff"}


def test_resolution_and_classes_change_the_work(capsys):
    small = json.loads(run(capsys, "simulate", "--model", "resnet18", "--resolution", "64", "--batch", "2",
                           "--json")[1])
    big = json.loads(run(capsys, "simulate", "--model", "resnet18", "--resolution", "128", "--classes", "10",
                         "--batch", "2", "--json")[1])
    assert big["macs"] > 3 * small["macs"]
    assert big["options"]["input_shape"] == [3, 128, 128]


def test_table_output_and_csv(capsys, tmp_path):
    csv = tmp_path / "ops.csv"
    code, out, _ = run(capsys, "simulate", "--model", "resnet9", "--batch", "2", "--csv", str(csv))
    assert code == 0 and "cycles" in out and "phase" in out
    assert csv.read_text().startswith("name,layer,phase")


def test_same_command_twice_is_byte_identical():
    cmd = [sys.executable, "-m", "hwsim.cli", "simulate", "--model", "vit", "--method", "srste", "--nm", "2:4",
           "--batch", "4", "--json"]
    first, second = (subprocess.run(cmd, capture_output=True, check=True).stdout for _ in range(2))
    assert first == second and len(first) > 1000


def test_presets_and_models_list(capsys):
    code, out, _ = run(capsys, "presets")
    assert code == 0 and "sat-vcu1525" in out and "sat-small" in out
    code, out, _ = run(capsys, "presets", "--json")
    assert json.loads(out)["sat-vcu1525"]["array"]["rows"] > 0
    code, out, _ = run(capsys, "models", "--json")
    names = json.loads(out)
    assert {"resnet9", "resnet18", "resnet50", "vgg19", "vit", "mobilenetv2", "mcunet-5fps", "mbv2-w0.35",
            "proxyless-w0.3"} <= set(names)


BAD_YAML_MODEL = "name: x\ninput: [3, 8, 8]\nlayers: [ {op: conv2d\n"


@pytest.mark.parametrize("args,expect", [
    (["--method", "bdwp", "--nm", "5:4"], "nm: 5:4"),
    (["--method", "bdwp", "--nm", "2:3"], "group size M=3"),
    (["--method", "bdwp"], "nm: missing"),
    (["--model", "resnet51"], "unknown model 'resnet51'"),
    (["--arch", "sat-huge"], "unknown preset 'sat-huge'"),
    (["--arch", "ARCH_BAD_YAML"], "invalid YAML at line"),
    (["--arch", "ARCH_SMALL_BUFFER"], "smaller than one double-buffered tile"),
    (["--model", "MODEL_BAD_YAML"], "bad.yaml"),
    (["--batch", "0"], "argument --batch: 0 (expected an integer from 1 to 65,536)"),
    (["--batch", "many"], "argument --batch: 'many' (expected an integer"),
    (["--phases", "ff,xx"], "phases: 'xx'"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, tmp_path, args, expect):
    bad_arch = tmp_path / "arch.yaml"
    bad_arch.write_text("version: 1\nname: [unclosed\n")
    small = tmp_path / "small.yaml"
    small.write_text(files("hwsim.presets").joinpath("sat-small.yaml").read_text().replace("rows: 4 ", "rows: 512 "))
    bad_model = tmp_path / "bad.yaml"
    bad_model.write_text(BAD_YAML_MODEL)
    subst = {"ARCH_BAD_YAML": str(bad_arch), "ARCH_SMALL_BUFFER": str(small), "MODEL_BAD_YAML": str(bad_model)}
    argv = ["simulate", "--model", "resnet9", "--batch", "2", *[subst.get(a, a) for a in args]]
    code = main(argv)
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("hwsim: error: ") and expect in err
    assert err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("where", ["nope/x.csv", "."])
def test_bad_csv_path_fails_before_simulating(capsys, tmp_path, where):
    code, out, err = run(capsys, "simulate", "--model", "resnet9", "--batch", "2", "--csv", str(tmp_path / where))
    assert code == 2 and err.startswith("hwsim: error: csv:") and out == ""
    assert not (tmp_path / "nope").exists()


@pytest.mark.parametrize("argv,expect", [
    (["simulate", "--model", "resnet18", "--resolution", "16"], None),  # stride-2 convs on 1x1 maps
    (["simulate", "--model", "resnet9", "--resolution", "100000"], "elements per sample"),
    (["simulate", "--model", "resnet9", "--batch", "100000000"], "argument --batch: 100000000 (expected"),
    (["simulate", "--model", "resnet9", "--top", "-1"], "argument --top: -1 (expected"),
    (["demo", "--out", "/proc/hwsim-demo", "--quiet"], "out: cannot create"),
    (["demo", "--arch", "nope", "--quiet"], "unknown preset 'nope'"),
])
def test_unusual_inputs_never_crash(capsys, argv, expect):
    code, out, err = run(capsys, *argv)
    if expect is None:
        assert code == 0 and err == ""
    else:
        assert code == 2 and expect in err and err.count("\n") == 1


def test_demo_writes_the_report(capsys, tmp_path):
    code, out, _ = run(capsys, "demo", "--out", str(tmp_path), "--quiet", "--batch", "4")
    assert code == 0 and "BDWP 2:8 average speedup over dense" in out
    names = {p.name for p in tmp_path.iterdir()}
    assert names == {"results.csv", "comparison.md", "mapping.md"} | {
        f"{f}.{e}" for f in ("speedup", "phases", "ablation", "energy") for e in ("pdf", "svg", "png")}
    assert "| average |" in (tmp_path / "comparison.md").read_text()


def test_cli_exit_code_from_a_real_process():
    proc = subprocess.run([sys.executable, "-m", "hwsim.cli", "simulate", "--model", "resnet9", "--nm", "5:4",
                           "--method", "bdwp"], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stdout == "" and proc.stderr.count("\n") == 1


def test_set_overrides_equal_a_base_file(capsys, tmp_path):
    """--set and `base:` + the changed fields give the same result, and the arch says it is derived."""
    spec = tmp_path / "wide.yaml"
    spec.write_text("version: 1\nbase: sat-vcu1525\narray: {rows: 64, cols: 16}\n")
    common = ("simulate", "--model", "resnet9", "--method", "bdwp", "--nm", "2:8", "--batch", "4", "--json")
    _, by_set, _ = run(capsys, *common, "--arch", "sat-vcu1525", "--set", "array.rows=64", "--set", "array.cols=16")
    _, by_file, _ = run(capsys, *common, "--arch", str(spec))
    assert json.loads(by_set) == json.loads(by_file)
    res = json.loads(by_set)
    assert res["arch"] == "sat-vcu1525[array.cols=16,array.rows=64]" and res["arch_base"] == "sat-vcu1525"
    _, plain, _ = run(capsys, *common)
    assert json.loads(plain)["cycles"] != res["cycles"] and json.loads(plain)["arch_base"] is None


@pytest.mark.parametrize("argv,expect", [
    (("--set", "array.rows"), "set: 'array.rows' (expected PATH=VALUE"),
    (("--set", "array.rowz=4"), "array.rowz: unknown field"),
    (("--set", "array.rows=true"), "array.rows: True (input should be a valid integer)"),
    (("--set", "buffers.a_kib=1"), "buffers.a_kib: 1 KiB is smaller than one double-buffered tile"),
    (("--set", "array.rows=128", "--set", "array.cols=128", "--strict-budget"), "needs dsp 66,304/6,840"),
])
def test_bad_set_is_one_line(capsys, argv, expect):
    code, out, err = run(capsys, "simulate", "--model", "resnet9", "--batch", "2", *argv)
    assert code == 2 and out == "" and err.count("\n") == 1 and expect in err


def test_baseline_and_resources_in_json(capsys):
    _, out, _ = run(capsys, "simulate", "--model", "resnet9", "--arch", "sat-small", "--method", "bdwp", "--nm",
                    "2:8", "--batch", "2", "--baseline", "dense", "--json")
    res = json.loads(out)
    assert res["speedup"] == pytest.approx(res["baseline"]["cycles"] / res["cycles"]) and res["speedup"] > 1
    assert res["resources"]["fits_board"] is True and res["resources"]["dsp"] == 44


def test_presets_schema(capsys):
    code, out, _ = run(capsys, "presets", "--schema")
    assert code == 0 and json.loads(out)["properties"]["array"]["$ref"] == "#/$defs/ArraySpec"


def test_version_is_looked_up_only_when_asked(capsys):
    """--version prints the installed version; building the parser (every command) does not look it up."""
    import importlib.metadata

    from hwsim import cli

    cli._version.cache_clear()
    cli.build_parser()
    assert cli._version.cache_info().misses == 0
    assert cli.main(["--version"]) == 0
    want = importlib.metadata.version("hwsim")
    assert capsys.readouterr().out.strip() == f"hwsim {want}"
