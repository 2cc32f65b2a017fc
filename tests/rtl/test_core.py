"""sat_core under cocotb/Icarus vs hwsim.functional (bits) and dataflow.tiling.tile_compute_cycles (cycles).

Matrix: arrays 2x2 and 4x4 x N:M {1:4, 2:4, 2:8, dense} x {int8, int16}, plus 8x8 2:8 int16; every run mixes
OS and WS tiles. Tiles per configuration: HWSIM_RTL_TILES (default 20; `make rtl-long` runs 10,000).
WS tiles stream at least `rows` rows of A: below that the simulator charges max(m, rows) for the next block's
weight preload (interleave), a throughput bound a single tile's latency does not show.
"""
import os

import pytest

from hwsim.rtl.params import CoreParams
from tests.rtl.conftest import needs_iverilog, run_cocotb, small_config, verilog_file

NMS = ("1:4", "2:4", "2:8", "dense")
MATRIX = [(r, w, nm) for r in (2, 4) for w in (8, 16) for nm in NMS] + [(8, 16, "2:8")]
DEPTHS = [(2, "2:4"), (5, "1:4"), (2, "dense")]  # PE pipeline depths other than sat-small's 3


def bench_config(cfg, nm: str, max_steps: int = 12) -> dict:
    """What the bench needs: the RTL layout (from CoreParams) and the simulator's k step and fill."""
    p = CoreParams.from_config(cfg, nm)
    target = cfg.target
    from hwsim.dataflow.sparsity import NM

    ks = target.k_step(None if nm == "dense" else NM.parse(nm))
    return {"rows": p.rows, "cols": p.cols, "mults": p.mults, "keep": p.keep, "group": p.group, "dense": p.dense,
            "width": p.width, "idx_width": p.idx_width, "a_depth": p.a_depth, "k_step": ks,
            "fill_cycles": cfg.fill_cycles, "modes": ["os", "ws"], "max_steps": max_steps}


@needs_iverilog
@pytest.mark.parametrize("rows,width,nm", MATRIX, ids=[f"{r}x{r}-int{w}-{nm}" for r, w, nm in MATRIX])
def test_core_matches_functional_and_timing(rows, width, nm, tmp_path):
    cfg = small_config(rows, rows, width)
    vfile = verilog_file("core", cfg, nm)
    seed = int(os.environ.get("HWSIM_RTL_SEED", "12345"))
    run_cocotb(vfile, "sat_core", "tb_core", bench_config(cfg, nm), tmp_path / "build", seed=seed)


@needs_iverilog
@pytest.mark.parametrize("depth,nm", DEPTHS, ids=[f"depth{d}-{nm}" for d, nm in DEPTHS])
def test_core_timing_follows_the_configured_pipeline_depth(depth, nm, tmp_path):
    cfg = small_config(2, 3, 16, depth=depth)  # also a non-square array
    seed = int(os.environ.get("HWSIM_RTL_SEED", "12345"))
    run_cocotb(verilog_file("core", cfg, nm), "sat_core", "tb_core", bench_config(cfg, nm), tmp_path / "build",
               seed=seed)


SELECTOR_MATRIX = [(w, nm) for w in (8, 16) for nm in ("1:4", "2:4", "2:8", "3:8")]


@needs_iverilog
@pytest.mark.parametrize("width,nm", SELECTOR_MATRIX, ids=[f"int{w}-{nm}" for w, nm in SELECTOR_MATRIX])
def test_selector_matches_functional_mask_and_timing(width, nm, tmp_path):
    cfg = small_config(4, 4, width, mults=6 if nm == "3:8" else 2)
    p = CoreParams.from_config(cfg, nm)
    bench = {"lanes": cfg.selector.lanes, "keep": p.keep, "group": p.group, "width": p.width,
             "idx_width": p.idx_width, "select_latency": cfg.selector.latency}
    seed = int(os.environ.get("HWSIM_RTL_SEED", "12345"))
    run_cocotb(verilog_file("selector", cfg, nm), "sat_selector", "tb_selector", bench, tmp_path / "build", seed=seed)


DIRECTED = [(4, 16, "2:8"), (4, 8, "dense")]


@needs_iverilog
@pytest.mark.parametrize("rows,width,nm", DIRECTED, ids=[f"{r}x{r}-int{w}-{nm}" for r, w, nm in DIRECTED])
def test_core_host_protocol_corners(rows, width, nm, tmp_path):
    """busy covers a held-back beat, count 0 is refused, full-depth tiles (tb_core_directed.py)."""
    cfg = small_config(rows, rows, width)
    seed = int(os.environ.get("HWSIM_RTL_SEED", "12345"))
    run_cocotb(verilog_file("core", cfg, nm), "sat_core", "tb_core_directed", bench_config(cfg, nm),
               tmp_path / "build", seed=seed)
