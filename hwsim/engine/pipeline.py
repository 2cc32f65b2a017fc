"""The numba tile pipeline: same machine and same results as `reference.run_reference` (see there)."""
from __future__ import annotations

import math

import numpy as np

from hwsim.dataflow.jit import njit


@njit(cache=True, inline="always")
def _transfer(nbytes, bytes_per_cycle, latency):
    if nbytes == 0:
        return 0
    return latency + np.int64(math.ceil(nbytes / bytes_per_cycle))


@njit(cache=True)
def run_pipeline(op_offsets, load, store, select, compute, bytes_per_cycle, latency):
    n_ops = op_offsets.shape[0] - 1
    cycles = np.zeros(n_ops, dtype=np.int64)
    busy = np.zeros(n_ops, dtype=np.int64)
    stall = np.zeros(n_ops, dtype=np.int64)
    now = np.int64(0)
    for j in range(n_ops):
        start = now
        dma = start
        sel = start
        comp = start
        slot0 = start
        slot1 = start
        pend_ready = np.int64(0)
        pend_bytes = np.int64(0)
        for t in range(op_offsets[j], op_offsets[j + 1]):
            free = slot0 if t % 2 == 0 else slot1
            ls = max(dma, free)
            dma = ls + _transfer(load[t], bytes_per_cycle, latency)
            sel = max(dma, sel) + select[t]
            cs = max(sel, comp)
            stall[j] += cs - comp
            comp = cs + compute[t]
            busy[j] += compute[t]
            if t % 2 == 0:
                slot0 = comp
            else:
                slot1 = comp
            if pend_bytes != 0:
                dma = max(dma, pend_ready) + _transfer(pend_bytes, bytes_per_cycle, latency)
            pend_ready = comp
            pend_bytes = store[t]
        if pend_bytes != 0:
            dma = max(dma, pend_ready) + _transfer(pend_bytes, bytes_per_cycle, latency)
        now = max(dma, comp)
        cycles[j] = now - start
    return cycles, busy, stall


NO_CUTOFF = np.int64(2 ** 62)


@njit(cache=True)
def pipeline_time(load, store, select, work, bytes_per_cycle, latency, cutoff):
    """The tile pipeline of one op from cycle 0 (engine.pipeline.run_pipeline's recurrence): its cycles, or
    cutoff + 1 as soon as they must exceed `cutoff` (every time in the recurrence only grows)."""
    dma = np.int64(0)
    sel = np.int64(0)
    comp = np.int64(0)
    slot0 = np.int64(0)
    slot1 = np.int64(0)
    pend_ready = np.int64(0)
    pend_bytes = np.int64(0)
    for t in range(load.shape[0]):
        free = slot0 if t % 2 == 0 else slot1
        dma = max(dma, free) + _transfer(load[t], bytes_per_cycle, latency)
        sel = max(dma, sel) + select[t]
        comp = max(sel, comp) + work[t]
        if t % 2 == 0:
            slot0 = comp
        else:
            slot1 = comp
        if pend_bytes != 0:
            dma = max(dma, pend_ready) + _transfer(pend_bytes, bytes_per_cycle, latency)
        pend_ready = comp
        pend_bytes = store[t]
        if comp > cutoff or dma > cutoff:
            return cutoff + 1
    if pend_bytes != 0:
        dma = max(dma, pend_ready) + _transfer(pend_bytes, bytes_per_cycle, latency)
    return max(dma, comp)
