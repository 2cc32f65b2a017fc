"""The tile program: the simulator's schedule of one GEMM op lowered to the commands the layer machine runs.

`lower(op, mapping, target, lp)` walks the op's tiles with `hwsim.dataflow.tiling.tile_walk` (the walk
`gemm_tiles` times) and takes each tile's load and store bytes from `gemm_tiles` itself, so the engine and the
RTL run one schedule. Per tile it derives the blocks (OS: ceil(m/rows) x ceil(n/cols) blocks of ceil(k/k_step)
steps; WS: ceil(k/(rows*k_step)) x ceil(n/cols) blocks of m rows), the buffer slots (A and B alternate when a new
tile of them loads, C when a new C block starts), the words each load brings (A and B when new, the C block's
partial sums when it continues an earlier k tile out of order) and the C rows each store writes out.

Memory layout (the host's side, `Layout`): each tile's load is one contiguous run of words, A words then B words
then partial-sum rows, at `ld_addr`; a C block written out before its k loop is over goes straight to the place
the tile that resumes it loads its partial sums from; finished C blocks go to the output region. `pack_ddr` fills
that memory from the layer's operands; `unpack_output` reads C back. A word = one buffer word (rtl/core.py).

Not lowered (refused with a message): input-stationary tiles, grouped ops (groups > 1), selection on load (the
layer machine has no selector), interleave off.
"""
import math
from dataclasses import dataclass

import numpy as np

from hwsim.dataflow.ops import GemmOp
from hwsim.dataflow.target import ArrayTarget
from hwsim.dataflow.tiling import Mapping, gemm_tiles, tile_walk
from hwsim.errors import ConfigError
from hwsim.rtl.layer import LayerParams


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


@dataclass(frozen=True)
class TileProgram:
    """The commands of one op (dicts with the fields of `layer.command_layout`) and what the host needs to
    place the operands: per tile its position in the layer, and the memory regions."""

    op: GemmOp
    mapping: Mapping
    commands: tuple
    tiles: tuple  # per tile: dict m0, k0, n0, m, k, n
    out_addr: dict  # (m0, n0) -> word address of the finished C block
    words: int  # memory words used
    load_bytes: np.ndarray  # the engine's per-tile arrays (gemm_tiles)
    store_bytes: np.ndarray
    compute_cycles: np.ndarray

    def __len__(self) -> int:
        return len(self.commands)

    def need(self) -> dict:
        """Buffer words the program needs per slot (A, B), C rows per bank, and its length."""
        a = max(c["ld_a"] for c in self.commands)
        b = max(c["ld_b"] for c in self.commands)
        c = max(_c_rows(c) for c in self.commands)
        return {"a_slot": max(a, 1), "b_slot": max(b, 1), "c_slot": max(c, 1), "prog_depth": len(self)}


def _c_rows(cmd: dict) -> int:
    """C rows a tile's blocks cover: OS blk_a * rows per column block, WS m rows per column block."""
    return cmd["_c_rows"]


def check_lowerable(op: GemmOp, mp: Mapping, target: ArrayTarget, lp: LayerParams) -> None:
    """Refuse what the layer machine does not implement, naming the field and the value."""
    where = op.name or "op"
    if mp.dataflow not in ("os", "ws"):
        raise ConfigError(f"dataflow: {mp.dataflow!r} (expected 'os' or 'ws': the RTL has no input-stationary "
                          "mode)", where)
    if op.groups != 1:
        raise ConfigError(f"groups: {op.groups} (expected 1: grouped GEMMs are not lowered)", where)
    if op.select_on_load:
        raise ConfigError("select_on_load: True (expected pre-generated N:M weights: the layer machine has no "
                          "selector)", where)
    if not target.interleave:
        raise ConfigError("interleave: False (expected True: the layer machine runs blocks back to back)", where)
    p = lp.core
    if (target.rows, target.cols, target.mults) != (p.rows, p.cols, p.mults):
        raise ConfigError(f"array: {target.rows}x{target.cols}x{target.mults} (expected the RTL's "
                          f"{p.rows}x{p.cols}x{p.mults})", where)
    group = op.nm.group if op.nm is not None else 1
    keep = op.nm.keep if op.nm is not None else 1
    if (keep, group) != (p.keep, p.group):
        raise ConfigError(f"nm: {op.nm} (expected the RTL's {p.nm_text})", where)
    if op.k % group:
        raise ConfigError(f"k: {op.k} (expected a multiple of M = {group})", where)
    if target.fill_cycles != p.fill_cycles:
        raise ConfigError(f"fill_cycles: {target.fill_cycles} (expected the RTL's rows + cols + pipeline depth "
                          f"= {p.fill_cycles})", where)


