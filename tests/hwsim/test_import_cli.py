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
    n.node("Round", ["data"], "squash")
    path = n.save(tmp_path / "bad.onnx")
    out = tmp_path / "ops.csv"
    proc = _cli("simulate", "--model", str(path), "--csv", str(out))
    assert proc.returncode == 2 and proc.stdout == "" and not out.exists()
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith(f"hwsim: error: model file {path}: node 'squash' (Round): op type Round is not "
                                  "supported")
    assert proc.stderr.rstrip().endswith("(--model)")


def test_an_unsupported_op_in_a_real_export_is_one_line_naming_it(tmp_path):
    """ResNet-18's training export with its first ReLU swapped for an op the importer does not know."""
    import onnx

    from tests.models import torch_fixtures as fx

    model = onnx.load(str(fx.path("resnet18", "train")))
    relu = next(node for node in model.graph.node if node.op_type == "Relu")
    relu.op_type = "Round"
    path = tmp_path / "odd.onnx"
    onnx.save(model, str(path))
    for command in (["simulate", "--model", str(path)], ["models", "--inspect", str(path)]):
        proc = _cli(*command)
        assert proc.returncode == 2 and proc.stdout == "" and proc.stderr.count("\n") == 1
        assert f"node {relu.name!r} (Round): op type Round is not supported" in proc.stderr


def test_an_eval_export_warns_on_one_line_and_unfold_bn_costs_the_training_export(tmp_path, capsys):
    from tests.models import torch_fixtures as fx

    common = ("--method", "bdwp", "--nm", "2:8", "--batch", "2", "--json")
    proc = _cli("simulate", "--model", str(fx.path("resnet50", "script")), *common)
    assert proc.returncode == 0 and proc.stderr.count("\n") == 1
    assert proc.stderr.startswith("hwsim: warning: model file ") and "--unfold-bn" in proc.stderr
    folded = json.loads(proc.stdout)
    unfolded = _json(capsys, "--model", str(fx.path("resnet50", "script")), "--unfold-bn", *common[:-1])
    assert capsys.readouterr().err == ""
    trained = _json(capsys, "--model", str(fx.path("resnet50", "train")), *common[:-1])
    for key in ("cycles", "energy_j", "dram_bytes", "macs"):
        assert unfolded[key] == trained[key], key
    assert folded["cycles"] < unfolded["cycles"]


def test_inspect_shows_the_layer_table_totals_and_notes(tmp_path, capsys):
    from tests.models import torch_fixtures as fx

    assert main(["models", "--inspect", str(fx.path("vit_b_16", "train")), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["totals"]["macs"] == sum(layer["macs"] for layer in data["layers"])
    assert abs(data["totals"]["macs"] / 17.56e9 - 1) < 0.02  # torchvision's published 17.56 GFLOPS
    assert data["totals"]["params"] == 86_567_656  # torchvision's ViT-B/16: 86.6 M
    assert data["layers"][0]["op"] == "conv2d 3->768 kernel=16x16 stride=16x16 bias"
    assert "ignored: Dropout with ratio 0 (x37)" in data["notes"]
    assert main(["models", "--inspect", str(fx.path("resnet18", "train"))]) == 0
    text = capsys.readouterr().out
    assert "total: 69 layers" in text and "11,689,512 params" in text and "1,814,073,344 MACs" in text
    assert text.rstrip().endswith("running-statistics outputs of a training-mode BatchNormalization (x20)")


def test_inspect_takes_any_model_file(tmp_path, capsys):
    from tests.models.test_scalesim_csv import CONV

    (tmp_path / "t.csv").write_text(CONV)
    assert main(["models", "--inspect", str(tmp_path / "t.csv"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["totals"]["macs"] == 16 * 32 * 32 * 27 + 32 * 16 * 16 * 144 + 32 * 15 * 15 * 9 + 320
    assert main(["models", "--unfold-bn"]) == 2


def test_a_missing_topology_is_one_line(tmp_path):
    proc = _cli("simulate", "--model", str(tmp_path / "none.csv"))
    assert proc.returncode == 2 and proc.stderr.startswith("hwsim: error: model file") and "not found" in proc.stderr
