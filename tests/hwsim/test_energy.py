"""Energy: golden per-component values on hand-computable ops (each component pinned by a hand-worked number).

The config gives every action a distinct power of ten (pJ), so a wrong count in one component cannot be
compensated by another, and zeroing any one of them fails a test here.
"""
import pytest

from hwsim.config import SATConfig, load_arch
from hwsim.dataflow.ops import GemmOp, Phase, VectorOp
from hwsim.dataflow.sparsity import NM
from hwsim.dataflow.tiling import Mapping
from hwsim.energy import COMPONENTS, k_passes, op_energy

PJ = 1e-12


@pytest.fixture(scope="module")
def cfg():
    spec = load_arch("sat-small").model_dump()
    spec.update(name="energy-golden", clock_mhz=1.0)  # 1 us per cycle
    spec["array"].update(rows=2, cols=2, mults_per_pe=2)
    spec["energy"] = {"mac_pj": 1.0, "reg_byte_pj": 10.0, "sram_byte_pj": 100.0, "dram_byte_pj": 1000.0,
                      "vector_op_pj": 10_000.0, "select_pj": 100_000.0, "clock_ff_fj": 0.0}
    spec["board"]["static_w"] = 2.0  # no clock-tree share: static power is exactly the board's 2 W
    return SATConfig.model_validate(spec)


# C[4 x 2] = A[4 x 8] B[8 x 2], B 2:4 along k. On a 2 x 2 array with 2 multipliers per PE (k step 4 under 2:4).
OP = GemmOp("g", "g", Phase.FF, m=4, k=8, n=2, nm=NM(2, 4))
OS_TWO_K_TILES = Mapping("os", "mnk", m_t=4, k_t=4, n_t=2)


def test_golden_gemm_energy_per_component(cfg):
    e = op_energy(OP, cfg, dram_bytes=100, cycles=50, select_cycles=3, mapping=OS_TWO_K_TILES)
    # MACs performed: 4*8*2 dense positions, 2 of every 4 kept -> 32
    assert e["mac"] == pytest.approx(32 * 1.0 * PJ)
    # registers: every activation position latched (64, all 4 of each group) + the 32 weights multiplied, 2 B each
    assert e["reg"] == pytest.approx((64 + 32) * 2 * 10.0 * PJ)
    # buffers: 100 B through from/to DRAM; A read once per column block: 4*8 el x ceil(2/2) = 32 el = 64 B;
    # B (compressed values) once per row block: 8*2/2 el x ceil(4/2) = 16 el = 32 B;
    # partial sums, FP32: 4*2 outputs, two k tiles -> written twice, read back once: 8 * 4 B * 3 = 96 B
    assert e["sram"] == pytest.approx((100 + 64 + 32 + 96) * 100.0 * PJ)
    assert e["dram"] == pytest.approx(100 * 1000.0 * PJ)
    assert e["vector"] == 0
    # selector: 3 busy cycles x 4 lanes = 12 element visits
    assert e["select"] == pytest.approx(12 * 100_000.0 * PJ)
    # static: 2 W for 50 cycles at 1 MHz
    assert e["static"] == pytest.approx(2.0 * 50e-6)
    assert set(e) == set(COMPONENTS)


def test_golden_vector_energy_per_component(cfg):
    op = VectorOp("v", "v", Phase.WU, elems=10, ops_per_elem=3, read_bytes_per_elem=2, write_bytes_per_elem=1,
                  kind="update", select_passes=2)
    e = op_energy(op, cfg, dram_bytes=30, cycles=7, select_cycles=0)
    assert e["vector"] == pytest.approx(30 * 10_000.0 * PJ)
    assert e["select"] == pytest.approx(20 * 100_000.0 * PJ)  # two selections over 10 weights
    assert e["sram"] == pytest.approx(30 * 100.0 * PJ)  # streamed through the buffers once
    assert e["dram"] == pytest.approx(30 * 1000.0 * PJ)
    assert e["mac"] == e["reg"] == 0
    assert e["static"] == pytest.approx(2.0 * 7e-6)


def test_dense_registers_latch_two_operands_per_mac(cfg):
    dense = GemmOp("g", "g", Phase.FF, m=4, k=8, n=2)
    e = op_energy(dense, cfg, 0, 0, 0)
    assert e["reg"] == pytest.approx(64 * 2 * 2 * 10.0 * PJ)


@pytest.mark.parametrize("mapping,passes", [
    (None, 1),
    (Mapping("os", "mkn", 4, 8, 2), 1),  # whole k in one tile: accumulated in the PEs
    (Mapping("os", "mkn", 4, 4, 2), 2),
    (Mapping("os", "mkn", 4, 3, 2), 3),  # 3 + 3 + 2
    (Mapping("ws", "mkn", 4, 8, 2), 1),  # a column reduces 2 rows x 4 positions = 8 at once
])
def test_partial_sum_passes(mapping, passes):
    assert k_passes(OP, mapping, rows=2, k_step=4) == passes


def test_weight_stationary_passes_per_k_block():
    op = GemmOp("g", "g", Phase.FF, m=4, k=20, n=2)  # dense, k step 2: a block reduces 2 x 2 = 4 positions
    assert k_passes(op, Mapping("ws", "mkn", 4, 20, 2), rows=2, k_step=2) == 5
    assert k_passes(op, Mapping("ws", "mkn", 4, 6, 2), rows=2, k_step=2) == 2 + 2 + 2 + 1  # tiles 6, 6, 6, 2


def test_preset_energy_table_is_the_cited_one():
    """sat-vcu1525's per-action energies are Horowitz (ISSCC 2014) 45 nm figures, as its file cites."""
    e = load_arch("sat-vcu1525").energy
    assert (e.mac_pj, e.vector_op_pj, e.select_pj, e.reg_byte_pj, e.sram_byte_pj, e.dram_byte_pj) == (
        2.0, 4.6, 0.2, 0.12, 2.5, 160.0)
    assert (load_arch("sat-vcu1525").board.static_w, e.clock_ff_fj) == (3.0, 5.0)


def test_simulated_energy_charges_dram_and_static_from_the_preset():
    import hwsim

    r = hwsim.simulate("resnet9", "sat-vcu1525", batch=2)
    assert r.energy_breakdown["dram"] == pytest.approx(r.dram_bytes * 160e-12)
    cfg = load_arch("sat-vcu1525")
    assert r.energy_breakdown["static"] == pytest.approx(cfg.static_w * r.seconds)
    assert cfg.static_w == pytest.approx(3.0 + cfg.resources.ff * 5e-15 * 200e6)
    assert all(v > 0 for k, v in r.energy_breakdown.items() if k != "select")
