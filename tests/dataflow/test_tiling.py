"""Tiling: closed-form candidate costs equal the tile-by-tile expansion; tiles respect the buffers."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwsim.dataflow.ops import GemmOp, Phase
from hwsim.dataflow.sparsity import NM
from hwsim.dataflow.target import ArrayTarget
from hwsim.dataflow.tiling import (MAX_TILES, Mapping, MappingError, ScheduleTooLarge, candidates, gemm_tiles, map_gemm,
                             vector_tiles)
from hwsim.dataflow.ops import VectorOp


def target(rows=4, cols=4, mults=2, kib=(8, 8, 4), interleave=True):
    return ArrayTarget(rows, cols, mults, kib[0] * 1024, kib[1] * 1024, kib[2] * 1024, 2, 4, rows + cols + 3,
                       4, 4, 4, interleave)


@st.composite
def gemm_cases(draw):
    nm = draw(st.sampled_from([None, NM(2, 4), NM(2, 8), NM(1, 8)]))
    quantum = nm.group if nm else 1
    op = GemmOp("g", "g", Phase.FF, draw(st.integers(1, 300)), quantum * draw(st.integers(1, 40)),
                draw(st.integers(1, 70)), draw(st.integers(1, 3)), nm, draw(st.booleans()) if nm else False,
                draw(st.sampled_from([1.0, 2.25, 9.0])))
    return op, target(interleave=draw(st.booleans()))


@settings(max_examples=120, deadline=None)
@given(gemm_cases(), st.data())
def test_closed_form_matches_tile_expansion(case, data):
    op, tgt = case
    cand = candidates(op, tgt)
    i = data.draw(st.integers(0, len(cand["m_t"]) - 1))
    mp = Mapping(str(cand["dataflow"][i]), str(cand["order"][i]), int(cand["m_t"][i]), int(cand["k_t"][i]),
                 int(cand["n_t"][i]))
    tiles = gemm_tiles(op, mp, tgt)
    assert len(tiles) == cand["tiles"][i]
    assert tiles.compute_cycles.sum() == cand["compute"][i]
    moved = tiles.load_bytes.sum() + tiles.store_bytes.sum()
    # compressed B and im2col A tiles round up to whole bytes per tile: at most one byte each per tile apart
    assert abs(moved - cand["dram"][i]) <= 2 * len(tiles)
    assert 2 * mp.m_t * mp.k_t * tgt.elem_bytes / op.a_reuse <= tgt.a_buffer_bytes
    assert 2 * mp.m_t * mp.n_t * tgt.acc_bytes <= tgt.c_buffer_bytes
    assert 2 * mp.k_t * mp.n_t * tgt.b_bytes_per_position(op.nm, not op.select_on_load) <= tgt.b_buffer_bytes


def test_whole_reduction_on_chip_reads_each_operand_once():
    op = GemmOp("g", "g", Phase.FF, 64, 32, 8)
    cand = candidates(op, target(kib=(64, 64, 64)))
    best = np.argmin(cand["dram"])
    assert cand["dram"][best] == (64 * 32 + 32 * 8 + 64 * 8) * 2


def test_sparse_steps_match_the_functional_model():
    """A PE consumes M activations and N weights per group: compressed B has k*N/M rows, `mults` per cycle."""
    from hwsim.functional import compress

    tgt = target()
    nm = NM(2, 8)
    rng = np.random.default_rng(0)
    b = rng.integers(-128, 128, size=(64, 4), dtype=np.int8)
    values, _ = compress(b, nm.keep, nm.group, axis=0)
    op = GemmOp("g", "g", Phase.FF, 4, 64, 4, 1, nm)
    tiles = gemm_tiles(op, Mapping("os", "mnk", 4, 64, 4), tgt)
    assert tiles.compute_cycles.sum() - tgt.fill_cycles == values.shape[0] // tgt.mults
    assert op.macs == op.m * values.size  # every kept weight meets each of the m rows once


def test_selection_only_when_not_pregenerated():
    nm = NM(2, 8)
    mp = Mapping("os", "mnk", 4, 64, 4)
    lazy = gemm_tiles(GemmOp("g", "g", Phase.FF, 8, 64, 4, 1, nm, True), mp, target())
    eager = gemm_tiles(GemmOp("g", "g", Phase.FF, 8, 64, 4, 1, nm, False), mp, target())
    assert lazy.select_cycles.sum() == 64 * 4 // 4  # B loaded once, 4 selector lanes
    assert eager.select_cycles.sum() == 0
    assert lazy.load_bytes.sum() > eager.load_bytes.sum()  # dense weights cross the DRAM bus


def test_too_small_buffers_are_reported():
    op = GemmOp("conv9.ff", "conv9", Phase.FF, 64, 64, 64)
    with pytest.raises(MappingError, match="conv9.ff: smallest tile"):
        map_gemm(op, target(kib=(1, 1, 0)), lambda c, d, t: c)


def test_mapper_prefers_fewer_cycles():
    op = GemmOp("g", "g", Phase.FF, 256, 64, 16)
    tgt = target(kib=(64, 64, 64))
    mp = map_gemm(op, tgt, lambda c, d, t: c + d)
    tiles = gemm_tiles(op, mp, tgt)
    cand = candidates(op, tgt)
    chosen = tiles.compute_cycles.sum() + tiles.load_bytes.sum() + tiles.store_bytes.sum()
    assert chosen == (cand["compute"] + cand["dram"]).min()


def test_vector_pass_streams_every_element_once():
    op = VectorOp("v", "v", Phase.FF, 100_000, 2, 4, 2)
    tiles = vector_tiles(op, target(kib=(64, 64, 64)))
    assert tiles.load_bytes.sum() == 400_000 and tiles.store_bytes.sum() == 200_000
    assert len(tiles) > 1  # chunked so that load, compute and store overlap


def test_huge_ops_are_refused_before_expansion():
    op = GemmOp("huge.ff", "huge", Phase.FF, 10**9, 64, 64)
    with pytest.raises(ScheduleTooLarge, match=f"huge.ff: needs .* tiles .*at most {MAX_TILES:,}"):
        gemm_tiles(op, Mapping("os", "mnk", 4, 64, 4), target())


def test_tile_select_cycles_deals_whole_groups_to_lanes():
    """A selector lane takes one weight per cycle and whole groups: 10 groups of 4 on 4 lanes = 3 rounds of 4
    cycles, then the 2-cycle pipeline (counted by hand, not from the formula)."""
    from hwsim.dataflow.tiling import tile_select_cycles

    assert tile_select_cycles(8, 5, 4, 4, 2) == 14  # 2 groups per column x 5 columns = 10 groups
    assert tile_select_cycles(16, 3, 8, 4, 2) == 18  # 6 groups -> 2 rounds of 8 cycles
    assert tile_select_cycles(8, 4, 8, 4, 0) == 8  # one round, no pipeline


def test_tile_compute_cycles_single_block_by_hand():
    """One 4x4 block, 5 k steps, fill 4 + 4 + 3: OS 5 + 11; WS 6 rows of A: 6 + 11; WS with 2 rows: the next
    block's 4-cycle weight preload bounds it, 4 + 11."""
    from hwsim.dataflow.tiling import tile_compute_cycles

    assert tile_compute_cycles("os", 4, 40, 4, 4, 4, 8, 11) == 16
    assert tile_compute_cycles("ws", 6, 32, 4, 4, 4, 8, 11) == 17
    assert tile_compute_cycles("ws", 2, 32, 4, 4, 4, 8, 11) == 15
    with pytest.raises(ValueError, match="dataflow"):
        tile_compute_cycles("xs", 4, 40, 4, 4, 4, 8, 11)


