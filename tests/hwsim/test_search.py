"""Co-search: the front's arch files simulate to the table's numbers, resume, pruning, bounds, bad specs."""
import json
import sqlite3

import numpy as np
import pandas as pd
import pytest
import yaml

pytest.importorskip("optuna")

from hwsim.cli import main  # noqa: E402
from hwsim.searches import search  # noqa: E402
from hwsim.searches.front import hypervolume, pareto_mask  # noqa: E402
from hwsim.searches.study import metrics, violation  # noqa: E402

SPEC = {
    "version": 1, "arch": "sat-vcu1525",
    "space": {"array.rows": {"low": 16, "high": 64, "step": 16}, "array.cols": [16, 32],
              "vector.lanes": [64, 256], "method": ["dense", "bdwp:2:8"]},
    "models": ["resnet9", {"name": "vit", "weight": 0.5, "resolution": 32}],
    "batch": 2, "objectives": ["latency", "resources"], "trials": 14, "seed": 3,
}


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    out = tmp_path_factory.mktemp("search") / "out"
    return out, search(SPEC, out, jobs=1, progress=False)


def _cli_json(capsys, *argv):
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_front_arch_files_simulate_to_the_reported_numbers(searched, capsys):
    out, res = searched
    front = pd.read_csv(out / "pareto.csv")
    assert len(front) >= 2 and list(front["design"]) == [f"D{i + 1}" for i in range(len(front))]
    assert (front["status"] == "ok").all() and front["dsp"].le(6840).all()
    for _, row in front.iterrows():
        text = (out / "arch" / f"{row['design']}.yaml").read_text()
        data = yaml.safe_load(text)
        assert data["version"] == 1 and data["base"] == "sat-vcu1525" and "name" not in data
        assert data["array"]["rows"] == row["array.rows"] and data["array"]["cols"] == row["array.cols"]
        method, _, nm = row["method"].partition(":")
        for model, resolution in (("resnet9", None), ("vit", 32)):
            assert row["arch_file"] == f"arch/{row['design']}.yaml"  # written relative to the output folder
            argv = ["simulate", "--arch", str(out / row["arch_file"]), "--model", model, "--method", method, "--batch", "2",
                    "--json"] + (["--nm", nm] if nm else []) + (["--resolution", str(resolution)] if resolution
                                                                 else [])
            got = _cli_json(capsys, *argv)
            assert got["arch"] == row["arch"]
            assert got["cycles"] == row[f"{model}.cycles"]
            assert got["seconds"] == pytest.approx(row[f"{model}.seconds"], rel=1e-12)
            assert got["energy_j"] == pytest.approx(row[f"{model}.energy_j"], rel=1e-12)
            assert f"--model {model}" in text
        # the objective is the weighted mean (weights 1 and 0.5)
        assert row["latency"] == pytest.approx((row["resnet9.seconds"] + 0.5 * row["vit.seconds"]) / 1.5)


def test_front_is_the_non_dominated_feasible_set(searched):
    out, res = searched
    trials = pd.read_csv(out / "trials.csv")
    assert len(trials) == 14
    ok = trials[(trials.status == "ok") & trials.feasible]
    front = pd.read_csv(out / "pareto.csv")
    for _, t in ok.iterrows():  # no simulated design beats a front design on both objectives
        for _, f in front.iterrows():
            assert not (t.latency <= f.latency and t.resources <= f.resources and
                        (t.latency < f.latency or t.resources < f.resources))
    # over-budget designs (DSPs: 4 per PE + 3 per vector lane, over 6,840) were not simulated
    over = trials[trials.status == "over-budget"]
    assert len(over) and over["latency"].isna().all()
    assert (over["array.rows"] * over["array.cols"] * 4 + 3 * over["vector.lanes"] > 6840).all()
    assert (ok["array.rows"] * ok["array.cols"] * 4 + 3 * ok["vector.lanes"] <= 6840).all()
    for ext in ("png", "pdf", "svg"):
        assert (out / f"pareto.{ext}").stat().st_size > 1000
    md = (out / "pareto.md").read_text()
    assert "| D1 |" in md and "arch/D1.yaml" in md


