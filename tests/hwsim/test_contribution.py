"""Contribution analysis with the numpy trainer, and `hwsim tiny --budget KB --contributions FILE|DATA.npz`."""
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import hwsim
from hwsim.cli import main
from hwsim.dataflow.tiny.contributions import Contributions, to_yaml
from hwsim.errors import HwsimError
from hwsim.models import load
from hwsim.ondevice import contribution, training
from hwsim.ondevice.contribution import MeasureConfig, measure

pytest.importorskip("sklearn")
DIGITS = str(Path(__file__).resolve().parents[2] / "models/examples/digits-cnn.yaml")


def test_measure_runs_the_papers_protocol(monkeypatch):
    """Each setting trains exactly what it names, the classifier always, from one shared starting point; a
    contribution is that run's final accuracy minus the classifier-only run's."""
    calls = []
    real = training.train

    def spy(graph, data, config, trainable=None, params=None):
        run = real(graph, data, config, trainable, params)
        calls.append((config.mode, trainable, params, run.final))
        return run

    monkeypatch.setattr(contribution, "train", spy)
    g = load(DIGITS)
    c = measure(g, training.digits(), MeasureConfig(ratios=(0.5,), pretrain_epochs=1, epochs=1, depths=(1, 3),
                                                    layers=(2,)))
    pre, base, *rest = calls
    assert pre[0] == "fp32" and pre[1] is None
    assert base[0] == "int8-qas" and base[1].bias == {"conv1": False, "conv2": False, "conv3": False, "fc": True}
    assert base[1].weight_channels == {"conv1": None, "conv2": None, "conv3": None, "fc": 256}
    assert rest[0][1].bias == {"conv1": False, "conv2": False, "conv3": True, "fc": True}  # depth 1
    assert rest[1][1].bias == {"conv1": True, "conv2": True, "conv3": True, "fc": True}  # depth 3
    assert rest[2][1].weight_channels["conv3"] == 8 and not any(rest[2][1].bias[k] for k in ("conv1", "conv2",
                                                                                                "conv3"))
    assert all(r[2] is base[2] for r in rest)  # one starting point
    assert c.baseline == base[3]
    assert c.bias == {1: pytest.approx(rest[0][3] - base[3]), 3: pytest.approx(rest[1][3] - base[3])}
    assert c.weight == {(2, 0.5): pytest.approx(rest[2][3] - base[3])}


def test_budget_with_contributions_file(tmp_path, capsys):
    path = tmp_path / "c.yaml"
    path.write_text(to_yaml(Contributions({1: 0.01, 3: 0.02}, {(2, 1.0): 0.05, (0, 1.0): 0.10}, "digits-cnn")))
    assert main(["tiny", "--model", DIGITS, "--budget", "3", "--contributions", str(path), "--json"]) == 0
    out = capsys.readouterr()
    d = json.loads(out.out)
    assert out.err == ""
    assert d["budget_search"]["objective"] == "contribution" and d["budget_search"]["predicted_gain"] == 0.12
    assert d["scheme_spec"] == {"bias_update_depth": 3, "weight_layers": [0], "ratios": [1.0]}


def test_budget_without_contributions_says_so_on_one_line(capsys):
    assert main(["tiny", "--model", DIGITS, "--budget", "3", "--json"]) == 0
    out = capsys.readouterr()
    assert out.err.count("\n") == 1 and "maximizes the number of trained parameters" in out.err
    assert json.loads(out.out)["budget_search"]["objective"] == "parameters"


def test_budget_with_a_data_set_measures_on_it(tmp_path, capsys):
    d = training.digits()
    np.savez(tmp_path / "mine.npz", x=d.x_train[:240, 0], y=d.y_train[:240])  # (N, H, W): one channel added
    assert main(["tiny", "--model", DIGITS, "--budget", "3", "--contributions", str(tmp_path / "mine.npz"),
                 "--json"]) == 0
    search = json.loads(capsys.readouterr().out)["budget_search"]
    assert search["objective"] == "contribution" and search["extra_kb"] <= 3 and search["method"] == "exhaustive"


@pytest.mark.parametrize("args,match", [
    (["--scheme", "full", "--contributions", "c.yaml"], "given without a budget"),
    (["--budget", "3", "--contributions", "bad.npz"], "cannot read"),
    (["--budget", "3", "--contributions", "shape.npz"], "expected [N, 1, 8, 8]"),
    (["--budget", "3", "--contributions", "labels.npz"], "integer labels"),
    (["--budget", "3", "--contributions", "classes.npz"], "labels in 0..9"),
    (["--budget", "3", "--contributions", "wrong.yaml"], "out of range"),
])
def test_bad_contributions_one_line_exit_2(tmp_path, monkeypatch, capsys, args, match):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.npz").write_text("not a zip")
    np.savez(tmp_path / "shape.npz", x=np.zeros((10, 3, 8, 8)), y=np.zeros(10, dtype=int))
    np.savez(tmp_path / "labels.npz", x=np.zeros((10, 1, 8, 8)), y=np.full(10, 0.5))
    np.savez(tmp_path / "classes.npz", x=np.zeros((10, 1, 8, 8)), y=np.arange(10) + 1)
    (tmp_path / "wrong.yaml").write_text("bias: {1: 0.1}\nweight: {7: {1.0: 0.2}}\n")
    assert main(["tiny", "--model", DIGITS, *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and match in err and err.startswith("hwsim: error: ")


def test_api_takes_contributions_objects():
    c = Contributions({1: 0.01}, {(2, 0.5): 0.03})
    r = hwsim.tiny(DIGITS, budget_kb=2, contributions=c)
    assert r.scheme_spec.weight_layers == (2,) and r.budget_search["predicted_gain"] == pytest.approx(0.04)


@settings(max_examples=30, deadline=None)
@given(st.binary(max_size=400))
def test_npz_reader_refuses_garbage_with_one_error(tmp_path_factory, blob):
    path = tmp_path_factory.mktemp("d") / "d.npz"
    path.write_bytes(b"PK\x03\x04" + blob if blob[:1] == b"\x00" else blob)
    with pytest.raises(HwsimError, match="^data: "):
        training.load_npz(path, (1, 8, 8), 10)


@settings(max_examples=30, deadline=None)
@given(x=hnp.arrays(st.sampled_from([np.float64, np.int16, np.bool_, np.complex64]), st.tuples(
           st.integers(0, 6), st.sampled_from([1, 2]), st.integers(7, 8), st.just(8))),
       y=hnp.arrays(st.sampled_from([np.int64, np.float32]), st.integers(0, 7), elements=st.integers(-1, 12)))
def test_npz_reader_validates_arrays(tmp_path_factory, x, y):
    path = tmp_path_factory.mktemp("d") / "d.npz"
    np.savez(path, x=x, y=y)
    try:
        d = training.load_npz(path, (1, 8, 8), 10)
    except HwsimError as exc:
        assert str(exc).startswith("data: ")
        return
    assert d.x_train.shape[1:] == (1, 8, 8) and d.y_train.max() < 10 and d.y_test.min() >= 0


def test_a_failing_budget_run_prints_only_the_error(capsys):
    assert main(["tiny", "--model", DIGITS, "--budget", "0.01"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("hwsim: error: budget:")
