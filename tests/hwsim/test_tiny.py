"""hwsim.tiny and `hwsim tiny`: the 256KB engines end to end, against the paper's published figures.

Published (paper, as listed in docs/tiny.md): all three backbones train within 256KB SRAM and 1MB Flash with
sparse update + reordering; MobileNetV2-w0.35 measured at 141KB. The sparse scheme for these checks is the
reference's "100KB scheme", the one its scripts use for the main results (mcunet-5fps:99kb and the
matching 99kb/98kb schemes of the other two).
"""
import json
import subprocess
import sys
from importlib import resources

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hwsim
from hwsim.cli import main
from hwsim.dataflow.tiny import Scheme, lifetimes, plan_arena, training_graph
from hwsim.errors import HwsimError
from hwsim.models import zoo

MAIN = {"mcunet-5fps": "mcunet-5fps:99kb", "mbv2-w0.35": "mbv2-w0.35:99kb", "proxyless-w0.3": "proxyless-w0.3:98kb"}
CONTRACT = {"model", "scheme", "analytic_extra_kb", "peak_sram_kb", "flash_kb", "latency_ms", "reorder", "fits"}


@pytest.mark.parametrize("model", MAIN)
def test_sparse_update_with_reordering_fits_and_full_update_does_not(model):
    sparse = hwsim.tiny(model, MAIN[model])
    assert sparse.fits and sparse.peak_sram_kb <= 256 and sparse.flash_kb <= 1024
    plain = hwsim.tiny(model, MAIN[model], reorder=False)
    assert plain.peak_sram_kb > sparse.peak_sram_kb  # reordering lowers the peak
    full = hwsim.tiny(model, "full")
    assert not full.fits and full.peak_sram_kb > 256


def test_mbv2_near_the_measured_141kb():
    """Paper: 141KB measured for MobileNetV2-w0.35 with sparse update + reordering; tolerance 25%."""
    assert hwsim.tiny("mbv2-w0.35", MAIN["mbv2-w0.35"]).peak_sram_kb == pytest.approx(141, rel=0.25)


def test_peak_names_its_tensors():
    r = hwsim.tiny("mcunet-5fps", "99kb", reorder=False)
    peak = r.peak_tensors()
    assert peak["bytes"].sum() == r.ops["live_bytes"].max()
    assert "wgrad" in set(peak["kind"])  # without reordering, weight gradients wait for the optimizer step


def test_zoo_cnn_outside_the_three_plans_end_to_end(tmp_path):
    scheme = tmp_path / "mine.yaml"
    scheme.write_text("bias_update_depth: 10\nweight_layers: [44, 46, 49, 51]\nratios: [0.5, 1, 0.25, 1]\n")
    for s in (str(scheme), "last-6", "bias-only-12"):
        r = hwsim.tiny("mobilenetv2-w0.35", s, resolution=128)
        assert r.model == "mobilenetv2-w0.35" and r.peak_sram_kb > r.analytic_extra_kb > 0
        assert r.latency_ms > 0 and r.flash_kb > 0


def test_npu_target_side_by_side():
    mcu = hwsim.tiny("mcunet-5fps", "99kb", target="mcu-stm32f746")
    npu = hwsim.tiny("mcunet-5fps", "99kb", target="npu-256k")
    assert npu.target == "npu-256k" and 0 < npu.latency_ms < mcu.latency_ms and npu.energy_mj > 0
    assert npu.analytic_extra_kb == mcu.analytic_extra_kb  # same scheme, same saved tensors
    assert npu.peak_sram_kb < mcu.peak_sram_kb  # int8 activation gradients on the int8 core


@pytest.mark.parametrize("kwargs, where", [
    ({"model": "mcunet-5fps", "scheme": "last-99"}, "--scheme"),
    ({"model": "mcunet-5fps", "scheme": Scheme("x", 5, (41,), (1.0,))}, None),
    ({"model": "bert-base-layer", "scheme": "full"}, "--model"),
    ({"model": "mcunet-5fps", "scheme": "full", "target": "gpu"}, "--target"),
])
def test_api_errors_name_the_argument(kwargs, where):
    if where is None:
        hwsim.tiny(**kwargs)  # valid
        return
    with pytest.raises(HwsimError) as info:
        hwsim.tiny(**kwargs)
    assert isinstance(info.value, ValueError) and info.value.where == where


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_json_contract(capsys):
    code, out, _ = run(capsys, "tiny", "--model", "mcunet-5fps", "--scheme", "mcunet-5fps:99kb", "--json")
    res = json.loads(out)
    assert code == 0 and CONTRACT <= set(res)
    assert (res["model"], res["scheme"], res["reorder"], res["fits"]) == ("mcunet-5fps", "mcunet-5fps:99kb", True, True)
    assert res["analytic_extra_kb"] == pytest.approx(99.8, rel=0.005)


