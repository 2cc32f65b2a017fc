"""Resource estimate: hand-worked counts for the presets, the board check, and static power that follows the config."""
import math
from pathlib import Path

import pytest

from hwsim.config import load_arch
from hwsim.simulation import simulate
from hwsim.errors import HwsimError


def test_sat_small_by_hand():
    r = load_arch("sat-small").resources
    # 4x4 PEs x 2 FP16 multipliers, one DSP each = 32 DSPs, + 4 vector lanes x 3 DSPs
    assert r.dsp == 32 + 12
    # PE: 2 x (45.06 int16 datapath + 40 FP align (board assumption) + 8:1 mux: 2 levels x 16 bits x 1.56) + 80.7 per
    # PE = 350.66; x16 + 95.75 controller; vector 4 x 300; selector 4 lanes x 4 compare slots x 20 + 4 x log2(8)
    lut_array = 5707  # ceil(16 * 350.66 + 95.75)
    assert r.lut == lut_array + 1200 + (4 * 4 * 20 + 4 * 3)
    # register bits at 2:8 (k step 8, weight lane 16 + 3 index bits): per multiplier operands 32 + product 32 +
    # stationary weight 19 = 83, per PE 2 x 83 + accumulator 32 + flags 4 = 202, x 16 PEs = 3,232; forwarded
    # activations 4 rows x 3 x 8 x 16 = 1,536 and weights 3 x 4 columns x 2 x 19 = 456; skew 6 x 8 x 16 = 768 and
    # 6 x (2 x 19 + 32) = 420; the A buffer (64 words of 512 bits: LUT RAM) output register 512; output beat 4 x 32 + 2
    regs = 3232 + 1536 + 456 + 768 + 420 + 512 + 130
    # then 29.6 for the controller, and 1.2 per LUT outside the array
    assert r.ff == math.ceil(regs + 29.6) + math.ceil(1.2 * (1200 + 332))
    # 8 + 8 + 4 KiB in 4 KiB block RAMs (the Artix-7 has no UltraRAM)
    assert (r.bram, r.uram) == (2 + 2 + 1, 0)
    assert r.fits


def test_paper_preset_fits_its_board():
    """The design point (floating point accumulated in DSP post-adders, LUT_FP_ALIGN_PER_MULT) fits; the fp16 core
    `hwsim rtl` generates does not (core_board_fit, tests/rtl/test_cli_rtl.py)."""
    r = load_arch("sat-vcu1525").resources
    assert r.dsp == 4096 + 256 * 3
    assert (r.bram, r.uram) == (0, 4096 // 32 + 2048 // 32 + 2048 // 32)
    assert r.fits and 0.5 < r.utilization["dsp"] < 0.8


def test_over_budget_is_flagged_and_refused_when_strict():
    big = load_arch("sat-vcu1525", ["array.rows=128", "array.cols=128"])
    assert not big.resources.fits and big.resources.over[0] == f"dsp {128 * 128 * 4 + 256 * 3:,}/6,840"
    res = simulate("resnet9", big, batch=2)
    assert res.resources["fits_board"] is False and res.to_dict()["resources"]["dsp"] > 6840
    with pytest.raises(HwsimError, match=r"needs dsp 66,304/6,840, lut .* on VCU1525 \(XCVU9P\)"):
        simulate("resnet9", big, batch=2, strict_budget=True)


def test_static_power_follows_the_configuration():
    small = load_arch("sat-vcu1525", ["array.rows=16", "array.cols=16"])
    big = load_arch("sat-vcu1525", ["array.rows=64", "array.cols=64"])
    base = load_arch("sat-vcu1525")
    assert small.static_w < base.static_w < big.static_w
    # leakage plus the clock tree: FFs x fJ x Hz
    assert base.static_w == pytest.approx(3.0 + base.resources.ff * 5e-15 * 200e6)
    # and the static energy is that power for the run's duration
    res = simulate("resnet9", base, batch=2)
    assert res.energy_breakdown["static"] == pytest.approx(base.static_w * res.seconds)


def test_baseline_dense_gives_speedup_and_saving():
    res = simulate("resnet9", "sat-small", "bdwp", "2:8", batch=2, baseline="dense")
    dense = simulate("resnet9", "sat-small", batch=2)
    assert res.speedup == pytest.approx(dense.cycles / res.cycles)
    assert res.energy_saving == pytest.approx(1 - res.energy_j / dense.energy_j)
    assert res.to_dict()["baseline"]["cycles"] == dense.cycles
    assert simulate("resnet9", "sat-small", batch=2, baseline="dense").speedup == 1.0
    with pytest.raises(HwsimError, match="baseline: 'sparse'"):
        simulate("resnet9", "sat-small", batch=2, baseline="sparse")


SYNTH_CSV = Path(__file__).resolve().parents[2] / "reports" / "rtl" / "resources.csv"


def _estimate_vs_synthesis():
    import pandas as pd

    from hwsim.resources import core_estimate

    synth = pd.read_csv(SYNTH_CSV)
    for _, r in synth.iterrows():
        cfg = load_arch("sat-small", {"array.rows": int(r.rows), "array.cols": int(r.cols),
                                      "array.mults_per_pe": int(r.mults_per_pe),
                                      "precision.operand_bytes": int(r.width) // 8,
                                      "precision.operand_type": "float" if r["dtype"] == "fp16" else "int"})
        est = core_estimate(cfg, r.nm)
        yield r, {"LUT": est["LUT_est"] / r.LUT_logic, "FF": est["FF_est"] / r.FF, "DSP": est["DSP_est"] / r.DSP}


def test_core_estimate_is_calibrated_on_synthesis():
    """Against the committed Yosys synth_xilinx -family xcup of the generated RTL (reports/rtl/resources.csv, logic
    LUTs): int8, int16 and fp16 with 2, 4 and 8 multipliers per PE within 15%, DSPs exact, and so the rows held out
    of the fit (hwsim.resources.HELD_OUT: other array sizes, fp16 with 4 multipliers, dense with 4)."""
    import pandas as pd

    from hwsim.resources import HELD_OUT, held_out

    synth = pd.read_csv(SYNTH_CSV)
    assert set(synth.dtype) == {"int8", "int16", "fp16"} and set(synth.mults_per_pe) == {2, 4, 8}
    held = synth[[held_out(r) for r in synth.itertuples(index=False)]]
    assert len(held) == len(HELD_OUT) and set(held.dtype) == {"int8", "int16", "fp16"}
    assert set(held.PEs) == {1, 4, 9} and "dense" in set(held.nm)
    for r, ratio in _estimate_vs_synthesis():
        assert ratio["DSP"] == 1, r.config
        for kind in ("LUT", "FF"):
            assert abs(ratio[kind] - 1) < 0.15, (r.config, r.nm, kind, ratio[kind])