def lower(op: GemmOp, mp: Mapping, target: ArrayTarget, lp: LayerParams) -> TileProgram:
    """The tile program of `op` under mapping `mp` (module docstring)."""
    check_lowerable(op, mp, target, lp)
    p = lp.core
    R, C, ks = p.rows, p.cols, p.k_step
    walk = tile_walk(op, mp)
    timed = gemm_tiles(op, mp, target)
    ws = mp.dataflow == "ws"
    cmds, tiles = [], []
    slots = {"a": 1, "b": 1, "c": 1}
    addr = 0
    resume_at: dict = {}  # (m0, n0) -> the C segment address of the tile that resumes that block
    pending: dict = {}  # (m0, n0) -> index of the command whose store must go to the resume address
    out_addr: dict = {}
    for t in range(len(walk)):
        m, k, n = int(walk.m[t]), int(walk.k[t]), int(walk.n[t])
        key = (int(walk.m0[t]), int(walk.n0[t]))
        for name, new in (("a", walk.new_a[t]), ("b", walk.new_b[t]), ("c", walk.new_c[t])):
            if new:
                slots[name] ^= 1
        blk_n = _cdiv(n, C)
        if ws:
            blk_a, count = _cdiv(k, R * ks), m
            a_words, b_words, c_rows = blk_a * m, blk_n * blk_a * R, blk_n * m
        else:
            blk_a, count = _cdiv(m, R), _cdiv(k, ks)
            a_words, b_words, c_rows = blk_a * count, blk_n * count, blk_n * blk_a * R
        resume = bool(walk.new_c[t] and not walk.first_k[t])
        ld_a = a_words if walk.new_a[t] else 0
        ld_b = b_words if walk.new_b[t] else 0
        ld_c = c_rows if resume else 0
        cmd = {"ws": int(ws), "blk_a": blk_a, "blk_n": blk_n, "count": count, "a_slot": slots["a"],
               "b_slot": slots["b"], "c_slot": slots["c"], "c_first": int(bool(walk.first_k[t])),
               "ld_a": ld_a, "ld_b": ld_b, "ld_c": ld_c, "ld_addr": addr, "ld_bytes": int(timed.load_bytes[t]),
               "st_rows": c_rows if walk.last_c[t] else 0, "st_addr": 0, "st_bytes": int(timed.store_bytes[t]),
               "_c_rows": c_rows}
        if resume:  # the block's partial sums were stored by an earlier tile: point that store here
            cmds[pending.pop(key)]["st_addr"] = addr + ld_a + ld_b
        addr += ld_a + ld_b + ld_c
        cmds.append(cmd)
        tiles.append({"m0": key[0], "k0": int(walk.k0[t]), "n0": key[1], "m": m, "k": k, "n": n})
        if walk.last_c[t]:
            if walk.final_k[t]:
                out_addr[key] = None
            else:
                pending[key] = t
    assert not pending, "a C block stored mid-k is never resumed"
    for t, cmd in enumerate(cmds):  # finished blocks: the output region after the load runs
        tl = tiles[t]
        key = (tl["m0"], tl["n0"])
        if cmd["st_rows"] and walk.final_k[t]:
            cmd["st_addr"] = addr
            out_addr[key] = addr
            addr += cmd["st_rows"]
    for name, size in (("a_slot", "ld_a"), ("b_slot", "ld_b")):
        worst = max(c[size] for c in cmds)
        if worst > getattr(lp, name):
            raise ConfigError(f"{name}: {getattr(lp, name)} words (expected >= {worst} for {op.name or 'op'})",
                              "LayerParams")
    worst = max(c["_c_rows"] for c in cmds)
    if worst > lp.c_slot or len(cmds) > lp.prog_depth:
        raise ConfigError(f"c_slot {lp.c_slot} / prog_depth {lp.prog_depth} (expected >= {worst} rows and >= "
                          f"{len(cmds)} tiles for {op.name or 'op'})", "LayerParams")
    return TileProgram(op, mp, tuple(cmds), tuple(tiles), out_addr, addr, timed.load_bytes, timed.store_bytes,
                       timed.compute_cycles)