def test_cli_table_and_no_reorder(capsys):
    code, out, _ = run(capsys, "tiny", "--model", "proxyless-w0.3", "--scheme", "98kb", "--no-reorder",
                       "--target", "npu-256k")
    assert code == 0
    for key in ("analytic_extra_kb", "peak_sram_kb", "flash_kb", "latency_ms", "fits"):
        assert key in out
    assert "reorder            no" in out


@pytest.mark.parametrize("args, message", [
    (["--scheme", "BAD"], "hwsim: error: scheme: unknown scheme 'BAD'"),
    (["--scheme", "last-43"], "hwsim: error: scheme: 'last-43' asks for 43 convs but mcunet-5fps has 42"),
    (["--scheme", "bias-only-50"], "hwsim: error: bias_update_depth: 50 exceeds the 42 convs of mcunet-5fps"),
    (["--scheme", "{file}:weight_layers: [42]"], "hwsim: error: weight_layers: 42 is out of range"),
    (["--scheme", "{file}:ratios: [1.5]"], "hwsim: error: ratios: 1.5"),
    (["--scheme", "{file}:ratios: [0]"], "hwsim: error: ratios: 0"),
    (["--scheme", "full", "--model", "vit"], "hwsim: error: model: vit is not a CNN"),
])
def test_cli_bad_input_one_line_exit_2(tmp_path, capsys, monkeypatch, args, message):
    argv = ["tiny", "--model", "mcunet-5fps", *args]
    if args[1].startswith("{file}"):
        key = args[1].split(":", 1)[1]
        base = {"weight_layers": "[41]", "ratios": "[1]"}
        field, value = key.split(": ")
        base[field] = value
        path = tmp_path / "s.yaml"
        path.write_text(f"bias_update_depth: 5\nweight_layers: {base['weight_layers']}\nratios: {base['ratios']}\n")
        argv[argv.index(args[1])] = str(path)
    monkeypatch.chdir(tmp_path)
    before = set(tmp_path.iterdir())
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith(message), err
    assert set(tmp_path.iterdir()) == before  # no partial output files


