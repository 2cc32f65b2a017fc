"""Components alone, in Amaranth's own simulator (no Icarus): the N:M PE in OS and WS against
hwsim.functional, one selector lane against nm_mask with ties, and the latencies the design reports against the
simulator's config and timing function."""
import numpy as np
import pytest
from amaranth.sim import Simulator

from hwsim import functional as F
from hwsim.dataflow.sparsity import NM
from hwsim.dataflow.tiling import tile_compute_cycles
from hwsim.errors import ConfigError
from hwsim.rtl.core import SATCore
from hwsim.rtl.params import CoreParams
from hwsim.rtl.pe import SparsePE
from hwsim.rtl.selector import SelectorLane
from tests.rtl.conftest import small_config


def _pack(items, bits):
    word = 0
    for i, v in enumerate(items):
        word |= (int(v) & ((1 << bits) - 1)) << (i * bits)
    return word


@pytest.mark.parametrize("nm,width,depth", [("2:4", 8, 3), ("1:4", 16, 2), ("dense", 8, 4)])
def test_pe_accumulates_what_the_functional_model_computes(nm, width, depth):
    """OS: S steps of one output; the PE's acc after its latency equals sparse_gemm of a 1 x k by k x 1 tile."""
    cfg = small_config(2, 2, width, depth=depth)
    p = CoreParams.from_config(cfg, nm)
    pe = SparsePE(p, top_row=True)
    rng = np.random.default_rng(7)
    steps = 5
    k = steps * p.k_step
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    a = rng.choice([lo, hi, -1, 3], size=(1, k)).astype(np.int64)
    dtype = np.int8 if width == 8 else np.int16
    if p.dense:
        vals, idx = rng.choice([lo, hi, 5], size=(k, 1)), np.zeros((k, 1), dtype=np.int64)
        want = F.dense_gemm(a.astype(dtype), vals.astype(dtype))
    else:
        vals, idx = F.compress(rng.integers(lo, hi + 1, size=(k, 1)).astype(dtype), p.keep, p.group, axis=0)
        want = F.sparse_gemm(a.astype(dtype), vals, idx, p.keep, p.group)
    got = []

    async def bench(ctx):
        for s in range(steps):
            ctx.set(pe.a_in, _pack(a[0, s * p.k_step:(s + 1) * p.k_step], width))
            lanes = [(int(vals[s * p.mults + l, 0]) & ((1 << width) - 1)) | (int(idx[s * p.mults + l, 0]) << width)
                     for l in range(p.mults)]
            ctx.set(pe.b_in, _pack(lanes, p.b_lane_width))
            ctx.set(pe.ctl_in, 1 | ((s == 0) << 1))
            await ctx.tick()
        ctx.set(pe.ctl_in, 0)
        for _ in range(pe.latency - 1):
            await ctx.tick()
        got.append(ctx.get(pe.acc))

    sim = Simulator(pe)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert got == [int(want[0, 0])]


def test_selector_lane_breaks_ties_like_nm_mask():
    lane = SelectorLane(2, 4, 8)
    groups = np.array([[5, -5, 5, 1], [-128, 127, -127, 127], [0, 0, 0, 0], [1, 2, 2, 1], [-3, 3, 4, -4]], np.int8)
    want_v, want_i = F.compress(groups, 2, 4, axis=1)
    seen = []

    async def bench(ctx):
        for g in groups:
            for x in g:
                ctx.set(lane.in_valid, 1)
                ctx.set(lane.in_data, int(x))
                await ctx.tick()
                if ctx.get(lane.out_valid):
                    seen.append((ctx.get(lane.out_values), ctx.get(lane.out_idx)))
        ctx.set(lane.in_valid, 0)
        for _ in range(lane.latency + 1):
            await ctx.tick()
            if ctx.get(lane.out_valid):
                seen.append((ctx.get(lane.out_values), ctx.get(lane.out_idx)))

    sim = Simulator(lane)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert len(seen) == len(groups)
    for (v, i), ev, ei in zip(seen, want_v, want_i):
        vals = [((v >> (8 * j)) & 0xFF) - (256 if (v >> (8 * j)) & 0x80 else 0) for j in range(2)]
        assert (vals, [(i >> (2 * j)) & 3 for j in range(2)]) == (list(ev), list(ei))


@pytest.mark.parametrize("arch_kw,nm", [({"rows": 4}, "2:8"), ({"rows": 3, "depth": 6}, "1:4"),
                                         ({"rows": 8, "width": 8}, "dense")])
def test_design_latencies_are_the_simulators(arch_kw, nm):
    rows = arch_kw["rows"]
    cfg = small_config(rows, rows, arch_kw.get("width", 16), depth=arch_kw.get("depth"))
    core = SATCore(CoreParams.from_config(cfg, nm))
    core._MustUse__silence = core.array._MustUse__silence = True
    ks = cfg.target.k_step(None if nm == "dense" else NM.parse(nm))
    assert core.array.latency == cfg.array.pipeline_depth
    assert core.fill_cycles == cfg.fill_cycles
    for steps in (1, 7):
        assert core.tile_cycles("os", steps) == tile_compute_cycles("os", rows, steps * ks, rows, rows, rows, ks,
                                                                    cfg.fill_cycles)
    assert core.tile_cycles("ws", rows + 2) == tile_compute_cycles("ws", rows + 2, rows * ks, rows, rows, rows, ks,
                                                                   cfg.fill_cycles)


@pytest.mark.parametrize("field,value,needle", [("pipeline_depth", 1, "array.pipeline_depth: 1"),
                                                ("operand_bytes", 4, "precision.operand_bytes: 4")])
def test_unbuildable_configs_name_the_field(field, value, needle):
    data = small_config(2, 2, 16).model_dump()
    if field == "pipeline_depth":
        data["array"]["pipeline_depth"] = value
    else:
        data["precision"]["operand_bytes"] = value
    from hwsim.config import SATConfig

    with pytest.raises(ConfigError, match=needle):
        CoreParams.from_config(SATConfig.model_validate(data), "2:8")
