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
    # PE: 2 x (70.44 int16 datapath + 40 FP align (board assumption) + 8:1 mux: 2 levels x 16 bits x 1.8) = 336.08;
    # x16 + 202.46 controller; vector 4 x 300; selector 4 lanes x 4 compare slots x 20 + 4 x log2(8)
    lut_array = 5580  # ceil(16 * 336.08 + 202.46)
    assert r.lut == lut_array + 1200 + (4 * 4 * 20 + 4 * 3)
    # registers: 32 fp16 multipliers x 96.53 + forwarded activations 16 PEs x k step 8 (2:8) x 16 bits x 0.92
    # + skew (6 x 8 x 16 + 6 x (2 x (16 + 3) + 32) bit-cycles) x 0.94 + 1.51, then 1.2 per LUT outside the array
    core = 32 * 96.53 + 16 * 8 * 16 * 0.92 + (6 * 8 * 16 + 6 * (2 * 19 + 32)) * 0.94 + 1.51
    assert r.ff == math.ceil(core) + math.ceil(1.2 * (1200 + 332))
    # 8 + 8 + 4 KiB in 4 KiB block RAMs (the Artix-7 has no UltraRAM)
    assert (r.bram, r.uram) == (2 + 2 + 1, 0)
    assert r.fits


def test_paper_preset_fits_its_board():
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
# Held-out rows the rules miss by more than 15% (see test_known_misses): an int16 core with 4 multipliers per PE has
# 29% fewer logic LUTs than the fit's 2- and 8-multiplier rows imply (the LUT cost per multiplier grows faster than
# linearly between 4 and 8, which no structural term tried explains), and a 1x1 fp16 core has none of the edge
# registers the fitted per-multiplier FF constant carries from 2x2 arrays.
KNOWN_MISSES = {("sat-small 2x2 m4 int16", "LUT"), ("sat-small 1x1 m4 fp16", "FF")}


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
    LUTs): int8, int16 and fp16 with 2, 4 and 8 multipliers per PE within 15%, DSPs exact; the 4-multiplier rows
    (HELD_OUT_MULTS) were not used to fit the constants."""
    import pandas as pd

    from hwsim.resources import HELD_OUT_MULTS

    synth = pd.read_csv(SYNTH_CSV)
    assert set(synth.dtype) == {"int8", "int16", "fp16"} and set(synth.mults_per_pe) >= {2, 4}
    assert set(synth[synth.mults_per_pe == HELD_OUT_MULTS].dtype) == {"int8", "int16", "fp16"}
    for r, ratio in _estimate_vs_synthesis():
        assert ratio["DSP"] == 1, r.config
        for kind in ("LUT", "FF"):
            if (r.config, kind) not in KNOWN_MISSES:
                assert abs(ratio[kind] - 1) < 0.15, (r.config, r.nm, kind, ratio[kind])


@pytest.mark.xfail(strict=True, reason="held-out rows the linear rules miss (KNOWN_MISSES): LUT 1.40x for the 2x2 "
                                       "int16 core with 4 multipliers, FF 1.41x for the 1x1 fp16 core")
def test_known_misses():
    misses = [(r.config, kind, round(ratio[kind], 2)) for r, ratio in _estimate_vs_synthesis()
              for kind in ("LUT", "FF") if (r.config, kind) in KNOWN_MISSES]
    assert len(misses) == len(KNOWN_MISSES)
    assert all(abs(x - 1) < 0.15 for _, _, x in misses), misses