def test_cli_bad_scheme_as_a_process_has_no_traceback(tmp_path):
    out = subprocess.run([sys.executable, "-m", "hwsim.cli", "tiny", "--model", "mbv2-w0.35", "--scheme", "last-99"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 2 and out.stdout == "" and list(tmp_path.iterdir()) == []
    assert out.stderr == "hwsim: error: scheme: 'last-99' asks for 99 convs but mbv2-w0.35 has 51 (expected " \
                         "last-1..last-51) (--scheme)\n"


def test_every_preset_assumption_has_a_reason():
    folder = resources.files("hwsim.ondevice").joinpath("presets")
    for preset in (p for p in folder.iterdir() if p.name.endswith(".yaml")):
        for line in preset.read_text().splitlines():
            body = line.split("#")[0].strip()
            if not body or body.startswith(("version:", "name:", "kind:", "description:")) or body.endswith(":"):
                continue
            assert "#" in line, f"{preset.name}: no reason for {body!r}"


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_planner_on_random_schemes(data):
    """Property, on mcunet-5fps: the planned peak is at least the bytes alive at any op, no two tensors alive
    together overlap, and reordering never raises the bytes alive."""
    n = 42
    depth = data.draw(st.integers(1, 20))
    layers = data.draw(st.lists(st.integers(n - depth, n - 1), unique=True, max_size=6))
    ratios = data.draw(st.lists(st.sampled_from([0.125, 0.25, 0.5, 1.0]), min_size=len(layers),
                                max_size=len(layers)))
    g = zoo.build("mcunet-5fps", 128, 10)
    peaks = []
    for reorder in (False, True):
        tg = training_graph(g, Scheme("r", depth, tuple(layers), tuple(ratios)), reorder=reorder, patches=4)
        plan = plan_arena(lifetimes(tg.tensors, tg.ops), len(tg.ops))
        assert plan.peak >= plan.max_live
        ps = sorted(plan.placements, key=lambda p: p.offset)
        for i, a in enumerate(ps):
            for b in ps[i + 1:]:
                if b.offset >= a.top:
                    break
                assert not a.life.overlaps(b.life) or not (a.life.nbytes and b.life.nbytes), (a, b)
        peaks.append(plan.max_live)
    assert peaks[1] <= peaks[0]


def test_readme_table_is_what_the_api_measures():
    """The README's tiny-engines rows are regenerated numbers (rerun `make tiny-report` after a model change)."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| ") and "kb` |" in line]
    assert len(rows) == 3
    for line in rows:
        cells = [c.strip().strip("`") for c in line.strip("|").split("|")]
        model, scheme = cells[0], cells[1]
        values = [float(c) for c in cells[2:]]
        r, plain = hwsim.tiny(model, scheme), hwsim.tiny(model, scheme, reorder=False)
        full, npu = hwsim.tiny(model, "full", reorder=False), hwsim.tiny(model, scheme, target="npu-256k")
        got = [r.analytic_extra_kb, full.peak_sram_kb, plain.peak_sram_kb, r.peak_sram_kb, r.flash_kb, r.latency_ms,
               npu.latency_ms, r.energy_mj, npu.energy_mj]
        for want, have in zip(values, got):
            assert have == pytest.approx(want, rel=0.01, abs=0.011), (model, values, got)


@pytest.mark.parametrize("model", ["mcunet-5fps", "mbv2-w0.35"])
def test_budget_search_stays_within_and_grows_with_the_budget(model):
    results = [hwsim.tiny(model, budget_kb=kb) for kb in (40, 80, 120)]
    for kb, r in zip((40, 80, 120), results):
        assert r.analytic_extra_kb <= kb and r.scheme == f"budget-{kb}kb"
    params = [r.trained_params for r in results]
    assert params == sorted(params) and params[0] < params[-1]
    # last-1 (weights and bias of the last conv) is one candidate: with room for it, the search does no worse
    last1 = hwsim.tiny(model, "last-1")
    assert hwsim.tiny(model, budget_kb=last1.analytic_extra_kb + 0.01).trained_params >= last1.trained_params


@pytest.mark.parametrize("kwargs, where", [({"budget_kb": 0.01}, "--budget"), ({"budget_kb": -5}, "--budget"),
                                           ({}, "--scheme/--budget"), ({"scheme": "full", "budget_kb": 50},
                                                                       "--scheme/--budget")])
def test_budget_errors(kwargs, where):
    with pytest.raises(HwsimError) as info:
        hwsim.tiny("mcunet-5fps", **kwargs)
    assert info.value.where == where


def test_unfused_casts_option(capsys):
    """`--unfused-casts`: the options say so, the fp32 copies raise the peak, and the step is slower by the cast
    ops' own cycles (4 per element + 400 per call; the Flash reads move from the kernels to the casts)."""
    assert main(["tiny", "--model", "mbv2-w0.35", "--scheme", "99kb", "--unfused-casts", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["options"] == {"patches": 4, "fused_casts": False, "inplace_depthwise": True}
    fused = hwsim.tiny("mbv2-w0.35", "99kb")
    unfused = hwsim.tiny("mbv2-w0.35", "99kb", fused_casts=False)
    assert d["peak_sram_kb"] == pytest.approx(unfused.peak_sram_kb, abs=1e-3)
    assert unfused.peak_sram_kb > fused.peak_sram_kb
    casts = unfused.ops[unfused.ops["kernel"] == "cast"]
    assert len(casts) > 0
    extra = unfused.ops["cycles"].sum() - fused.ops["cycles"].sum()
    want = 4 * sum(op.elems for op in _cast_ops("mbv2-w0.35", "99kb")) + 400 * len(casts)
    assert extra == pytest.approx(want, abs=2 * len(casts))


def _cast_ops(model, scheme):
    tg = training_graph(zoo.build(model, 128, 10), scheme, True, patches=4, fused_casts=False)
    return [op for op in tg.ops if op.kernel == "cast"]
