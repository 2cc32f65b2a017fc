"""Plain-Python/numpy reference of the tile pipeline: the numba kernel must equal it exactly.

The machine, per op (ops run one after another, each starting when the previous one has drained):
  - one DMA queue to DRAM serves requests in issue order; a transfer of b > 0 bytes takes
    `latency + ceil(b / bytes_per_cycle)` cycles;
  - tile t loads into buffer slot t % 2 once the compute of tile t - 2 has freed it (double buffering);
  - the top-N-of-M selector then works on the loaded tile (0 cycles when weights were pre-generated);
  - the array computes the tile when both the selector and the previous tile are done;
  - the store of tile t is queued behind the load of tile t + 1, so it overlaps the next compute.
Returns per op: total cycles, array-busy cycles and array-stall cycles (waiting on DMA or selector).
"""
from __future__ import annotations

import math

import numpy as np


def transfer(nbytes: int, bytes_per_cycle: float, latency: int) -> int:
    return 0 if nbytes == 0 else latency + int(math.ceil(nbytes / bytes_per_cycle))


def run_reference(op_offsets: np.ndarray, load: np.ndarray, store: np.ndarray, select: np.ndarray,
                  compute: np.ndarray, bytes_per_cycle: float, latency: int):
    n_ops = len(op_offsets) - 1
    cycles = np.zeros(n_ops, dtype=np.int64)
    busy = np.zeros(n_ops, dtype=np.int64)
    stall = np.zeros(n_ops, dtype=np.int64)
    now = 0
    for j in range(n_ops):
        start = now
        dma = sel = comp = start
        slot = [start, start]
        pend_ready, pend_bytes = 0, 0
        for t in range(op_offsets[j], op_offsets[j + 1]):
            ls = max(dma, slot[t % 2])
            dma = ls + transfer(load[t], bytes_per_cycle, latency)
            sel = max(dma, sel) + select[t]
            cs = max(sel, comp)
            stall[j] += cs - comp
            comp = cs + compute[t]
            busy[j] += compute[t]
            slot[t % 2] = comp
            if pend_bytes:
                dma = max(dma, pend_ready) + transfer(pend_bytes, bytes_per_cycle, latency)
            pend_ready, pend_bytes = comp, store[t]
        if pend_bytes:
            dma = max(dma, pend_ready) + transfer(pend_bytes, bytes_per_cycle, latency)
        now = max(dma, comp)
        cycles[j] = now - start
    return cycles, busy, stall
