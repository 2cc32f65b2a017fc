"""reports/tiny: the committed sensitivity and calibration tables are what the code produces today, and the
sensitivity rows change the one choice they name."""
from pathlib import Path

import pandas as pd
import pytest

import hwsim
from hwsim.studies.tiny import calibration, sensitivity

REPORT = Path(__file__).resolve().parents[3] / "reports" / "tiny"


@pytest.fixture(scope="module")
def sens():
    return sensitivity()


def test_committed_sensitivity_table_is_current(sens):
    committed = pd.read_csv(REPORT / "sensitivity.csv")
    assert list(committed.columns) == list(sens.columns)
    pd.testing.assert_frame_equal(committed, sens, check_dtype=False)


def test_committed_calibration_table_is_current():
    committed = pd.read_csv(REPORT / "calibration.csv")
    pd.testing.assert_frame_equal(committed, calibration(), check_dtype=False)


def test_sensitivity_rows_change_one_choice(sens):
    for model, rows in sens.groupby("model"):
        rows = rows.set_index("option")
        default = rows.loc["default (4x4 patches, fused casts, reorder)"]
        r = hwsim.tiny(model, {"mcunet-5fps": "99kb", "mbv2-w0.35": "99kb", "proxyless-w0.3": "98kb"}[model])
        assert default["peak_sram_kb"] == round(r.peak_sram_kb, 1) and default["latency_ms"] == round(r.latency_ms, 1)
        assert rows.loc["un-fused casts", "peak_sram_kb"] > default["peak_sram_kb"]
        assert rows.loc["no reorder", "latency_ms"] == default["latency_ms"]  # reordering moves memory only
        assert rows.loc["no patches (1x1)", "latency_ms"] < default["latency_ms"]  # no halo recompute
        assert rows.loc["no patches (1x1)", "peak_op"].endswith(".fwd")
        assert rows.loc["int8 gradients (precision.grad 1)", "latency_ms"] < default["latency_ms"]
