"""SCALE-Sim parity: the scalesim-<df>-RxC presets give SCALE-Sim 3.0.0's dense compute cycles per layer.

The golden cycles below were produced by SCALE-Sim 3.0.0 itself (bench/scalesim_driver.py, CALC bandwidth,
64 MiB SRAMs) on an 8-row, 4-column array; SCALE-Sim counts one cycle less per layer than hwsim's busy cycles.
The live test runs SCALE-Sim side by side when its virtualenv exists (`make parity` makes it).
"""
import subprocess
import sys
from pathlib import Path

import pytest

import hwsim
from hwsim.config import load_arch
from hwsim.errors import HwsimError
from hwsim.models.scalesim import parse

GEMMS = """Layer, M, N, K,
g1, 20, 6, 10,
g2, 5, 3, 17,
g3, 16, 8, 8,
"""
SCALESIM_8X4 = {"os": [119, 26, 71], "ws": [151, 68, 67], "is": [239, 125, 103]}


@pytest.mark.parametrize("dataflow", ["os", "ws", "is"])
def test_cycles_equal_scalesim_on_hand_picked_gemms(dataflow):
    r = hwsim.simulate(parse(GEMMS).graph, f"scalesim-{dataflow}-8x4", phases="ff", batch=1)
    assert list(r.ops.dataflow) == [dataflow] * 3
    assert [c - 1 for c in r.ops.busy_cycles] == SCALESIM_8X4[dataflow]


def test_os_fold_formula_by_hand():
    # g1 on 8 x 4: ceil(20/8) x ceil(6/4) = 6 folds of K + rows + cols - 2 = 10 + 8 + 4 - 2 = 20 cycles
    assert 6 * 20 - 1 == SCALESIM_8X4["os"][0]


def test_presets_for_any_rows_and_columns():
    cfg = load_arch("scalesim-ws-7x3")
    assert (cfg.array.rows, cfg.array.cols, cfg.array.mults_per_pe) == (7, 3, 1)
    assert cfg.mapping.dataflows == ("ws",) and not cfg.mapping.interleave and cfg.fill_cycles == 7 + 3 - 2
    assert cfg.name == "scalesim-ws-7x3"
    with pytest.raises(HwsimError, match=r"scalesim-os-0x4 \(expected 1 to 4096 rows and columns\)"):
        load_arch("scalesim-os-0x4")
    with pytest.raises(HwsimError, match="unknown preset 'scalesim-xs-4x4'"):
        load_arch("scalesim-xs-4x4")


def test_a_scalesim_preset_keeps_its_dataflow():
    with pytest.raises(HwsimError, match=r"dataflow: 'ws' \(expected one of: os\)"):
        hwsim.simulate(parse(GEMMS).graph, "scalesim-os-8x4", phases="ff", batch=1, dataflow="ws")
    r = hwsim.simulate(parse(GEMMS).graph, "scalesim-os-8x4", phases="ff", batch=1)
    assert r.options["interleave"] is False  # SCALE-Sim has no interleave mapping


ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
from parity import run_hwsim, run_scalesim, scalesim_python  # noqa: E402

PYTHON = scalesim_python()


@pytest.mark.skipif(PYTHON is None, reason="SCALE-Sim 3.0.0 is not installed (`make parity` installs it in "
                                           ".venv-parity, or set HWSIM_SCALESIM_PYTHON)")
@pytest.mark.parametrize("dataflow", ["os", "ws"])
def test_side_by_side_with_scalesim(tmp_path, dataflow):
    conv = tmp_path / "conv.csv"
    conv.write_text("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, "
                    "Strides,\nc1, 18, 18, 3, 3, 3, 16, 1,\nc2, 16, 16, 3, 3, 16, 24, 2,\nfc, 1, 1, 1, 1, 40, 10, 1,\n")
    gemm = tmp_path / "gemm.csv"
    gemm.write_text("Layer, M, N, K,\nq, 33, 70, 19,\nr, 64, 64, 64,\n")
    for topo, form in ((conv, "conv"), (gemm, "gemm")):
        theirs = run_scalesim(PYTHON, topo, form, dataflow, 8, 4, tmp_path / f"{form}-{dataflow}")
        _, ours, _ = run_hwsim(topo, dataflow, 8, 4)
        assert ours == theirs["cycles"], form


def test_parity_script_says_why_it_cannot_run_without_scalesim():
    env = {"HWSIM_SCALESIM_PYTHON": "/nonexistent/python", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "parity.py")], capture_output=True, text=True,
                          env=env)
    assert proc.returncode == 1 and "SCALE-Sim is not installed" in proc.stdout


SPARSE = "Layer, M, N, K,\ng1, 20, 6, 16, 1:4,\ng2, 5, 3, 32, 1:4,\ng4, 33, 12, 40, 1:8,\n"
SCALESIM_SPARSE_WS_8X4 = [75, 22, 152]  # SCALE-Sim 3.0.0 sparse mode (ellpack_block), WS, 8 x 4


def test_n_m_cycles_equal_scalesim_sparse_mode(tmp_path):
    """SCALE-Sim's sparse WS folds the compressed filter, K x N / M rows: hwsim's N:M k step does the same."""
    path = tmp_path / "s.csv"
    path.write_text(SPARSE)
    r = hwsim.simulate(str(path), "scalesim-ws-8x4", "srste", "1:4", 1, phases="ff")
    assert list(r.ops.nm) == ["1:4", "1:4", "1:8"]
    assert [c - 1 for c in r.ops.busy_cycles] == SCALESIM_SPARSE_WS_8X4
    # g1 by hand: 16 x 1/4 = 4 compressed rows: 1 row fold x ceil(6 / 4) = 2 folds of 20 + 2 x 8 + 4 - 2 = 38
    assert 2 * 38 - 1 == SCALESIM_SPARSE_WS_8X4[0]


@pytest.mark.skipif(PYTHON is None, reason="SCALE-Sim 3.0.0 is not installed (`make parity` installs it in "
                                           ".venv-parity, or set HWSIM_SCALESIM_PYTHON)")
def test_side_by_side_with_scalesim_sparse_mode(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("Layer, M, N, K,\na, 40, 9, 64, 1:4,\nb, 17, 20, 24, 1:8,\n")
    theirs = run_scalesim(PYTHON, path, "gemm", "ws", 8, 4, tmp_path / "sparse", sparse=True)
    _, ours, _ = run_hwsim(path, "ws", 8, 4, sparse=True)
    assert ours == theirs["cycles"]
