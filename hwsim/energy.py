"""Energy per op from action counts times the per-action table of the architecture spec.

Counted actions: MACs performed (N:M skips the pruned ones), pipeline-register bytes (two FP16
operands per MAC), on-chip buffer bytes (every DRAM byte is written to or read from a buffer once, and
the array reads A once per column block and B once per row block), DRAM bytes, vector-engine element ops,
selector element visits. Static power is charged for the op's duration.
"""
from __future__ import annotations

from math import ceil

from hwsim.dataflow.ops import GemmOp, Op

COMPONENTS = ("mac", "reg", "sram", "dram", "vector", "select", "static")


def op_energy(op: Op, cfg, dram_bytes: int, cycles: int, select_cycles: int) -> dict[str, float]:
    """Energy in joules of one op, by component. `select_cycles`: selector busy cycles on loads."""
    e = cfg.energy
    eb = cfg.precision.operand_bytes
    if isinstance(op, GemmOp):
        density = op.nm.keep / op.nm.group if op.nm else 1.0
        array_reads = op.groups * eb * (op.m * op.k * ceil(op.n / cfg.array.cols)
                                        + op.k * density * op.n * ceil(op.m / cfg.array.rows))
        vector_ops = 0.0
        select = select_cycles * cfg.selector.lanes  # every element of every (re)loaded B tile
        macs = op.macs
    else:
        array_reads = 0.0
        vector_ops = op.elems * op.ops_per_elem
        select = op.elems * op.select_passes
        macs = 0
    pj = {
        "mac": macs * e.mac_pj,
        "reg": macs * 2 * eb * e.reg_byte_pj,
        "sram": (dram_bytes + array_reads) * e.sram_byte_pj,
        "dram": dram_bytes * e.dram_byte_pj,
        "vector": vector_ops * e.vector_op_pj,
        "select": select * e.select_pj,
    }
    joules = {key: val * 1e-12 for key, val in pj.items()}
    joules["static"] = cfg.static_w * cycles / cfg.clock_hz
    return joules
