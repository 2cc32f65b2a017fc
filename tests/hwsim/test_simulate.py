"""simulate(): the numba engine agrees with the reference on real models, and the knobs move time the right way."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hwsim
from hwsim.dataflow.sparsity import NM
from tests.dataflow.test_lowering import conv_stacks


@pytest.fixture(scope="module")
def runs():
    def go(method="dense", nm=None, **kw):
        return hwsim.simulate("resnet9", "sat-vcu1525", method, nm, 8, **kw)
    return go


@pytest.mark.parametrize("method,nm", [("dense", None), ("bdwp", "2:8"), ("srste", "1:8"), ("transposable", "2:4")])
def test_numba_equals_reference_on_a_real_model(method, nm):
    fast = hwsim.simulate("resnet9", "sat-small", method, nm, 2)
    ref = hwsim.simulate("resnet9", "sat-small", method, nm, 2, engine="reference")
    pd.testing.assert_frame_equal(fast.ops, ref.ops)


def test_totals_are_sums_of_ops(runs):
    r = runs("bdwp", "2:8")
    assert r.cycles == r.ops.cycles.sum() == sum(p["cycles"] for p in r.phases.values())
    assert r.energy_j == pytest.approx(sum(r.energy_breakdown.values()))
    assert (r.ops.busy_cycles + r.ops.stall_cycles <= r.ops.end - r.ops.start).all()
    assert r.cycles == r.ops.end.max()


@pytest.mark.parametrize("nm", ["2:4", "2:8", "1:8"])
def test_bdwp_speedup_is_real_but_below_ideal(runs, nm):
    dense, bdwp, srste = runs(), runs("bdwp", nm), runs("srste", nm)
    n = NM.parse(nm)
    ideal = 3 / (1 + 2 * n.keep / n.group)
    assert 1.0 < dense.cycles / srste.cycles < dense.cycles / bdwp.cycles < ideal
    assert bdwp.macs < srste.macs < dense.macs
    gemm = dense.ops.kind == "gemm"
    assert (bdwp.ops[gemm].busy_cycles.values <= dense.ops[gemm].busy_cycles.values).all()


def test_wu_gemms_stay_dense(runs):
    dense, bdwp = runs(), runs("bdwp", "2:8")
    wu = dense.ops.name.str.endswith(".wu")
    assert (dense.ops[wu].macs.values == bdwp.ops[wu].macs.values).all()


def test_pregeneration_hides_selection(runs):
    on, off = runs("bdwp", "2:8"), runs("bdwp", "2:8", pregen=False)
    assert off.ops.select_cycles.sum() > 0 and on.ops.select_cycles.sum() == 0
    assert off.cycles > on.cycles
    ffbp = lambda r: r.ops[(r.ops.kind == "gemm") & (r.ops.phase != "wu")].dram_bytes.sum()  # noqa: E731
    assert ffbp(off) > ffbp(on)  # without pre-generation the dense weights cross the DRAM bus
    assert on.energy_breakdown["select"] > 0 and off.energy_breakdown["select"] > 0


def test_interleave_mapping_saves_fill_and_drain(runs):
    assert runs("bdwp", "2:8", interleave=False, offline=False).cycles > runs("bdwp", "2:8", offline=False).cycles
    busy = lambda r: r.ops[r.ops.kind == "gemm"].busy_cycles.sum()  # noqa: E731
    assert busy(runs("bdwp", "2:8", interleave=False)) > busy(runs("bdwp", "2:8"))


def test_fusion_saves_dram_round_trips(runs):
    assert runs(fuse=False).dram_bytes > runs().dram_bytes


def test_a_bigger_batch_amortizes_the_update():
    small = hwsim.simulate("resnet9", "sat-vcu1525", batch=4, offline=False)  # offline hides updates unevenly
    big = hwsim.simulate("resnet9", "sat-vcu1525", batch=16, offline=False)
    upd = lambda r: r.ops[r.ops.kind == "update"].cycles.sum()  # noqa: E731
    assert upd(small) == upd(big)
    assert 3.0 < big.cycles / small.cycles < 4.0


def test_every_model_in_the_zoo_simulates():
    from hwsim.models import zoo

    for name in zoo.names():
        r = hwsim.simulate(name, "sat-vcu1525", "bdwp", "2:8", 1)
        assert r.cycles > 0 and np.isfinite(r.energy_j), name


def test_json_round_trip(runs, tmp_path):
    import json

    r = runs("bdwp", "2:8")
    data = json.loads(r.to_json())
    assert data["cycles"] == r.cycles and len(data["layers"]) == len(r.ops)
    r.to_csv(tmp_path / "x.csv")
    assert len(pd.read_csv(tmp_path / "x.csv")) == len(r.ops)


@pytest.mark.parametrize("path", sorted((Path(__file__).resolve().parents[2] / "models" / "examples").glob("*.yaml")))
def test_example_model_files_simulate(path):
    dense = hwsim.simulate(str(path), "sat-vcu1525", batch=4)
    bdwp = hwsim.simulate(str(path), "sat-vcu1525", "bdwp", "2:8", batch=4)
    assert dense.cycles > bdwp.cycles > 0
    assert (bdwp.ops.nm == "2:8").any()


def test_a_block_cut_from_a_network_gets_its_input_gradient():
    r = hwsim.simulate("bert-base-layer", "sat-vcu1525", "bdwp", "2:8", batch=2)
    names = set(r.ops.name)
    assert "attention.qkv.bp" in names  # the block's first layer passes dX on to the layer before
    assert r.ops.set_index("name").loc["attention.qkv.ff", "nm"] == "2:8"  # not a data-reading first layer


@settings(max_examples=25, deadline=None)
@given(conv_stacks(), st.sampled_from([("dense", None), ("bdwp", "2:4"), ("srste", "1:8")]), st.booleans())
def test_random_graphs_simulate_on_the_small_preset(graph, run, pregen):
    fast = hwsim.simulate(graph, "sat-small", *run, batch=2, pregen=pregen)
    ref = hwsim.simulate(graph, "sat-small", *run, batch=2, pregen=pregen, engine="reference")
    pd.testing.assert_frame_equal(fast.ops, ref.ops)
    assert (fast.ops.end - fast.ops.start >= fast.ops.busy_cycles).all() and fast.cycles > 0
    assert fast.cycles == fast.ops.end.max() and (fast.ops.cycles >= 0).all()


def test_simulate_json_does_not_import_pandas_or_matplotlib():
    """The CLI's JSON path needs neither (import time counts toward `hwsim simulate --json` taking <= 1 s)."""
    import subprocess
    import sys

    code = ("import sys, io, contextlib\nfrom hwsim.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    assert main(['simulate', '--model', 'resnet9', '--batch', '2', '--json']) == 0\n"
            "assert 'pandas' not in sys.modules and 'matplotlib' not in sys.modules, "
            "[m for m in ('pandas', 'matplotlib') if m in sys.modules]\n")
    subprocess.run([sys.executable, "-c", code], check=True)
