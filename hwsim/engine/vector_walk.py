"""The vector chunk search in numba: a vector pass's chunks built and timed by the tile pipeline in one call.

`chunk_times` gives, for each candidate chunk size of one vector pass, the cycles and DRAM bytes that
`tiling.vector_tiles` + `run_pipeline` give (the pass alone, from cycle 0); `chunk_arrays` gives the per-tile
arrays of one chunk size. The same arithmetic in the same order as `vector_tiles` (so the same integers and
float roundings); `vector_tiles` timed by the plain `run_reference` is what they are checked against
(tests/hwsim/test_vector_walk.py). The search times a few chunk sizes of every vector pass at every DRAM setting:
the numpy version spends its time building small arrays.
"""
from __future__ import annotations

import math

import numpy as np

from hwsim.dataflow.jit import njit
from hwsim.engine.pipeline import NO_CUTOFF, pipeline_time


@njit(cache=True, inline="always")
def _cdiv0(a, b):
    """-(-a // b), and 0 for b == 0 as numpy's integer division gives."""
    if b == 0:
        return np.int64(0)
    return -(-a // b)


@njit(cache=True, inline="always")
def _rate(nbytes, rate, out):
    """One buffer port's cycles for these bytes (tiling._port_rate; 0: unlimited)."""
    if rate == 0:
        return out
    return max(out, np.int64(math.ceil(nbytes / rate)))


@njit(cache=True, inline="always")
def _tile(e, ops_per_elem, read_bpe, write_bpe, select_passes, lanes, select_lanes, a_port, c_port, latency):
    """(load, store, compute) of a chunk of e elements (tiling.vector_tiles' arithmetic; selection is 0)."""
    work = max(_cdiv0(np.int64(math.ceil(e * ops_per_elem)), lanes), _cdiv0(e * select_passes, select_lanes))
    read = math.ceil(e * read_bpe)
    write = math.ceil(e * write_bpe)
    port = _rate(write, c_port, _rate(read, a_port, np.int64(0)))  # in through A's ports, out through C's
    return np.int64(read), np.int64(write), max(work, port) + latency


@njit(cache=True)
def chunk_times(sizes, elems, ops_per_elem, read_bpe, write_bpe, select_passes, lanes, select_lanes, a_port, c_port,
                vector_latency, bytes_per_cycle, latency):
    """Cycles and DRAM bytes of the pass cut into chunks of each of `sizes` elements (the last one partial)."""
    n = sizes.shape[0]
    cycles = np.zeros(n, dtype=np.int64)
    dram = np.zeros(n, dtype=np.int64)
    for c in range(n):
        load, store, select, work = chunk_arrays(sizes[c], elems, ops_per_elem, read_bpe, write_bpe, select_passes,
                                                 lanes, select_lanes, a_port, c_port, vector_latency)
        cycles[c] = pipeline_time(load, store, select, work, bytes_per_cycle, latency, NO_CUTOFF)
        dram[c] = load.sum() + store.sum()
    return cycles, dram


@njit(cache=True)
def chunk_arrays(chunk, elems, ops_per_elem, read_bpe, write_bpe, select_passes, lanes, select_lanes, a_port, c_port,
                 vector_latency):
    """The per-tile load, store, select and compute arrays of the pass in chunks of `chunk` elements."""
    full = elems // chunk
    rem = elems - full * chunk
    count = full + (1 if rem > 0 else 0)
    load = np.empty(count, dtype=np.int64)
    store = np.empty(count, dtype=np.int64)
    select = np.zeros(count, dtype=np.int64)
    work = np.empty(count, dtype=np.int64)
    f = _tile(chunk, ops_per_elem, read_bpe, write_bpe, select_passes, lanes, select_lanes, a_port, c_port,
              vector_latency)
    load[:full] = f[0]
    store[:full] = f[1]
    work[:full] = f[2]
    if rem > 0:
        r = _tile(rem, ops_per_elem, read_bpe, write_bpe, select_passes, lanes, select_lanes, a_port, c_port,
                  vector_latency)
        load[full] = r[0]
        store[full] = r[1]
        work[full] = r[2]
    return load, store, select, work


def _op_args(op, target) -> tuple:
    """The pass's and target's numbers the kernels take."""
    return (int(op.elems), float(op.ops_per_elem), float(op.read_bytes_per_elem), float(op.write_bytes_per_elem),
            int(op.select_passes), int(target.vector_lanes), int(target.select_lanes), int(target.a_port_bytes),
            int(target.c_port_bytes), int(target.vector_latency))


def vector_chunk_times(op, target, sizes, bytes_per_cycle: float, latency: int) -> tuple[np.ndarray, np.ndarray]:
    """`chunk_times` for VectorOp `op` on ArrayTarget `target`, chunk sizes `sizes` (elements)."""
    return chunk_times(np.asarray(sizes, dtype=np.int64), *_op_args(op, target), float(bytes_per_cycle), int(latency))


def vector_chunk_tiles(op, target, chunk: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """`tiling.vector_tiles`' four arrays for one chunk size (the caller checks the tile count first)."""
    return chunk_arrays(int(chunk), *_op_args(op, target))
