"""Issue 15, the second hardening pass, one section per class: (1) nothing lost or written where it does not
belong, (2) no stale or wrong numbers, (4) no hangs or leaks around processes, (6) no forged or misleading
messages. Classes 3 and 5 (bounded readers, bad ONNX) are in tests/models/test_reading.py and
test_onnx_checks.py. Each case failed on the code before the pass (exit 0 over an input, a traceback, a hang).
Work that should be refused at once is timed in CPU seconds (time.process_time), so a loaded machine does not
make it flaky; waits (a scheduler, a FIFO) in wall-clock seconds."""
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hwsim
from hwsim.cli import main
from hwsim.errors import HwsimError

MODEL_YAML = """name: tiny
input: [3, 8, 8]
layers:
  - {name: conv1, op: conv2d, out_channels: 4, kernel: 3, padding: 1}
  - {name: relu1, op: relu}
  - {name: pool, op: pool, mode: avg, global: true}
  - {name: flat, op: reshape, shape: [-1]}
  - {name: fc, op: linear, out_features: 10}
"""
TOPOLOGY = ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides, "
            "Sparsity,\nconv1, 10, 10, 3, 3, 16, 16, 1, 1:4,\nconv2, 8, 8, 3, 3, 16, 16, 1, 1:1,\n")


def cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line(code, err, *fragments, exit_code=2):
    assert code == exit_code, err
    assert err.startswith("hwsim: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    assert err[:-1].isprintable(), err
    for fragment in fragments:
        assert fragment in err, err


def snapshot(folder: Path) -> dict:
    return {p.relative_to(folder): (p.read_bytes() if p.is_file() and not p.is_symlink() else None)
            for p in sorted(folder.rglob("*"))}


@pytest.fixture
def model_files(tmp_path):
    (tmp_path / "net.yaml").write_text(MODEL_YAML)
    (tmp_path / "topo.csv").write_text(TOPOLOGY)
    return tmp_path


# -- class 1: nothing lost, nothing written where it does not belong

@pytest.mark.parametrize("model", ["topo.csv", "net.yaml"])
def test_csv_onto_the_model_itself_is_refused(capsys, model_files, model):
    before = snapshot(model_files)
    code, _, err = cli(capsys, "simulate", "--model", model_files / model, "--batch", 2, "--csv",
                       model_files / model)
    assert_one_line(code, err, "is the input", "(--csv)")
    assert snapshot(model_files) == before


def _alias(folder: Path, target: Path, how: str) -> Path:
    """Another name for ``target``: the same path spelled differently, a symlink, a hard link."""
    if how == "dotted":
        return folder / "." / "sub" / ".." / target.name
    if how == "symlink":
        link = folder / f"link-{target.name}"
        link.symlink_to(target)
        return link
    if how == "hardlink":
        link = folder / f"hard-{target.name}"
        os.link(target, link)
        return link
    return target


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(how=st.sampled_from(["same", "dotted", "symlink", "hardlink"]),
       which=st.sampled_from(["model", "arch"]))
def test_random_collisions_and_links_never_overwrite_an_input(tmp_path_factory, capsys, how, which):
    folder = tmp_path_factory.mktemp("collide")
    (folder / "sub").mkdir()
    (folder / "net.csv").write_text(TOPOLOGY)
    (folder / "arch.yaml").write_text("version: 1\nbase: sat-small\n")
    target = folder / ("net.csv" if which == "model" else "arch.yaml")
    out = _alias(folder, target, how)
    before = snapshot(folder)
    code, _, err = cli(capsys, "simulate", "--model", folder / "net.csv", "--arch", folder / "arch.yaml",
                       "--batch", 2, "--csv", out)
    assert_one_line(code, err, "is the input")
    assert snapshot(folder) == before


def test_sweep_out_onto_one_of_its_models_is_refused(capsys, model_files):
    spec = model_files / "spec.yaml"
    spec.write_text(yaml.safe_dump({"version": 1, "arch": "sat-small", "models": [str(model_files / "topo.csv")],
                                    "batch": 2}))
    before = snapshot(model_files)
    code, _, err = cli(capsys, "sweep", spec, "--out", model_files / "topo.csv", "--quiet")
    assert_one_line(code, err, "is the input", "(--out)")
    assert snapshot(model_files) == before


def test_planted_links_at_the_old_temp_names_are_not_followed(capsys, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({"version": 1, "arch": "sat-small", "models": ["resnet9"], "batch": 2}))
    out = tmp_path / "r.csv"
    for name in (".r.csv.tmp", "r.csv.part.tmp"):
        (tmp_path / name).symlink_to(victim)
    (tmp_path / "r.csv.part").write_text("")  # so the resume rewrites the stream
    code, _, err = cli(capsys, "sweep", spec, "--out", out, "--quiet", "--jobs", 1)
    assert code == 0, err
    assert victim.read_text() == "precious"


def test_a_link_planted_at_the_stream_is_refused(capsys, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({"version": 1, "arch": "sat-small", "models": ["resnet9"], "batch": 2}))
    (tmp_path / "r.csv.part").symlink_to(victim)
    code, _, err = cli(capsys, "sweep", spec, "--out", tmp_path / "r.csv", "--quiet", "--jobs", 1)
    assert_one_line(code, err, "(--out)")
    assert victim.read_text() == "precious"


def test_a_read_only_csv_is_not_replaced(capsys, tmp_path):
    target = tmp_path / "ops.csv"
    target.write_text("mine")
    target.chmod(0o444)
    code, _, err = cli(capsys, "simulate", "--model", "resnet9", "--batch", 2, "--csv", target)
    assert_one_line(code, err, "read-only", "(--csv)")
    assert target.read_text() == "mine"


def test_demo_below_a_file_fails_before_any_work(capsys, tmp_path):
    (tmp_path / "f").write_text("a file")
    t0 = time.process_time()
    code, _, err = cli(capsys, "demo", "--quiet", "--out", tmp_path / "f" / "sub")
    assert_one_line(code, err, "is a file", "(--out)")
    assert time.process_time() - t0 < 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]


