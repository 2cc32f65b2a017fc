"""Batch > 1 by gradient accumulation and momentum buffers (hwsim.dataflow.tiny.optimizer), and their memory
and per-image latency through hwsim.tiny."""
from pathlib import Path

import pytest

import hwsim
from hwsim.dataflow.tiny import training_graph
from hwsim.dataflow.tiny.optimizer import calls_per_step, with_optimizer
from hwsim.models import load

DIGITS = str(Path(__file__).resolve().parents[2] / "models/examples/digits-cnn.yaml")


def test_defaults_leave_the_graph_alone():
    tg = training_graph(load(DIGITS), "full")
    assert with_optimizer(tg) is tg
    a, b = hwsim.tiny("mcunet-5fps", "mcunet-5fps:99kb"), hwsim.tiny("mcunet-5fps", "mcunet-5fps:99kb", batch=1)
    assert (a.peak_sram_kb, a.latency_ms, a.reorder, b.optimizer_state_kb) == (b.peak_sram_kb, b.latency_ms, True, 0)


def test_momentum_keeps_one_fp32_velocity_per_trained_parameter():
    """digits-cnn, full update: conv1 8x1x3x3 + 8, conv2 16x8x3x3 + 16, conv3 16x16x3x3 + 16, fc 256x10 + 10
    = 80 + 1168 + 2320 + 2570 = 6138 parameters -> 24,552 bytes of fp32 velocity."""
    tg = with_optimizer(training_graph(load(DIGITS), "full"), momentum=True)
    moms = [t for t in tg.tensors if t.kind == "optim"]
    assert sum(t.nbytes for t in moms) == 6138 * 4 and all(t.persistent for t in moms)
    plain = training_graph(load(DIGITS), "full")
    for a, b in zip(plain.ops, tg.ops):
        if a.phase == "update":
            assert b.elems == 2 * a.elems and f"{a.writes[0]}.mom" in b.reads and f"{a.writes[0]}.mom" in b.writes
        else:
            assert a == b
    r = hwsim.tiny(DIGITS, "full", momentum=True)
    assert r.optimizer_state_kb == pytest.approx(6138 * 4 / 1024)
    assert r.peak_sram_kb >= hwsim.tiny(DIGITS, "full").max_live_kb + 6138 * 4 / 1024 - 1e-9


def test_batch_accumulates_into_persistent_gradients():
    g = load(DIGITS)
    with pytest.raises(ValueError, match="reorder=False"):
        with_optimizer(training_graph(g, "full", reorder=True), batch=4)
    plain = training_graph(g, "full", reorder=False)
    tg = with_optimizer(plain, batch=4)
    wgrads = [t for t in tg.tensors if t.kind == "wgrad"]
    assert wgrads and all(t.persistent for t in wgrads)
    for op in tg.ops:
        if op.phase == "backward":
            assert all(w in op.reads for w in op.writes if w in {t.name for t in wgrads})
    assert calls_per_step(tg, 4) == tuple(1 if op.phase == "update" else 4 for op in tg.ops)


def test_batch_latency_is_per_image_with_the_update_shared():
    """Same kernels as the non-reordered step; the update runs once per 4 images:
    latency(batch 4) = latency(no reorder) - 3/4 x update time."""
    plain = hwsim.tiny("mcunet-5fps", "mcunet-5fps:99kb", reorder=False)
    b4 = hwsim.tiny("mcunet-5fps", "mcunet-5fps:99kb", batch=4)
    update_ms = plain.ops.loc[plain.ops["phase"] == "update", "seconds"].sum() * 1e3
    assert update_ms > 0 and not b4.reorder and b4.batch == 4
    assert b4.latency_ms == pytest.approx(plain.latency_ms - 0.75 * update_ms)
    wgrad_kb = plain.tensors.loc[plain.tensors["kind"] == "wgrad", "bytes"].sum() / 1024
    assert b4.optimizer_state_kb == pytest.approx(wgrad_kb)
    assert b4.max_live_kb >= wgrad_kb + plain.tensors.loc[plain.tensors["kind"] == "param", "bytes"].sum() / 1024
    assert b4.analytic_extra_kb == plain.analytic_extra_kb  # the paper's axis does not see the optimizer


@pytest.mark.parametrize("kw,error,match", [({"batch": 0}, ValueError, "batch"),
                                            ({"batch": True}, TypeError, "batch"),  # a wrong type names it
                                            ({"momentum": "yes"}, TypeError, "momentum")])
def test_bad_options(kw, error, match):
    with pytest.raises(error, match=match):
        hwsim.tiny(DIGITS, "full", **kw)


def test_docs_table_is_what_the_api_measures():
    """docs/tiny.md, "Batch > 1 and momentum": every row re-measured."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "tiny.md").read_text()
    rows = [line for line in text.split("## Batch > 1 and momentum")[1].split("\n## ")[0].splitlines()
            if line.startswith("| ") and not line.startswith("| options")]
    assert len(rows) == 5
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        flags = cells[0].strip("`").split() if cells[0] != "(defaults)" else []
        kw = {"reorder": "--no-reorder" not in flags, "momentum": "--momentum" in flags,
              "batch": int(flags[flags.index("--batch") + 1]) if "--batch" in flags else 1}
        r = hwsim.tiny("mcunet-5fps", "mcunet-5fps:99kb", **kw)
        assert (round(r.peak_sram_kb, 1), round(r.optimizer_state_kb, 1), "yes" if r.fits else "no") == \
            (float(cells[1]), float(cells[2]), cells[3]), row


def test_text_summary_names_the_options():
    text = hwsim.tiny(DIGITS, "full", batch=4, momentum=True).summary()
    assert "batch 4 (gradient accumulation), momentum" in text
    assert "optimizer" not in hwsim.tiny(DIGITS, "full").summary()
