"""`hwsim simulate --model net.onnx` and `--model topology.csv` end to end: the same cost as the zoo / YAML."""
import json
import subprocess
import sys

import pytest

from hwsim.cli import main

pytest.importorskip("onnx", reason="the onnx package (hwsim[onnx]) is not installed")


def _json(capsys, *argv):
    assert main(["simulate", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_an_onnx_file_costs_what_the_zoo_model_costs(capsys, tmp_path):
    from tests.models.onnx_nets import resnet9

    path = resnet9().save(tmp_path / "net.onnx")
    common = ("--method", "bdwp", "--nm", "2:8", "--batch", "4")
    onnx_run = _json(capsys, "--model", str(path), *common)
    zoo_run = _json(capsys, "--model", "resnet9", "--resolution", "32", "--classes", "10", *common)
    for key in ("cycles", "energy_j", "dram_bytes", "macs", "phases", "layers"):
        assert onnx_run[key] == zoo_run[key], key
    assert onnx_run["cycles"] > 0


def test_a_topology_csv_simulates_from_the_cli(capsys, tmp_path):
    from tests.models.test_scalesim_csv import CONV

    (tmp_path / "t.csv").write_text(CONV)
    res = _json(capsys, "--model", str(tmp_path / "t.csv"), "--phases", "ff", "--batch", "1")
    assert [x["name"] for x in res["layers"]] == ["Conv1.ff", "Conv2.ff", "Conv3 DP.ff", "FC.ff"]
    assert res["macs"] == 16 * 32 * 32 * 27 + 32 * 16 * 16 * 144 + 32 * 15 * 15 * 9 + 320


def _cli(*argv):
    return subprocess.run([sys.executable, "-m", "hwsim.cli", *argv], capture_output=True, text=True)


def test_an_unsupported_onnx_op_is_one_line_naming_it(tmp_path):
    from tests.models.onnx_nets import Net

    n = Net("bad", (4,))
    n.node("Tanh", ["data"], "squash")
    path = n.save(tmp_path / "bad.onnx")
    out = tmp_path / "ops.csv"
    proc = _cli("simulate", "--model", str(path), "--csv", str(out))
    assert proc.returncode == 2 and proc.stdout == "" and not out.exists()
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith(f"hwsim: error: model file {path}: node 'squash' (Tanh): op type Tanh is not "
                                  "supported")
    assert proc.stderr.rstrip().endswith("(--model)")


def test_a_missing_topology_is_one_line(tmp_path):
    proc = _cli("simulate", "--model", str(tmp_path / "none.csv"))
    assert proc.returncode == 2 and proc.stderr.startswith("hwsim: error: model file") and "not found" in proc.stderr