def encode(cmd: dict, lp: LayerParams) -> int:
    """A command as the integer the program memory holds (fields packed in `command_layout` order)."""
    from amaranth.hdl import Shape

    from hwsim.rtl.layer import command_layout

    word = 0
    for name, field in command_layout(lp):
        value = int(cmd[name])
        width = Shape.cast(field.shape).width
        if not 0 <= value < (1 << width):
            raise ConfigError(f"{name}: {value} (expected 0 .. {(1 << width) - 1})", "tile command")
        word |= value << field.offset
    return word


# ---- host side: operands in and results out -------------------------------------------------------------

def _pack(items, bits: int) -> int:
    word, mask = 0, (1 << bits) - 1
    for i, v in enumerate(items):
        word |= (int(v) & mask) << (i * bits)
    return word


def _a_word(a: np.ndarray, rows, cols, bits: int) -> int:
    """A[rows, cols] (zero outside the matrix) packed row-major, element (i, e) at (i * len(cols) + e) * bits."""
    block = np.zeros((len(rows), len(cols)), dtype=np.int64)
    r_ok = [i for i, r in enumerate(rows) if r < a.shape[0]]
    c_ok = [e for e, c in enumerate(cols) if c < a.shape[1]]
    if r_ok and c_ok:
        block[np.ix_(r_ok, c_ok)] = a[np.ix_([rows[i] for i in r_ok], [cols[e] for e in c_ok])]
    return _pack(block.ravel(), bits)


def _b_word(values: np.ndarray, idx: np.ndarray, step: int, col0: int, lp: LayerParams) -> int:
    """The B word of global k step `step` for columns col0 .. col0 + cols - 1: lane (j, l) = compressed row
    step * mults + l of column col0 + j as value | index << width (zero outside the matrix)."""
    p = lp.core
    lanes = []
    for j in range(p.cols):
        for lane in range(p.mults):
            r, c = step * p.mults + lane, col0 + j
            if r < values.shape[0] and c < values.shape[1]:
                lanes.append((int(values[r, c]) & ((1 << p.width) - 1)) | (int(idx[r, c]) << p.width))
            else:
                lanes.append(0)
    return _pack(lanes, p.b_lane_width)


def pack_ddr(prog: TileProgram, lp: LayerParams, a: np.ndarray, values: np.ndarray, idx: np.ndarray) -> dict:
    """Memory words (address -> int) holding every tile's A and B loads; `values`/`idx` are B compressed along
    k (dense: values = B, idx = 0). Partial-sum rows are written by the machine itself."""
    p = lp.core
    R, C, ks, w = p.rows, p.cols, p.k_step, p.width
    mem = {}
    for cmd, tl in zip(prog.commands, prog.tiles):
        addr = cmd["ld_addr"]
        m0, k0, n0 = tl["m0"], tl["k0"], tl["n0"]
        s0 = k0 // ks  # global k step of the tile's first step
        if cmd["ws"]:
            if cmd["ld_a"]:
                for kb in range(cmd["blk_a"]):
                    cols = [k0 + kb * R * ks + q for q in range(R * ks)]
                    cols = [c if c < k0 + tl["k"] else a.shape[1] for c in cols]
                    for t in range(cmd["count"]):
                        mem[addr] = _a_word(a, [m0 + t], cols, w)
                        addr += 1
            if cmd["ld_b"]:
                for nb in range(cmd["blk_n"]):
                    for kb in range(cmd["blk_a"]):
                        for i in range(R):
                            step = s0 + kb * R + i
                            ok = (kb * R + i) * ks < tl["k"]
                            mem[addr] = _b_word(values, idx, step, n0 + nb * C, lp) if ok else 0
                            addr += 1
        else:
            if cmd["ld_a"]:
                for mb in range(cmd["blk_a"]):
                    rows = [m0 + mb * R + i for i in range(R)]
                    rows = [r if r < m0 + tl["m"] else a.shape[0] for r in rows]
                    for s in range(cmd["count"]):
                        cols = [k0 + s * ks + e for e in range(ks)]
                        cols = [c if c < k0 + tl["k"] else a.shape[1] for c in cols]
                        mem[addr] = _a_word(a, rows, cols, w)
                        addr += 1
            if cmd["ld_b"]:
                for nb in range(cmd["blk_n"]):
                    for s in range(cmd["count"]):
                        mem[addr] = _b_word(values, idx, s0 + s, n0 + nb * C, lp)
                        addr += 1
    return mem