def test_rtl_with_a_folder_where_a_file_goes_writes_nothing(capsys, tmp_path):
    pytest.importorskip("amaranth")
    out = tmp_path / "rtl"
    (out / "README.md").mkdir(parents=True)  # the last file written
    code, _, err = cli(capsys, "rtl", "--out", out)
    assert_one_line(code, err, "(--out)")
    assert sorted(p.name for p in out.iterdir()) == ["README.md"] and not any((out / "README.md").iterdir())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rtl"]


def test_report_checks_every_section_input_before_any_work(capsys, tmp_path, monkeypatch):
    import dataclasses

    import hwsim.studies as reporting

    ran = []

    def fake(out, progress):
        ran.append(out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "made.txt").write_text("x")
        return [out / "made.txt"]

    monkeypatch.setattr(reporting, "SECTIONS", [dataclasses.replace(s, run=fake) if s.name != "rtl" else s
                                                for s in reporting.SECTIONS])
    code, _, err = cli(capsys, "report", "--out", tmp_path, "--only", "sat_paper", "--only", "rtl", "--quiet")
    assert_one_line(code, err, "resources.csv")
    assert ran == [] and list(tmp_path.iterdir()) == []


def test_report_failing_late_leaves_nothing(capsys, tmp_path, monkeypatch):
    import dataclasses

    import hwsim.studies as reporting

    def fake(out, progress):
        out.mkdir(parents=True, exist_ok=True)
        (out / "made.txt").write_text("x")
        return []

    def broken(out, progress):
        raise HwsimError("broken on purpose", "test")

    sections = [dataclasses.replace(s, run=fake if s.name == "sat_paper" else broken, inputs=())
                for s in reporting.SECTIONS if s.name in ("sat_paper", "tiny")]
    monkeypatch.setattr(reporting, "SECTIONS", sections)
    code, _, err = cli(capsys, "report", "--out", tmp_path, "--quiet")
    assert_one_line(code, err, "broken on purpose")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("argv", [["presets", "--json"], ["simulate", "--model", "resnet9", "--batch", "2", "--json"]])
