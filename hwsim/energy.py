"""Energy per op from action counts times the per-action table of the architecture spec.

Counted actions, per GEMM: MACs performed (N:M skips the pruned ones); pipeline-register bytes (every PE
latches each activation of the reduction, under N:M all M of a group, which its multiplexers choose from,
and the N weights it multiplies: dense positions + performed MACs, FP16 each); on-chip buffer bytes (every
DRAM byte is written to or read from a buffer once, the array reads A once per column block and B once per
row block, and partial sums go through the C buffer: written once per k pass over an output and read back
for every pass after the first, FP32); DRAM bytes. Per vector pass: vector-engine element ops, selector
element visits. Selector visits on loads (no pre-generation). Static power is charged for the op's duration.
"""
from __future__ import annotations

from dataclasses import dataclass
from math import ceil

import numpy as np

from hwsim.dataflow.ops import GemmOp, Op

COMPONENTS = ("mac", "reg", "sram", "dram", "vector", "select", "static")


def k_passes(op: GemmOp, mapping, rows: int, k_step: int) -> int:
    """How many separate partial sums each output of `op` gets (C-buffer accumulations).

    Output-stationary: a block accumulates in the PEs over one k tile, then drains: one pass per k tile.
    Weight-stationary: a column reduces rows x k_step positions of one block at a time: one pass per k block.
    Without a mapping: one pass (the whole reduction accumulated in place).
    """
    if mapping is None:
        return 1
    full, rem = divmod(op.k, mapping.k_t)
    if mapping.dataflow == "ws":
        per = lambda t: ceil(t / (rows * k_step))  # noqa: E731
        return full * per(mapping.k_t) + (per(rem) if rem else 0)
    return full + (rem > 0)


def op_energy(op: Op, cfg, dram_bytes: int, cycles: int, select_cycles: int, mapping=None) -> dict[str, float]:
    """Energy in joules of one op, by component. `select_cycles`: selector busy cycles on loads;
    `mapping`: the GEMM's tiling.Mapping (for the partial-sum passes through the C buffer)."""
    e = cfg.energy
    eb = cfg.precision.operand_bytes
    if isinstance(op, GemmOp):
        density = op.nm.keep / op.nm.group if op.nm else 1.0
        array_reads = op.groups * eb * (op.m * op.k * ceil(op.n / cfg.array.cols)
                                        + op.k * density * op.n * ceil(op.m / cfg.array.rows))
        passes = k_passes(op, mapping, cfg.array.rows, cfg.target.k_step(op.nm))
        psum = op.groups * op.m * op.n * cfg.precision.acc_bytes * (2 * passes - 1)
        vector_ops = 0.0
        select = select_cycles * cfg.selector.lanes  # every element of every (re)loaded B tile
        macs = op.macs
        reg_bytes = (op.dense_macs + macs) * eb  # all M activations of a group latched, N weights
    else:
        array_reads = psum = 0.0
        vector_ops = op.elems * op.ops_per_elem
        select = op.elems * op.select_passes
        macs = 0
        reg_bytes = 0
    pj = {
        "mac": macs * e.mac_pj,
        "reg": reg_bytes * e.reg_byte_pj,
        "sram": (dram_bytes + array_reads + psum) * e.sram_byte_pj,
        "dram": dram_bytes * e.dram_byte_pj,
        "vector": vector_ops * e.vector_op_pj,
        "select": select * e.select_pj,
    }
    joules = {key: val * 1e-12 for key, val in pj.items()}
    joules["static"] = cfg.static_w * cycles / cfg.clock_hz
    return joules


@dataclass(frozen=True)
class OpCounts:
    """The per-op action counts `op_energy` derives from the ops and their mappings alone (not from timing or
    prices), as arrays over a run's ops: a run's energy is then a few array products (`energy_columns`)."""

    gemm: np.ndarray  # bool
    macs: np.ndarray  # float64 (the int counts, each converted as op_energy's int * float converts it)
    reg_bytes: np.ndarray
    vector_ops: np.ndarray  # float64 (0.0 for a GEMM)
    array_reads: np.ndarray  # float64 (0.0 for a vector pass)
    psum: np.ndarray  # float64 of the int partial-sum bytes (0.0 for a vector pass)
    vector_select: np.ndarray  # int64: selector element visits of a vector pass (0 for a GEMM)


def op_counts(ops, cfg, mappings) -> OpCounts:
    """The timing- and price-independent terms of `op_energy` for every op (the same expressions)."""
    eb = cfg.precision.operand_bytes
    rows, cols, target = cfg.array.rows, cfg.array.cols, cfg.target
    gemm, macs, reg, vec, reads, psum, vsel = [], [], [], [], [], [], []
    for op, mapping in zip(ops, mappings):
        if isinstance(op, GemmOp):
            density = op.nm.keep / op.nm.group if op.nm else 1.0
            array_reads = op.groups * eb * (op.m * op.k * ceil(op.n / cols) + op.k * density * op.n * ceil(op.m / rows))
            passes = k_passes(op, mapping, rows, target.k_step(op.nm))
            gemm.append(True)
            macs.append(op.macs)
            reg.append((op.dense_macs + op.macs) * eb)
            vec.append(0.0)
            reads.append(array_reads)
            psum.append(op.groups * op.m * op.n * cfg.precision.acc_bytes * (2 * passes - 1))
            vsel.append(0)
        else:
            gemm.append(False)
            macs.append(0)
            reg.append(0)
            vec.append(op.elems * op.ops_per_elem)
            reads.append(0.0)
            psum.append(0.0)
            vsel.append(op.elems * op.select_passes)
    f = lambda xs: np.array([float(x) for x in xs], dtype=np.float64)  # noqa: E731
    return OpCounts(np.array(gemm, dtype=bool), f(macs), f(reg), f(vec), f(reads), f(psum),
                    np.array(vsel, dtype=np.int64))


def energy_columns(counts: OpCounts, cfg, dram_bytes: np.ndarray, cycles: np.ndarray,
                   select_cycles: np.ndarray) -> dict[str, np.ndarray]:
    """`op_energy` of every op at once, by component (joules): the same numbers, element by element (an int
    times a float converts the int first, in Python as in numpy; sums keep op_energy's order)."""
    e = cfg.energy
    dram = np.asarray(dram_bytes, dtype=np.int64)
    select = np.where(counts.gemm, np.asarray(select_cycles, dtype=np.int64) * cfg.selector.lanes,
                      counts.vector_select)
    pj = {
        "mac": counts.macs * e.mac_pj,
        "reg": counts.reg_bytes * e.reg_byte_pj,
        "sram": (dram + counts.array_reads + counts.psum) * e.sram_byte_pj,
        "dram": dram * e.dram_byte_pj,
        "vector": counts.vector_ops * e.vector_op_pj,
        "select": select * e.select_pj,
    }
    joules = {key: val * 1e-12 for key, val in pj.items()}
    joules["static"] = cfg.static_w * np.asarray(cycles, dtype=np.int64) / cfg.clock_hz
    return joules
