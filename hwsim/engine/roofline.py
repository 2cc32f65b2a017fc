"""The roofline estimate (`simulation.RooflineCost`, latency objective) of every candidate in one numba pass.

The mapper rates a few thousand candidates per GEMM shape with it; numpy spends its time in six array
operations' overheads. The same expressions element by element, in the same order (so the same float
roundings); `RooflineCost.estimate` in numpy is the reference (tests/hwsim/test_roofline.py).
"""
from __future__ import annotations

import numpy as np

from hwsim.dataflow.jit import njit


@njit(cache=True)
def roofline_cycles(compute, dram, tiles, bytes_per_cycle, latency):
    """max(compute, dma) + min(compute, dma) / tiles, dma = dram / bytes_per_cycle + 2 * tiles * latency."""
    n = compute.shape[0]
    out = np.empty(n)
    for i in range(n):
        dma = dram[i] / bytes_per_cycle + 2.0 * tiles[i] * latency
        c = compute[i]
        out[i] = (c if c >= dma else dma) + (c if c <= dma else dma) / tiles[i]
    return out