def test_json_to_a_full_device_is_one_line(argv):
    with open("/dev/full", "w") as full:
        run = subprocess.run([sys.executable, "-m", "hwsim.cli", *argv], stdout=full, stderr=subprocess.PIPE,
                             text=True, timeout=120)
    assert run.returncode in (1, 2)
    assert run.stderr.startswith("hwsim: error: ") and run.stderr.count("\n") == 1, run.stderr


# -- class 2: no stale or wrong numbers

def test_editing_a_model_file_recomputes_its_sweep_point(capsys, model_files):
    spec = model_files / "spec.yaml"
    spec.write_text(yaml.safe_dump({"version": 1, "arch": "sat-small", "models": [str(model_files / "net.yaml")],
                                    "batch": 2}))
    out = model_files / "r.csv"
    assert cli(capsys, "sweep", spec, "--out", out, "--quiet", "--jobs", 1)[0] == 0
    first = out.read_text()
    (model_files / "net.yaml").write_text(MODEL_YAML.replace("out_channels: 4,", "out_channels: 64,"))
    code, stdout, err = cli(capsys, "sweep", spec, "--out", out, "--quiet", "--jobs", 1)
    assert code == 0, err
    assert "1 computed, 0 resumed" in stdout and out.read_text() != first


def test_a_path_and_a_str_read_the_topology_the_same_way(model_files):
    path = model_files / "topo.csv"
    by_str = hwsim.simulate(str(path), "sat-small", "bdwp", "2:8", 2)
    by_path = hwsim.simulate(path, "sat-small", "bdwp", "2:8", 2)
    assert by_path.cycles == by_str.cycles
    sparse = set(by_path.ops["nm"].dropna().unique()) - {""}
    assert sparse == {"1:4"}  # the column's 1:4 (conv2 is 1:1, dense), not the 2:8 asked for


@pytest.mark.parametrize("field, values", [("batch", [8, 8]), ("methods", ["dense", "dense"]),
                                           ("models", ["resnet9", "resnet9"])])
def test_duplicate_sweep_values_are_refused_up_front(capsys, tmp_path, field, values):
    spec = {"version": 1, "arch": "sat-small", "models": ["resnet9"], "batch": 2, field: values}
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(spec))
    t0 = time.process_time()
    code, _, err = cli(capsys, "sweep", tmp_path / "s.yaml", "--out", tmp_path / "r.csv", "--quiet")
    assert_one_line(code, err, "appears twice")
    assert time.process_time() - t0 < 5 and sorted(p.name for p in tmp_path.iterdir()) == ["s.yaml"]


def test_eighty_thousand_identical_batches_are_refused_fast(capsys, tmp_path):
    spec = {"version": 1, "arch": "sat-small", "models": ["resnet9"], "batch": [8] * 80_000}
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(spec, default_flow_style=True))
    t0 = time.process_time()
    code, _, err = cli(capsys, "sweep", tmp_path / "s.yaml", "--out", tmp_path / "r.csv", "--quiet")
    assert code == 2 and time.process_time() - t0 < 5, err


def test_a_grid_too_big_is_refused_before_enumeration(capsys, tmp_path):
    spec = {"version": 1, "arch": "sat-small", "models": ["resnet9"],
            "grid": {"array.rows": list(range(1, 1001)), "array.cols": list(range(1, 1001)),
                     "vector.lanes": list(range(1, 1001))}}
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(spec, default_flow_style=True))
    t0 = time.process_time()
    code, _, err = cli(capsys, "sweep", tmp_path / "s.yaml", "--out", tmp_path / "r.csv", "--quiet")
    assert_one_line(code, err, "1,000,000,000 points")
    assert time.process_time() - t0 < 5