def unpack_output(prog: TileProgram, lp: LayerParams, mem: dict, shape: tuple) -> np.ndarray:
    """C (int64) from the finished blocks' rows in memory."""
    p = lp.core
    R, C, aw = p.rows, p.cols, p.acc_width
    out = np.zeros(shape, dtype=np.int64)
    done = {}
    for cmd, tl in zip(prog.commands, prog.tiles):
        key = (tl["m0"], tl["n0"])
        if not cmd["st_rows"] or prog.out_addr.get(key) != cmd["st_addr"]:
            continue
        done[key] = (cmd, tl)
    for (m0, n0), (cmd, tl) in done.items():
        base = cmd["st_addr"]
        for row in range(cmd["st_rows"]):
            if cmd["ws"]:
                nb, r = divmod(row, cmd["count"])
            else:
                nb, rest = divmod(row, cmd["blk_a"] * R)
                r = rest
            word = mem.get(base + row)
            if word is None:
                raise KeyError(f"C row {row} of block ({m0}, {n0}) was never written")
            for j in range(C):
                i, c = m0 + r, n0 + nb * C + j
                if r < tl["m"] and nb * C + j < tl["n"]:
                    v = (word >> (j * aw)) & ((1 << aw) - 1)
                    out[i, c] = v - (1 << aw) if v >> (aw - 1) else v
    if len(done) != len(prog.out_addr):
        raise KeyError(f"{len(prog.out_addr) - len(done)} C blocks have no final store")
    return out


# ---- timing: what the layer machine should take, next to what the simulator charges ------------------------

def transfer_cycles(nbytes: int, words: int, rate: float, latency: int, store: bool) -> int:
    """Cycles of one transfer with the memory the layer machine is tested against (tests/rtl/tb_layer.py): the
    engine's `latency + ceil(bytes / rate)`, but no faster than the machine's one word per cycle (a load's words
    arrive after the latency; a store's rows leave the C bank one per cycle, one cycle after its command, and
    complete a cycle after the last)."""
    if nbytes == 0:
        return 0
    data = math.ceil(nbytes / rate)
    return latency + max(data, words) if not store else max(latency + data, words + 2)


def predict(prog: TileProgram, lp: LayerParams, rate: float, latency: int) -> dict:
    """The engine's machine (hwsim.engine.run_reference: one DMA queue, two slots, stores behind the next load)
    run twice: with the simulator's per-tile durations, and with the layer machine's (LayerParams.tile_cycles,
    `transfer_cycles`). Returns both (cycles, busy) pairs and `bound`, the sum of the per-tile and per-transfer
    differences: the op's total can differ from the simulator's by at most that much (durations enter a
    max-plus recurrence, which moves its result by no more than the sum of the changes)."""
    from hwsim.engine import run_reference

    n = len(prog)
    comp = np.array([lp.tile_cycles(bool(c["ws"]), c["blk_a"] * c["blk_n"], c["count"]) for c in prog.commands],
                    dtype=np.int64)
    sim_ld = np.array([transfer_cycles(int(b), 0, rate, latency, False) for b in prog.load_bytes], dtype=np.int64)
    sim_st = np.array([transfer_cycles(int(b), 0, rate, latency, True) for b in prog.store_bytes], dtype=np.int64)
    rtl_ld = np.array([transfer_cycles(int(b), c["ld_a"] + c["ld_b"] + c["ld_c"], rate, latency, False)
                       for b, c in zip(prog.load_bytes, prog.commands)], dtype=np.int64)
    rtl_st = np.array([transfer_cycles(int(b), c["st_rows"], rate, latency, True)
                       for b, c in zip(prog.store_bytes, prog.commands)], dtype=np.int64)
    offsets, zero = np.array([0, n]), np.zeros(n, dtype=np.int64)

    def run(ld, st, cp):  # durations as "bytes" at one byte per cycle: transfer() adds the latency back
        cyc, busy, _ = run_reference(offsets, np.where(ld > 0, ld - latency, 0), np.where(st > 0, st - latency, 0),
                                     zero, cp, 1.0, latency)
        return int(cyc[0]), int(busy[0])

    sim = run(sim_ld, sim_st, prog.compute_cycles)
    rtl = run(rtl_ld, rtl_st, comp)
    bound = int(np.abs(comp - prog.compute_cycles).sum() + (rtl_ld - sim_ld).sum() + (rtl_st - sim_st).sum())
    return {"sim": sim, "rtl": rtl, "bound": bound, "tile_diff": comp - prog.compute_cycles}
