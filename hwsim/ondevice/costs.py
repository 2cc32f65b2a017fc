"""Latency and energy of a training graph on a target: the MCU's per-kernel cycle model, or the SAT engine."""
from __future__ import annotations

import numpy as np
import pandas as pd

from hwsim.dataflow.ops import GemmOp, Phase, VectorOp
from hwsim.ondevice.targets import MCUTarget, NPUTarget

_PHASE = {"forward": Phase.FF, "backward": Phase.BP, "update": Phase.WU}


def mcu_terms(op, target: MCUTarget) -> tuple[float, float, float]:
    """One kernel call's cycles split as (int8 SIMD MAC work, fp32 MAC work, everything else).

    The two MAC terms are MACs / rate of the op's family: int8 forward kernels always; backward kernels
    (data and weight gradient) run as int8 SIMD kernels when the target's gradients are int8 (``precision.grad``
    1, their outputs requantized), else on the fp32 FPU (2: fp16 storage, converted per output element).
    Everything else: requantization of a forward conv's outputs (recomputed patch halos included), element-wise
    passes, the optimizer, Flash bytes and the per-call overhead.
    The calibration (:mod:`hwsim.ondevice.calibration`) fits the two MAC terms' scales.
    """
    rates = target.macs_per_cycle
    cyc = target.elementwise_cycles
    int8 = fp32 = 0.0
    rest = op.flash_bytes * target.flash_cycles_per_byte + target.op_overhead_cycles
    if op.phase == "update":
        rest += op.elems * target.update_cycles_per_param
    elif op.gemm is not None:
        stage, _, family = op.kernel.rpartition(".")
        outputs = op.macs / op.gemm[1]  # one output per k MACs (patch recompute included)
        if stage == "":
            int8 = op.macs / getattr(rates.forward, family)
            if family != "linear":  # the fp32 classifier is not requantized
                rest += outputs * cyc.get("requantize", 0.0)
        elif target.precision.grad == 1:  # int8 gradients: SIMD kernels, outputs requantized to int8
            int8 = op.macs / getattr(rates.forward, family)
            rest += outputs * cyc.get("requantize", 0.0)
        else:
            fp32 = op.macs / getattr({"dx": rates.dx, "dw": rates.dw}[stage], family)
            if target.precision.grad == 2:
                rest += outputs * cyc.get("cast", 0.0)
    else:
        rest += op.elems * cyc.get(op.kernel, 1.0)
    return int8, fp32, rest


def mcu_cycles(op, target: MCUTarget) -> int:
    """Cycles of one kernel call on the MCU (see the preset for every rate and its source)."""
    return int(round(sum(mcu_terms(op, target))))


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
