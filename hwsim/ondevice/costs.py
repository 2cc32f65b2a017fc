"""Latency and energy of a training graph on a target: the MCU's per-kernel cycle model, or the SAT engine."""
from __future__ import annotations

import numpy as np
import pandas as pd

from hwsim.dataflow.ops import GemmOp, Phase, VectorOp
from hwsim.ondevice.targets import MCUTarget, NPUTarget

_PHASE = {"forward": Phase.FF, "backward": Phase.BP, "update": Phase.WU}


def mcu_cycles(op, target: MCUTarget) -> int:
    """Cycles of one kernel call on the MCU (see the preset for every rate and its reason)."""
    rates = target.macs_per_cycle
    kernel = op.kernel
    if op.phase == "update":
        work = op.elems * target.update_cycles_per_param
    elif op.gemm is not None:
        stage, _, family = kernel.rpartition(".")
        table = {"": rates.forward, "dx": rates.dx, "dw": rates.dw}[stage]
        work = op.macs / getattr(table, family)
    else:
        work = op.elems * target.elementwise_cycles.get(kernel, 1.0)
    return int(round(work + op.flash_bytes * target.flash_cycles_per_byte + target.op_overhead_cycles))


def mcu_table(ops, target: MCUTarget) -> pd.DataFrame:
    """One row per op: cycles, seconds and energy (run-mode power x time)."""
    rows = _rows(ops)
    rows["cycles"] = [mcu_cycles(op, target) for op in ops]
    rows["seconds"] = rows["cycles"] / target.clock_hz
    rows["energy_j"] = rows["seconds"] * target.power_mw * 1e-3
    return rows


def npu_table(ops, target: NPUTarget) -> pd.DataFrame:
    """The training graph's GEMMs and element-wise passes timed tile by tile by the SAT engine."""
    from hwsim.engine import run_pipeline
    from hwsim.simulation import _table, build_schedule

    cfg = target.sat
    lowered = [_lower(op, cfg.precision.operand_bytes) for op in ops]
    sched = build_schedule(lowered, cfg)
    cycles, busy, stall = run_pipeline(*sched.engine_args(cfg))
    sat = _table(lowered, sched, cycles, busy, stall, cfg)
    rows = _rows(ops)
    rows["cycles"] = np.asarray(sat["cycles"])
    rows["seconds"] = rows["cycles"] / cfg.clock_hz
    rows["energy_j"] = np.asarray(sat["energy_j"])
    rows["dram_bytes"] = np.asarray(sat["dram_bytes"])
    return rows


def _rows(ops) -> pd.DataFrame:
    return pd.DataFrame({"name": [o.name for o in ops], "layer": [o.layer for o in ops],
                         "phase": [o.phase for o in ops], "kernel": [o.kernel for o in ops],
                         "macs": np.array([o.macs for o in ops], dtype=np.int64),
                         "flash_bytes": np.array([o.flash_bytes for o in ops], dtype=np.int64)})


def _lower(op, eb: int):
    """A TrainOp as the SAT scheduler's op: GEMMs keep (m, k, n, groups); the rest are vector passes."""
    phase = _PHASE[op.phase]
    if op.gemm is not None:
        m, k, n, g = op.gemm
        if op.kernel.startswith("dw."):
            phase = Phase.WU
        return GemmOp(op.name, op.layer, phase, m, k, n, g, a_reuse=op.a_reuse)
    if op.phase == "update":
        return VectorOp(op.name, op.layer, phase, max(op.elems, 1), 4, eb + 4, eb, kind="update")
    return VectorOp(op.name, op.layer, phase, max(op.elems, 1), 1, 2 * eb, eb)