# -- class 3 (CLI side): rtl and --patches are bounded

@pytest.mark.parametrize("sets", [["array.rows=128", "array.cols=128", "buffers.a_kib=256", "buffers.b_kib=256",
                                   "buffers.c_kib=256"], ["buffers.a_kib=1048576"]], ids=["128x128", "1GiB"])
def test_rtl_refuses_what_it_cannot_elaborate(capsys, tmp_path, sets):
    pytest.importorskip("amaranth")
    t0 = time.process_time()
    code, _, err = cli(capsys, "rtl", "--out", tmp_path / "o", *[a for s in sets for a in ("--set", s)])
    assert_one_line(code, err)
    assert time.process_time() - t0 < 5 and list(tmp_path.iterdir()) == []


def test_patches_are_bounded(capsys):
    code, _, err = cli(capsys, "tiny", "--model", "mcunet-5fps", "--scheme", "full", "--patches", "100000")
    assert_one_line(code, err, "patches")


# -- class 4: no hangs or leaks around processes

@pytest.fixture
def silent_port():
    """A TCP port that accepts connections and never says a word (not a Dask scheduler)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    conns = []
    stop = threading.Event()

    def accept():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conns.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for c in conns:
        c.close()
    server.close()


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.mark.parametrize("kind", ["silent", "refused"])
def test_a_bad_scheduler_fails_in_seconds_leaving_nothing(capsys, tmp_path, silent_port, kind):
    pytest.importorskip("distributed")
    port = silent_port if kind == "silent" else _free_port()
    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump({"version": 1, "arch": "sat-small", "models": ["resnet9"], "batch": 2}))
    t0 = time.monotonic()
    code, _, err = cli(capsys, "sweep", spec, "--out", tmp_path / "r.csv", "--quiet", "--scheduler",
                       f"tcp://127.0.0.1:{port}")
    assert_one_line(code, err, "scheduler", "(--scheduler)")
    assert time.monotonic() - t0 < 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.yaml"]


def test_pool_workers_die_with_a_killed_sweep(tmp_path):
    psutil = pytest.importorskip("psutil")
    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump({"version": 1, "arch": "sat-vcu1525", "models": ["resnet50", "vit"],
                                    "grid": {"array.rows": [16, 32]}, "batch": [64, 128]}))
    proc = subprocess.Popen([sys.executable, "-m", "hwsim.cli", "sweep", str(spec), "--out", str(tmp_path / "r.csv"),
                             "--jobs", "2", "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    parent = psutil.Process(proc.pid)
    deadline = time.time() + 60
    workers = []
    while time.time() < deadline and not workers:
        workers = [c for c in parent.children(recursive=True) if "resource_tracker" not in " ".join(c.cmdline())]
        time.sleep(0.1)
    assert workers, "the sweep started no worker"
    time.sleep(1.0)  # let the workers start their points
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    gone, alive = psutil.wait_procs(workers, timeout=5)
    for p in alive:
        p.kill()
    assert not alive, f"{len(alive)} workers outlived the killed sweep"


def test_jobs_are_capped_at_points_and_cores(monkeypatch, tmp_path):
    import concurrent.futures

    seen = []
    real = concurrent.futures.ProcessPoolExecutor

    class Recording(real):
        def __init__(self, max_workers=None, **kwargs):
            seen.append(max_workers)
            super().__init__(max_workers=max_workers, **kwargs)

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", Recording)
    spec = {"version": 1, "arch": "sat-small", "models": ["resnet9"], "methods": ["dense", "bdwp:2:8"],
            "batch": [1, 2, 3]}
    hwsim.sweep(spec, tmp_path / "r.csv", jobs=64, progress=False)
    assert seen and seen[0] <= min(6, os.cpu_count())


# -- class 6: no forged or misleading messages

FORGED = "x\nhwsim: ok\x1b]0;pwned\x07\r"


@pytest.mark.parametrize("argv", [
    ["simulate", "--model", f"{FORGED}.yaml"],
    ["simulate", "--model", f"{FORGED}.csv"],
    ["simulate", "--model", f"{FORGED}.onnx"],
    ["simulate", "--model", "resnet9", "--arch", f"{FORGED}.yaml"],
    ["simulate", "--model", "resnet9", "--method", FORGED],
    ["tiny", "--model", "mcunet-5fps", "--scheme", f"{FORGED}.yaml"],
    ["tiny", "--model", "mcunet-5fps", "--scheme", "full", "--target", FORGED],
    ["sweep", f"{FORGED}.yaml", "--out", "r.csv"],
])
def test_control_characters_never_reach_stderr_raw(capsys, argv):
    code, _, err = cli(capsys, *argv)
    assert_one_line(code, err)
    assert "\x1b" not in err and "\r" not in err and "\x07" not in err


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.text(st.characters(codec="utf-8", exclude_characters="\x00/"), min_size=1, max_size=30))
def test_random_names_stay_one_printable_line(capsys, tmp_path_factory, name):
    folder = tmp_path_factory.mktemp("names")
    spec = folder / "s.yaml"
    spec.write_text(yaml.safe_dump({"version": 1, "arch": "sat-small", "models": [f"{name}.yaml"], "batch": 2}))
    for argv in (["sweep", spec, "--out", folder / "r.csv", "--quiet"],
                 ["simulate", "--model", folder / f"{name}.csv"], ["simulate", "--model", folder / f"{name}.onnx"],
                 ["simulate", "--model", "resnet9", "--arch", folder / f"{name}.yaml"],
                 ["simulate", "--model", "resnet9", "--nm", name, "--method", "bdwp"],
                 ["tiny", "--model", "mcunet-5fps", "--scheme", folder / f"{name}.yaml"]):
        code, _, err = cli(capsys, *argv)
        assert_one_line(code, err)


def test_tiny_with_an_onnx_model_needs_no_classes(capsys, tmp_path):
    pytest.importorskip("onnx")
    from tests.models.onnx_nets import Net

    net = Net("cnn", (3, 32, 32))
    x = net.conv("data", 3, 8, 3, "conv1", stride=2)
    x = net.node("Relu", [x], "relu1")
    x = net.conv(x, 8, 16, 3, "conv2", stride=2)
    x = net.node("Relu", [x], "relu2")
    x = net.node("GlobalAveragePool", [x], "gap")
    x = net.node("Flatten", [x], "flat")
    net.gemm(x, 16, 10, "fc")
    path = net.save(tmp_path / "net.onnx")
    code, out, err = cli(capsys, "tiny", "--model", path, "--scheme", "full", "--json")
    assert code == 0, err


@pytest.mark.parametrize("call, name", [
    (lambda: hwsim.tiny(5, "full"), "model"),
    (lambda: hwsim.tiny("mcunet-5fps", 5), "scheme"),
    (lambda: hwsim.tiny("mcunet-5fps", "full", target=5), "target"),
    (lambda: hwsim.tiny("mcunet-5fps", "full", reorder="yes"), "reorder"),
    (lambda: hwsim.tiny("mcunet-5fps", "full", classes="10"), "classes"),
    (lambda: hwsim.tiny("mcunet-5fps", "full", patches=2.0), "patches"),
    (lambda: hwsim.tiny("mcunet-5fps", budget_kb="100"), "budget_kb"),
    (lambda: hwsim.sweep({"version": 1, "models": ["resnet9"]}, jobs="2"), "jobs"),
    (lambda: hwsim.simulate("resnet9", "sat-small", objective=5), "objective"),
    (lambda: hwsim.simulate("resnet9", "sat-small", dataflow=5), "dataflow"),
    (lambda: hwsim.simulate("resnet9", "sat-small", baseline=True), "baseline"),
])
def test_wrongly_typed_api_arguments_are_type_errors_naming_them(call, name):
    with pytest.raises(TypeError, match=rf"^{name}:"):
        call()
