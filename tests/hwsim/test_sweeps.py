"""Sweeps: the 72-point grid locally and on Dask, resume after SIGKILL, speedup pairing, one-line errors."""
import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import yaml

from hwsim.cli import main
from hwsim.sweeps import sweep

SPEC = {
    "version": 1, "arch": "sat-vcu1525",
    "grid": {"array.rows": [16, 32, 64], "dram.channels": [2, 4], "vector.lanes": [64, 128, 256]},
    "models": ["resnet9", {"name": "resnet18-s1", "resolution": 32, "classes": 10}],
    "methods": ["dense", "bdwp:2:8"], "batch": 2, "over_budget": "keep",
}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted 72-point run on one process."""
    out = tmp_path_factory.mktemp("ref") / "ref.csv"
    sweep(SPEC, out, jobs=1, progress=False)
    return pd.read_csv(out)


def test_rows_columns_and_speedup(reference):
    assert len(reference) == 72 and reference["key"].is_unique
    assert list(reference.columns[:3]) == ["array.rows", "dram.channels", "vector.lanes"]
    for col in ("model", "method", "nm", "batch", "cycles", "seconds", "energy_j", "dram_bytes", "speedup", "dsp",
                "fits_board"):
        assert col in reference.columns
    dense = reference[reference.method == "dense"]
    assert (dense.speedup == 1.0).all()
    row = reference[(reference.method == "bdwp") & (reference["array.rows"] == 32) & (reference.model == "resnet9")
                    & (reference["dram.channels"] == 4) & (reference["vector.lanes"] == 256)].iloc[0]
    pair = dense[(dense["array.rows"] == 32) & (dense.model == "resnet9") & (dense["dram.channels"] == 4)
                 & (dense["vector.lanes"] == 256)].iloc[0]
    assert row.speedup == pytest.approx(pair.cycles / row.cycles) and row.speedup > 1
    # 64 rows x 32 cols x 4 multipliers = 8,192 DSPs: more than the XCVU9P's 6,840
    assert (~reference[reference["array.rows"] == 64].fits_board).all()
    assert reference[reference["array.rows"] < 64].fits_board.all()


def test_process_pool_gives_identical_rows(reference, tmp_path):
    out = tmp_path / "pool.csv"
    sweep(SPEC, out, jobs=2, progress=False)
    pd.testing.assert_frame_equal(pd.read_csv(out), reference)


def test_dask_local_cluster_gives_identical_rows(reference, tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as c:
        out = tmp_path / "dask.csv"
        sweep(SPEC, out, scheduler=c.scheduler_address, progress=False)
    pd.testing.assert_frame_equal(pd.read_csv(out), reference)


def test_sigkill_then_rerun_finishes_each_point_once(reference, tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(SPEC))
    out = tmp_path / "killed.csv"
    cmd = [sys.executable, "-m", "hwsim.cli", "sweep", str(spec), "--out", str(out), "--jobs", "1", "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    part = tmp_path / "killed.csv.part"
    deadline = time.time() + 120
    while time.time() < deadline and (not part.exists() or part.read_text().count("\n") < 20):
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not out.exists()
    with part.open("a") as f:  # and a torn last line, as a kill mid-write leaves
        f.write('{"array.rows": 16, "cyc')
    streamed = part.read_text().count("\n")
    assert 20 <= streamed < 72
    code = subprocess.run(cmd + ["--json"], capture_output=True, text=True)
    assert code.returncode == 0, code.stderr
    table = pd.read_csv(out)
    assert len(table) == 72 and table["key"].is_unique and not part.exists()
    pd.testing.assert_frame_equal(table, reference)
    # nothing recomputed: a third run computes no point
    again = subprocess.run(cmd, capture_output=True, text=True)
    assert "0 computed" in again.stdout


@pytest.mark.parametrize("change,expect", [
    ({"grid": {"array.rowz": [4]}}, "array.rowz: unknown field"),
    ({"grid": {"buffers.c_kib": [1]}}, "grid point buffers.c_kib=1: buffers.c_kib: 1 KiB is smaller"),
    ({"methods": ["bdwp:5:4"]}, "bdwp:5:4"),
    ({"models": ["nosuchnet"]}, "nosuchnet"),
    ({"batch": 10**20}, "batch"),
    ({"version": 3}, "version: 3"),
    ({"grid": {"array.rows": []}}, "grid.array.rows: 0 values"),
    ({"extra": 1}, "extra: unknown field"),
])
def test_bad_spec_is_one_line_and_leaves_nothing(tmp_path, capsys, change, expect):
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({**SPEC, **change}))
    out = tmp_path / "out" / "r.csv"
    out.parent.mkdir()
    code = main(["sweep", str(spec), "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("hwsim: error:") and expect in err, err
    assert list(out.parent.iterdir()) == []


def test_bad_out_and_scheduler(tmp_path, capsys):
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({**SPEC, "grid": {}, "models": ["resnet9"], "methods": ["dense"]}))
    assert main(["sweep", str(spec), "--out", str(tmp_path / "r.txt")]) == 2
    assert "expected a .csv or .parquet file" in capsys.readouterr().err
    assert main(["sweep", str(spec), "--out", str(tmp_path / "r.csv"), "--scheduler", "tcp://127.0.0.1:9"]) == 2
    assert "cannot connect" in capsys.readouterr().err


def test_parquet_output_and_plot(tmp_path, capsys):
    pytest.importorskip("pyarrow")
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({**SPEC, "grid": {"array.rows": [16, 64]}, "models": ["resnet9"]}))
    out = tmp_path / "r.parquet"
    assert main(["sweep", str(spec), "--out", str(out), "--quiet", "--plot", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 4 and len(pd.read_parquet(out)) == 4
    for ext in ("png", "pdf", "svg"):
        assert (tmp_path / f"r_pareto.{ext}").stat().st_size > 1000


def test_api_argument_types():
    import hwsim

    small = {**SPEC, "grid": {}, "models": ["resnet9"], "methods": ["dense"]}
    with pytest.raises(TypeError, match="scheduler"):
        hwsim.sweep(small, scheduler=8786)
    with pytest.raises(TypeError, match="progress"):
        hwsim.sweep(small, progress="no")
    with pytest.raises(TypeError, match="spec"):
        hwsim.sweep(["not", "a", "spec"])
    with pytest.raises(hwsim.HwsimError, match="jobs"):
        hwsim.sweep(small, jobs=0)
    assert len(hwsim.sweep(small, progress=False)) == 1


def test_over_budget_configs_are_pruned_counted_and_listed(tmp_path, capsys, reference):
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({k: v for k, v in SPEC.items() if k != "over_budget"}))
    out = tmp_path / "r.csv"
    assert main(["sweep", str(spec), "--out", str(out), "--quiet", "--jobs", "1"]) == 0
    stdout = capsys.readouterr().out
    table = pd.read_csv(out)
    # the six 64-row configs (8,192 DSPs > 6,840) x 2 models x 2 methods are not simulated; the rest are identical
    assert len(table) == 48 and table.fits_board.all() and (table["array.rows"] < 64).all()
    keep = reference[reference["array.rows"] < 64].reset_index(drop=True)
    pd.testing.assert_frame_equal(table, keep)
    assert "48 computed" in stdout and "6 configs over the board budget pruned" in stdout
    listing = pd.read_csv(tmp_path / "r_pruned.csv")
    assert len(listing) == 6 and (listing["array.rows"] == 64).all()
    # DSPs: 64 x 32 x 4 multipliers + 3 per vector lane (64, 128, 256 lanes)
    dsps = listing["over"].str.extract(r"^dsp ([\d,]+)/6,840")[0].str.replace(",", "").astype(int)
    assert sorted(set(dsps)) == [8192 + 3 * 64, 8192 + 3 * 128, 8192 + 3 * 256]
    # --keep-over-budget simulates them too (and the listing goes)
    assert main(["sweep", str(spec), "--out", str(out), "--quiet", "--jobs", "1", "--keep-over-budget"]) == 0
    assert "24 computed, 48 resumed" in capsys.readouterr().out and not (tmp_path / "r_pruned.csv").exists()
    pd.testing.assert_frame_equal(pd.read_csv(out), reference)


def test_every_config_pruned_gives_an_empty_table():
    import hwsim

    table = hwsim.sweep({**SPEC, "over_budget": "prune", "grid": {"array.rows": [64]}, "models": ["resnet9"]},
                        progress=False)
    assert len(table) == 0 and len(table.attrs["pruned"]) == 1 and "speedup" in table.columns