@settings(max_examples=80, deadline=None)
@given(gemm_cases(), st.data(), st.integers(1, 64), st.integers(1, 64), st.integers(1, 64))
def test_port_limits_bound_every_tile_and_the_closed_form(case, data, pa, pb, pc):
    """Ports only add cycles; the closed form (slowest port over the op's total traffic) never exceeds the
    tile-by-tile sum (slowest port per tile), and both cover the port time of the traffic."""
    from dataclasses import replace

    op, tgt = case
    ported = replace(tgt, a_port_bytes=pa, b_port_bytes=pb, c_port_bytes=pc)
    cand, free = candidates(op, ported), candidates(op, tgt)
    i = data.draw(st.integers(0, len(cand["m_t"]) - 1))
    mp = Mapping(str(cand["dataflow"][i]), str(cand["order"][i]), int(cand["m_t"][i]), int(cand["k_t"][i]),
                 int(cand["n_t"][i]))
    tiles, free_tiles = gemm_tiles(op, mp, ported), gemm_tiles(op, mp, tgt)
    assert (tiles.compute_cycles >= free_tiles.compute_cycles).all()
    assert free["compute"][i] <= cand["compute"][i] <= tiles.compute_cycles.sum()
    assert free_tiles.compute_cycles.sum() == free["compute"][i]


def test_split_banks_gives_each_unit_its_share_of_capacity_and_ports():
    """sat-vcu1525's split by hand: A 4 MiB with 1 KiB/cycle of ports, vector share 1/8 -> 512 KiB and 128 B/cycle
    for vector passes, 3.5 MiB and 896 B/cycle for GEMM tiles; C 2 MiB, 1 KiB/cycle, share 1/4 -> 512 KiB, 256 B
    and 1.5 MiB, 768 B. B stays whole; a port of 0 (unlimited) stays 0 for both."""
    from dataclasses import replace

    from hwsim.dataflow.tiling import split_banks

    t = replace(target(kib=(4096, 2048, 2048)), a_port_bytes=1024, b_port_bytes=512, c_port_bytes=1024)
    gemm, vec = split_banks(t, 0.125, 0.25)
    assert (vec.a_buffer_bytes, vec.a_port_bytes, vec.c_buffer_bytes, vec.c_port_bytes) == (
        512 * 1024, 128, 512 * 1024, 256)
    assert (gemm.a_buffer_bytes, gemm.a_port_bytes, gemm.c_buffer_bytes, gemm.c_port_bytes) == (
        3584 * 1024, 896, 1536 * 1024, 768)
    assert gemm.b_buffer_bytes == t.b_buffer_bytes and gemm.b_port_bytes == 512
    gemm, vec = split_banks(replace(t, a_port_bytes=0), 0.125, 0.25)
    assert gemm.a_port_bytes == vec.a_port_bytes == 0


def test_vector_chunks_wait_for_their_ports():
    """65,536 elements reading 4 B and writing 2 B each, 64 lanes, 1 op per element: 1,024 lane cycles; through
    a 128 B/cycle A port the 256 KiB read takes 2,048 cycles, through a 64 B/cycle C port the 128 KiB written
    2,048; with 32 B/cycle of C, 4,096 (plus the vector latency of 4 each time)."""
    from dataclasses import replace

    op = VectorOp("v", "v", Phase.FF, 65_536, 1, 4, 2)
    t = replace(target(kib=(4096, 8, 4096)), vector_lanes=64)
    assert list(vector_tiles(op, t).compute_cycles) == [1024 + 4]
    assert list(vector_tiles(op, replace(t, a_port_bytes=128)).compute_cycles) == [2048 + 4]
    assert list(vector_tiles(op, replace(t, a_port_bytes=128, c_port_bytes=32)).compute_cycles) == [4096 + 4]