def test_rerun_resumes_and_extends(searched, tmp_path):
    out, first = searched
    again = search(SPEC, out, jobs=1, progress=False)
    assert again.counts["resumed"] == 14 and again.counts["simulated"] == 0
    pd.testing.assert_frame_equal(again.front.drop(columns=["command"]), first.front.drop(columns=["command"]))
    more = search(SPEC, out, trials=18, jobs=1, progress=False)
    assert more.counts["resumed"] == 14 and len(more.trials) == 18
    with sqlite3.connect(out / "study.sqlite3") as db:
        assert db.execute("select count(*) from trials").fetchone()[0] == 18


def test_killed_run_leaves_running_trials_that_are_asked_again(tmp_path):
    import optuna

    from hwsim.searches import load_search_spec, study_name
    from hwsim.searches.spec import check
    from hwsim.searches.study import STUDY_FILE

    spec = load_search_spec({**SPEC, "trials": 3, "models": ["resnet9"]})
    out = tmp_path / "o"
    out.mkdir()
    study = optuna.create_study(study_name=study_name(spec, check(spec)), directions=["minimize"] * 2,
                                storage=f"sqlite:///{out / STUDY_FILE}")
    study.ask()  # a trial a killed run left RUNNING
    res = search(spec, out, jobs=1, progress=False)
    assert res.counts["resumed"] == 0 and len(res.trials) == 3


def test_process_pool_matches_in_process_numbers(searched, tmp_path):
    _, ref = searched
    res = search({**SPEC, "trials": 6}, tmp_path / "pool", jobs=2, progress=False)
    done = res.trials[res.trials.status == "ok"]
    merged = done.merge(ref.trials[ref.trials.status == "ok"], on="key", suffixes=("", "_ref"))
    assert len(merged) >= 1
    assert (merged["resnet9.cycles"] == merged["resnet9.cycles_ref"]).all()


def test_user_bound_marks_designs_infeasible(tmp_path):
    spec = {**SPEC, "trials": 8, "models": ["resnet9"], "constraints": {"max": {"dsp": 2000}}}
    res = search(spec, tmp_path / "b", jobs=1, progress=False)
    ok = res.trials[res.trials.status == "ok"]
    assert (ok.feasible == (ok.dsp <= 2000)).all()
    assert (res.front["dsp"] <= 2000).all()


def test_board_budget_can_be_lifted(tmp_path):
    spec = {**SPEC, "trials": 10, "models": ["resnet9"], "constraints": {"board": False},
            "space": {"array.rows": [64], "array.cols": [32]}}
    res = search(spec, tmp_path / "c", jobs=1, progress=False)
    assert res.counts["over_budget"] == 0 and res.counts["simulated"] == 1 and res.counts["cached"] == 9


def test_rtl_takes_an_emitted_arch_file(tmp_path, capsys):
    pytest.importorskip("amaranth")
    spec = {**SPEC, "arch": "sat-small", "space": {"vector.lanes": [2, 4], "buffers.b_kib": [8, 16]},
            "models": ["resnet9"], "trials": 4, "objectives": ["latency", "energy"]}
    res = search(spec, tmp_path / "s", jobs=1, progress=False)
    arch = res.front["arch_file"].iloc[0]
    assert main(["rtl", "--arch", arch, "--out", str(tmp_path / "rtl"), "--nm", "2:8"]) == 0
    assert (tmp_path / "rtl").is_dir() and "sat-small[" in capsys.readouterr().out


def test_arch_file_base_is_relative_to_a_spec_file_arch(tmp_path, capsys):
    mine = tmp_path / "mine.yaml"
    mine.write_text("version: 1\nbase: sat-vcu1525\ndram:\n  channels: 2\n")
    res = search({**SPEC, "arch": str(mine), "trials": 3, "models": ["resnet9"]}, tmp_path / "f", jobs=1,
                 progress=False)
    row = res.front.iloc[0]
    assert yaml.safe_load(open(row["arch_file"]))["base"] == "../../mine.yaml"
    method, _, nm = row["method"].partition(":")
    got = _cli_json(capsys, "simulate", "--arch", row["arch_file"], "--model", "resnet9", "--method", method,
                    "--batch", "2", "--json", *(["--nm", nm] if nm else []))
    assert got["cycles"] == row["resnet9.cycles"]


