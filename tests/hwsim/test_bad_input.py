"""Regression tests, one per bad-input class of issue 5: exit 2 with one line (or a TypeError/ValueError naming
the argument from the API), no traceback, nothing left behind."""
import os
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest

import hwsim
from hwsim.cli import main
from hwsim.errors import HwsimError
from hwsim.simulation import MAX_RUN_TILES

HUGE = "9" * 20


def cli(capsys, *argv):
    """Run the CLI in-process; return (code, stdout, stderr)."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line(code, err, *fragments):
    assert code == 2, err
    assert err.startswith("hwsim: error: ") and err.count("\n") == 1, err
    for fragment in fragments:
        assert fragment in err, err


# Bounded integers on the command line (20 digits used to end in OverflowError tracebacks).

@pytest.mark.parametrize("flag, bound", [("--batch", "65,536"), ("--resolution", "1,048,576"),
                                         ("--classes", "1,048,576"), ("--top", "100,000")])
@pytest.mark.parametrize("value", [HUGE, "9" * 5000, "-1", "1e3", "0x10", "٣"])
def test_cli_integers_are_bounded(capsys, flag, bound, value):
    code, out, err = cli(capsys, "simulate", "--model", "resnet9", flag, value)
    if flag == "--top" and value == "-1":
        bound = "from 0"
    assert_one_line(code, err, f"argument {flag}: ", bound)
    assert out == "" and len(err) < 200


def test_demo_batch_is_bounded(capsys, tmp_path):
    code, _, err = cli(capsys, "demo", "--out", str(tmp_path / "new"), "--batch", HUGE)
    assert_one_line(code, err, "argument --batch: ", "65,536")
    assert not (tmp_path / "new").exists()


def test_huge_channel_counts_in_a_model_file(capsys, tmp_path):
    model = tmp_path / "big.yaml"
    model.write_text(f"input: [3, 32, 32]\nlayers:\n  - {{op: conv2d, out_channels: {HUGE}, kernel: 3}}\n")
    code, _, err = cli(capsys, "simulate", "--model", str(model))
    assert_one_line(code, err, f"out_channels: {HUGE} (expected an integer from 1 to 1,048,576)", "(--model)")


@pytest.mark.parametrize("value, shown", [("true", "True"), ('"32"', "'32'"), ("32.0", "32.0")])
def test_model_integers_are_strictly_typed(capsys, tmp_path, value, shown):
    model = tmp_path / "typed.yaml"
    model.write_text(f"input: [3, 8, 8]\nlayers:\n  - {{op: conv2d, out_channels: {value}, kernel: 3}}\n")
    code, _, err = cli(capsys, "simulate", "--model", str(model))
    assert_one_line(code, err, f"out_channels: {shown} (expected an integer")


# YAML alias bombs: refused before expansion.

def test_model_alias_bomb_is_refused_fast(capsys, tmp_path):
    lines = ["input: [3, 8, 8]", "layers: [{op: relu}]", "x0: &x0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    lines += [f"x{i}: &x{i} [{', '.join([f'*x{i - 1}'] * 10)}]" for i in range(1, 9)]
    model = tmp_path / "bomb.yaml"
    model.write_text("\n".join(lines) + "\n")
    start = time.perf_counter()
    code, _, err = cli(capsys, "simulate", "--model", str(model))
    assert time.perf_counter() - start < 5
    assert_one_line(code, err, "once aliases are expanded")


# OS errors on paths.

@pytest.mark.parametrize("flag", ["--model", "--csv"])
def test_over_long_file_names(capsys, tmp_path, flag):
    path = str(tmp_path / ("n" * 300 + ".yaml"))
    argv = ["simulate", "--model", path] if flag == "--model" else ["simulate", "--model", "resnet9", "--batch",
                                                                     "2", "--csv", path]
    code, out, err = cli(capsys, *argv)
    assert_one_line(code, err, "File name too long", f"({flag})")
    assert out == "" and len(err) < 250


def test_model_path_problems(capsys, tmp_path):
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\x00\xff\xfe garbage")
    for path, expect in ((tmp_path, "is a directory"), (binary, "not UTF-8"),
                         (tmp_path / "missing.yml", "not found")):
        code, _, err = cli(capsys, "simulate", "--model", str(path))
        assert_one_line(code, err, expect)


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_unwritable_csv_folder(capsys, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    code, _, err = cli(capsys, "simulate", "--model", "resnet9", "--batch", "2", "--csv", str(locked / "a.csv"))
    assert_one_line(code, err, "not writable", "(--csv)")


def test_out_over_long_name(capsys, tmp_path):
    code, _, err = cli(capsys, "demo", "--quiet", "--out", str(tmp_path / ("d" * 300)))
    assert_one_line(code, err, "File name too long", "(--out)")
    assert list(tmp_path.iterdir()) == []


# Output folders and files: nothing left behind on error, no partial file.

def test_failed_demo_leaves_no_folder(capsys, tmp_path, monkeypatch):
    import hwsim.studies.sat_paper

    def broken_plots(df, out, *args):
        (out / "speedup.png").write_bytes(b"partial")
        raise HwsimError("plots: broken on purpose", "test")

    monkeypatch.setattr(hwsim.studies.sat_paper, "plots", broken_plots)
    monkeypatch.setattr(hwsim.studies.sat_paper, "run_all", lambda *a, **k: _tiny_frame())
    monkeypatch.setattr(hwsim.studies.sat_paper, "sensitivity", lambda *a, **k: None)
    monkeypatch.setattr(hwsim.studies.sat_paper, "ablation", lambda *a, **k: None)
    monkeypatch.setattr(hwsim.studies.sat_paper, "markdown", lambda *a, **k: "md")
    out = tmp_path / "new" / "deeper"
    code, _, err = cli(capsys, "demo", "--quiet", "--out", str(out))
    assert_one_line(code, err, "broken on purpose")
    assert list(tmp_path.iterdir()) == []  # neither the folder nor its parent nor a staging folder


def test_failed_demo_keeps_an_existing_folder_untouched(capsys, tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    code, _, err = cli(capsys, "demo", "--quiet", "--out", str(tmp_path), "--arch", str(tmp_path / "nope.yaml"))
    assert code == 2
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def _tiny_frame():
    import pandas as pd

    return pd.DataFrame({"a": [1]})


def test_csv_is_written_atomically(capsys, tmp_path, monkeypatch):
    from hwsim.result import Result

    def broken_to_csv(self, path):
        with open(path, "w") as handle:
            handle.write("name,layer\npartial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Result, "to_csv", broken_to_csv)
    target = tmp_path / "ops.csv"
    code, _, err = cli(capsys, "simulate", "--model", "resnet9", "--batch", "2", "--csv", str(target))
    assert_one_line(code, err, "No space left on device", "(--csv)")
    assert list(tmp_path.iterdir()) == []


def test_csv_replaces_an_old_file_whole(capsys, tmp_path):
    target = tmp_path / "ops.csv"
    target.write_text("old")
    assert cli(capsys, "simulate", "--model", "resnet9", "--batch", "2", "--csv", str(target))[0] == 0
    assert target.read_text().startswith("name,layer,phase") and [p.name for p in tmp_path.iterdir()] == ["ops.csv"]


# A whole-run budget on schedule size and memory.

def test_many_large_layers_hit_the_run_budget_before_allocating(capsys, tmp_path):
    model = tmp_path / "bn500.yaml"  # each layer is under the per-op tile limit; together they used 23 GB
    model.write_text("input: [64, 512, 512]\nlayers:\n" + "  - {op: norm, norm: batch}\n" * 500)
    tracemalloc.start()
    start = time.perf_counter()
    code, _, err = cli(capsys, "simulate", "--model", str(model), "--batch", "64")
    elapsed = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert_one_line(code, err, "schedule: ", "tiles", f"expected at most {MAX_RUN_TILES:,} tiles")
    assert elapsed < 5 and peak < 200e6


def test_run_macs_are_bounded(capsys, tmp_path):
    model = tmp_path / "wide.yaml"
    model.write_text("input: [1048576, 64, 64]\nlayers:\n  - {op: conv2d, out_channels: 1048576, kernel: 1}\n")
    code, _, err = cli(capsys, "simulate", "--model", str(model), "--batch", "8", "--phases", "ff")
    assert_one_line(code, err, "MACs (expected at most")


def test_normal_runs_fit_the_budget():
    assert hwsim.simulate("resnet50", "sat-vcu1525", batch=256).cycles > 0


# Unnamed layers are named in linear time.

def test_twenty_thousand_unnamed_layers(capsys, tmp_path):
    model = tmp_path / "long.yaml"
    model.write_text("input: [4, 4, 4]\nlayers:\n" + "  - {op: relu}\n" * 20_000)
    start = time.perf_counter()
    from hwsim import models

    graph = models.load(model)
    # Quadratic naming took 41 s here; linear takes ~2 s (mostly YAML parsing). 20 s leaves room for a loaded
    # 2-core CI machine and still fails on the quadratic bug.
    assert time.perf_counter() - start < 20 and graph.layers[-1].name == "relu20000"


# Type checks on every public API argument.

@pytest.mark.parametrize("kwargs, name", [
    ({"pregen": "no"}, "pregen"), ({"interleave": None}, "interleave"), ({"dense_ends": 1}, "dense_ends"),
    ({"fuse": "yes"}, "fuse"), ({"batch": True}, "batch"), ({"batch": "32"}, "batch"), ({"batch": 2.0}, "batch"),
    ({"model": 3}, "model"), ({"arch": None}, "arch"), ({"method": None}, "method"), ({"nm": 2.8}, "nm"),
    ({"phases": 5}, "phases"), ({"phases": [1]}, "phases"), ({"resolution": "64"}, "resolution"),
    ({"classes": 10.0}, "classes"), ({"engine": None}, "engine"),
])
def test_api_argument_types(kwargs, name):
    args = {"model": "resnet9", "arch": "sat-small", "batch": 2, **kwargs}
    with pytest.raises(TypeError, match=rf"^{name}: "):
        hwsim.simulate(**args)


@pytest.mark.parametrize("kwargs, name", [({"batch": 0}, "batch"), ({"batch": 10 ** 20}, "batch"),
                                          ({"resolution": 10 ** 20}, "resolution"), ({"classes": 0}, "classes"),
                                          ({"engine": "gpu"}, "engine"), ({"method": "foo"}, "method")])
def test_api_argument_values(kwargs, name):
    args = {"model": "resnet9", "arch": "sat-small", "batch": 2, **kwargs}
    with pytest.raises(ValueError, match=rf"^{name}: "):
        hwsim.simulate(**args)


def test_api_accepts_the_documented_types(tmp_path):
    from hwsim.dataflow.ops import Phase
    from hwsim.dataflow.sparsity import NM, Method

    a = hwsim.simulate("resnet9", "sat-small", Method.BDWP, NM(2, 8), 2, phases=[Phase.FF, "bp"])
    b = hwsim.simulate("resnet9", "sat-small", "bdwp", "2:8", 2, phases="ff,bp")
    assert a.cycles == b.cycles


# The contract end to end, through a real process.

def test_subprocess_has_no_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "hwsim.cli", "simulate", "--model", "resnet9", "--batch", HUGE],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and proc.stdout == "" and proc.stderr.count("\n") == 1
    assert "Traceback" not in proc.stderr


def test_demo_out_with_a_non_utf8_name(capsys, tmp_path, monkeypatch):
    import hwsim.studies.sat_paper

    def fake_run(out, arch="sat-vcu1525", batch=None, progress=True):
        (Path(out) / "results.csv").write_text("a\n1\n")
        return f"wrote {Path(out) / 'results.csv'}"

    monkeypatch.setattr(hwsim.studies.sat_paper, "run_paper_comparison", fake_run)
    out = tmp_path / os.fsdecode(b"caf\xe9")
    code, stdout, err = cli(capsys, "demo", "--quiet", "--out", str(out))
    assert code == 0 and err == "" and "caf\\xe9" in stdout
    assert [p.name for p in tmp_path.iterdir()] == [out.name] and (out / "results.csv").is_file()


@pytest.mark.parametrize("flag, value", [("--method", "m" * 5000), ("--nm", "9" * 5000 + ":" + "9" * 5000),
                                         ("--nm", "2:" + "8" * 30)])
def test_long_method_and_nm_values_stay_short(capsys, flag, value):
    argv = ["simulate", "--model", "resnet9", "--batch", "2", flag, value]
    if flag == "--nm":
        argv += ["--method", "bdwp"]
    code, _, err = cli(capsys, *argv)
    assert_one_line(code, err, f"({flag})")
    assert len(err) < 250


def test_any_path_os_error_is_one_line(capsys, tmp_path):
    """--arch is read by hwsim.config; an OS error on any path given to the CLI still ends as one line."""
    code, _, err = cli(capsys, "simulate", "--model", "resnet9", "--arch", str(tmp_path / ("a" * 300 + ".yaml")))
    assert_one_line(code, err, "File name too long")
    assert len(err) < 250


def test_csv_onto_a_device_or_a_symlink(capsys, tmp_path):
    """Atomic replacement applies to regular files only: a device is written in place (and never replaced by
    a regular file), a symlink keeps pointing at its target, which gets the new content."""
    if os.path.exists("/dev/full"):
        code, _, err = cli(capsys, "simulate", "--model", "resnet9", "--batch", "2", "--csv", "/dev/full")
        assert_one_line(code, err, "No space left on device", "(--csv)")
        assert not Path("/dev/full").is_file()
    target, link = tmp_path / "target.csv", tmp_path / "link.csv"
    link.symlink_to(target)
    assert cli(capsys, "simulate", "--model", "resnet9", "--batch", "2", "--csv", str(link))[0] == 0
    assert link.is_symlink() and target.read_text().startswith("name,layer,phase")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.csv", "target.csv"]


def test_op_count_budget(capsys, tmp_path):
    model = tmp_path / "many.yaml"
    model.write_text("input: [4, 4, 4]\nlayers:\n" + "  - {op: relu}\n" * 10_001)
    start = time.perf_counter()
    code, _, err = cli(capsys, "simulate", "--model", str(model), "--batch", "1")
    assert_one_line(code, err, "schedule: 10,001 ops (expected at most 10,000 per run")
    assert time.perf_counter() - start < 5


def test_tile_budget_stops_mapping_early(capsys, tmp_path):
    """Thousands of ops of distinct shapes: the budget is checked as ops are mapped, not after all of them."""
    model = tmp_path / "distinct.yaml"
    model.write_text("input: [64]\nlayers:\n" + "".join(f"  - {{op: linear, out_features: {64 + i}}}\n"
                                                        for i in range(2400)))
    start = time.perf_counter()
    code, _, err = cli(capsys, "simulate", "--model", str(model), "--batch", "4096", "--arch", "sat-small")
    assert_one_line(code, err, "schedule: the first ", " of 9,599 ops need ", "tiles")
    assert time.perf_counter() - start < 5


def test_cli_bounds_match_the_model_bounds():
    from hwsim import inputs
    from hwsim.models import checks

    assert inputs.MAX_DIM == checks.MAX_DIM


def test_long_phases_value_stays_short(capsys):
    code, _, err = cli(capsys, "simulate", "--model", "resnet9", "--phases", "x" * 5000)
    assert_one_line(code, err, "phases: 'xxx", "(--phases)")
    assert len(err) < 200