@pytest.mark.parametrize("change,expect", [
    ({"space": {"array.rowz": [4]}}, "space.array.rowz: array.rowz: unknown field"),
    ({"space": {"array.rows": ["8"]}}, "space.array.rows"),
    ({"space": {"array.rows": {"low": 64, "high": 8}}}, "low 64 > high 8"),
    ({"space": {"method": ["bdwp:5:4"]}}, "bdwp:5:4"),
    ({"space": {"options.turbo": [True]}}, "options.turbo: unknown option"),
    ({"space": {"options.objective": ["latency", "speed"]}}, "space.options.objective: 'speed'"),
    ({"options": {"pregen": "no"}}, "options.pregen: 'no' (expected true or false)"),
    ({"objectives": ["speed"]}, "objectives"),
    ({"constraints": {"max": {"dsp": -1}}}, "positive bound"),
    ({"grid": {"array.rows": [8]}}, "grid: a sweep key"),
    ({"models": ["nosuchnet"]}, "nosuchnet"),
    ({"trials": 0}, "trials"),
])
def test_bad_spec_is_one_line_and_leaves_nothing(tmp_path, capsys, change, expect):
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({**SPEC, **change}))
    out = tmp_path / "out"
    code = main(["search", str(spec), "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("hwsim: error:") and expect in err, err
    assert not out.exists()


def test_bad_scheduler_leaves_nothing(tmp_path, capsys):
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(SPEC))
    code = main(["search", str(spec), "--out", str(tmp_path / "o"), "--scheduler", "tcp://127.0.0.1:9", "--quiet"])
    assert code == 2 and "cannot connect" in capsys.readouterr().err and not (tmp_path / "o").exists()


def test_dask_cluster_evaluates_trials(tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as c:
        res = search({**SPEC, "trials": 4, "models": ["resnet9"]}, tmp_path / "d", scheduler=c.scheduler_address,
                     progress=False)
    assert len(res.trials) == 4 and res.counts["simulated"] + res.counts["cached"] + res.counts["over_budget"] == 4


# --- the pieces, by hand ------------------------------------------------------------------------------------------

def test_pareto_mask_by_hand():
    values = np.array([[1, 5], [2, 2], [3, 3], [5, 1], [2, 2], [1, 6]], dtype=float)
    # (3,3) is dominated by (2,2); the second (2,2) is a duplicate; (1,6) is dominated by (1,5)
    assert pareto_mask(values).tolist() == [True, True, False, True, False, False]


def test_hypervolume_by_hand():
    # two boxes up to (4, 4): (1,3) covers 3x1, (3,1) covers 1x3, overlapping in 1x1: 3 + 3 - 1 = 5
    assert hypervolume(np.array([[1, 3], [3, 1]]), np.array([4, 4])) == pytest.approx(5.0)
    assert hypervolume(np.array([[5, 5]]), np.array([4, 4])) == 0.0


def test_metrics_and_violation_by_hand():
    from hwsim.config import load_arch

    cfg = load_arch("sat-vcu1525")
    per = [{"seconds": 1.0, "energy_j": 10.0}, {"seconds": 4.0, "energy_j": 2.0}]
    m = metrics(per, [3.0, 1.0], cfg)
    assert m["latency"] == pytest.approx(0.75 * 1 + 0.25 * 4)
    assert m["energy"] == pytest.approx(0.75 * 10 + 0.25 * 2)
    assert m["edp"] == pytest.approx(0.75 * 10 + 0.25 * 8)
    assert m["resources"] == pytest.approx(max(cfg.resources.utilization.values()))
    assert violation({"dsp": 5000.0, "latency": 1.0}, {"dsp": 4000.0, "latency": 2.0}) == pytest.approx(0.25)
    assert violation({"dsp": 5000.0}, {}) < 0


def test_sigkill_then_rerun_finishes_the_trials(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({**SPEC, "trials": 40, "models": ["resnet9"]}))
    out = tmp_path / "o"
    cmd = [sys.executable, "-m", "hwsim.cli", "search", str(spec), "--out", str(out), "--jobs", "1", "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    db, stored = out / "study.sqlite3", 0
    deadline = time.time() + 300
    while time.time() < deadline and stored < 16 and proc.poll() is None:
        time.sleep(0.1)
        if db.exists():
            try:
                with sqlite3.connect(db, timeout=1) as con:
                    stored = con.execute("select count(*) from trials where state in ('COMPLETE', 'PRUNED')"
                                         ).fetchone()[0]
            except sqlite3.OperationalError:  # tables not made yet
                pass
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 16 <= stored < 40 and not (out / "pareto.csv").exists()
    again = subprocess.run(cmd, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert pd.read_csv(out / "trials.csv").shape[0] == 40
    import re

    # a flush may land between the count and the kill, and a kill during a flush keeps the part of the batch written
    # so far (Optuna stores the trials of a batch one by one): nothing stored is lost, nothing is counted twice
    resumed = int(re.search(r"\((\d+) resumed", again.stdout)[1])
    assert stored <= resumed < 40


def test_repeats_are_answered_per_design(tmp_path):
    """Same config, two methods: two simulations, and every repeat gets its own method's numbers."""
    import hwsim

    res = search({**SPEC, "space": {"method": ["dense", "bdwp:2:8"]}, "trials": 8, "models": ["resnet9"]},
                 tmp_path / "r", jobs=1, progress=False)
    assert res.counts["simulated"] == 2 and res.counts["cached"] == 6
    for method, nm in (("dense", None), ("bdwp", "2:8")):
        want = hwsim.simulate("resnet9", "sat-vcu1525", method, nm, batch=2).cycles
        rows = res.trials[res.trials["method"] == (f"{method}:{nm}" if nm else method)]
        assert len(rows) and (rows["resnet9.cycles"] == want).all()


def test_committed_example_resnet50_vit_front_simulates_to_its_table(capsys):
    """The acceptance run (reports/search_example: ResNet-50 + ViT at batch 32 under the VCU1525 budget): its
    labelled front's arch files, simulated now, give the numbers in its table."""
    from pathlib import Path

    from hwsim.keys import MODEL_VERSION

    folder = Path(__file__).resolve().parents[2] / "reports" / "search_example"
    md = (folder / "pareto.md").read_text()
    assert f"Cost model version {MODEL_VERSION} " in md, "stale example: regenerate (hwsim report --only " \
                                                         "search_example)"
    front = pd.read_csv(folder / "pareto.csv")
    assert len(front) >= 3 and front["dsp"].le(6840).all() and front["lut"].le(1182240).all()
    for ext in ("png", "pdf", "svg"):
        assert (folder / f"pareto.{ext}").stat().st_size > 1000
    for _, row in front.iloc[[0, len(front) // 2, -1]].iterrows():
        arch = folder / "arch" / f"{row['design']}.yaml"
        method, _, nm = row["method"].partition(":")
        for model in ("resnet50", "vit"):
            got = _cli_json(capsys, "simulate", "--arch", str(arch), "--model", model, "--method", method,
                            "--batch", "32", "--json", *(["--nm", nm] if nm else []))
            assert got["arch"] == row["arch"] and got["cycles"] == row[f"{model}.cycles"]
            assert got["energy_j"] == pytest.approx(row[f"{model}.energy_j"], rel=1e-12)
        assert row["latency"] == pytest.approx((row["resnet50.seconds"] + row["vit.seconds"]) / 2, rel=1e-12)


def test_options_in_the_space_reach_the_reproduce_command(tmp_path, capsys):
    import shlex

    spec = {**SPEC, "space": {"array.rows": [16, 32], "options.pregen": [True, False],
                              "options.objective": ["latency", "energy"]},
            "methods": ["bdwp:2:8"], "models": ["resnet9"], "trials": 10, "objectives": ["latency", "energy"]}
    res = search(spec, tmp_path / "opt", jobs=1, progress=False)
    assert set(res.trials["options.pregen"]) == {True, False}
    for _, row in res.front.iterrows():
        argv = shlex.split(row["command"])[1:]
        assert ("--no-pregen" in argv) == (not row["options.pregen"])
        assert argv[argv.index("--objective") + 1] == row["options.objective"]
        got = _cli_json(capsys, *argv, "--json")
        assert got["cycles"] == row["resnet9.cycles"]
    # and the numbers differ with the option (the option reaches the simulation)
    ok = res.trials[res.trials.status == "ok"]
    assert ok.groupby("options.pregen")["resnet9.cycles"].min().nunique() == 2
