"""cocotb bench for sat_layer: the host writes a tile program, starts it and serves memory through a DDR model.

DDR model (one request at a time, as the machine issues them): a read of W words and B bytes accepted in cycle x
delivers its words back to back, the last in cycle x + D - 1, D = latency + max(ceil(B / rate), W) (the rate
in bytes per cycle, the latency in cycles: the preset's); a write accepted in cycle x takes its W words from
the write stream and reports completion in cycle x + max(latency + ceil(B / rate), W + 2) - 1. B is the byte
count the tile program gives (the simulator's); W is at most one word per cycle, the width of the machine's
ports. The bench writes the final memory and the measured cycles to HWSIM_LAYER_OUT (JSON); test_layer.py
checks them (bits against hwsim.functional, cycles against the engine)."""
import json
import math
import os

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge


def _bit(sig, cycle: int) -> int:
    """A 1-bit output; X only in the first cycles (Amaranth's comb blocks that no input has triggered yet)."""
    v = sig.value
    if not v.is_resolvable:
        assert cycle < 2, f"cycle {cycle}: {sig._name} is {v}"
        return 0
    return int(v)


def _xfer(sig):
    """(address, words, bytes) of a read/write command (layer.py: addr 32 bits, words 24, bytes 32)."""
    v = int(sig.value)
    return v & 0xFFFF_FFFF, (v >> 32) & 0xFF_FFFF, v >> 56


@cocotb.test()
async def run_layer(dut):
    with open(os.environ["HWSIM_LAYER_IN"]) as f:
        job = json.load(f)
    rate, lat = float(job["bytes_per_cycle"]), int(job["latency"])
    mem = {int(k): int(v) for k, v in job["mem"].items()}
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    for name in ("prog_wr_en", "prog_wr_addr", "prog_wr_data", "run", "n_tiles", "rd_cmd__ready",
                 "rd_data__valid", "rd_data__payload", "wr_cmd__ready", "wr_data__ready", "wr_sts__valid",
                 "wr_sts__payload"):
        getattr(dut, name).value = 0
    dut.rst.value = 1
    for _ in range(3):
        await FallingEdge(dut.clk)
    dut.rst.value = 0
    await FallingEdge(dut.clk)
    for i, word in enumerate(job["program"]):
        dut.prog_wr_en.value = 1
        dut.prog_wr_addr.value = i
        dut.prog_wr_data.value = int(word)
        await FallingEdge(dut.clk)
    dut.prog_wr_en.value = 0
    await FallingEdge(dut.clk)
    dut.rd_cmd__ready.value = 1
    dut.wr_cmd__ready.value = 1
    dut.wr_data__ready.value = 1
    dut.n_tiles.value = len(job["program"])
    dut.run.value = 1
    await FallingEdge(dut.clk)
    dut.run.value = 0
    cycle, busy_cycles = 0, 0
    beats = {}  # cycle -> word to present on rd_data
    write = None  # (address, words received, status cycle)
    sts_at = None
    transfers = []
    limit = int(job["cycle_limit"])
    while True:
        # outputs now show this cycle's state; inputs set now are sampled at the next rising edge
        busy = int(dut.busy.value)
        if not busy:
            break
        busy_cycles += 1
        if int(dut.rd_cmd__valid.value):
            addr, words, nbytes = _xfer(dut.rd_cmd__payload)
            d = lat + max(math.ceil(nbytes / rate), words)
            for i in range(words):
                beats[cycle + d - words + i] = mem[addr + i]
            transfers.append(("load", cycle, d))
        if int(dut.wr_cmd__valid.value):
            addr, words, nbytes = _xfer(dut.wr_cmd__payload)
            d = max(lat + math.ceil(nbytes / rate), words + 2)
            write = [addr, 0, words]
            sts_at = cycle + d - 1
            transfers.append(("store", cycle, d))
        if os.environ.get("HWSIM_LAYER_DEBUG"):
            dut._log.info("cycle %d dstate %s st_rd %s wrv %s dt %s done %s loaded %s crun %s", cycle, dut.dstate.value, dut.st_rd.value, dut.wr_data__valid.value,
                          dut.dt.value, dut.done.value, dut.loaded.value, dut.crun.value)
        if _bit(dut.wr_data__valid, cycle):
            assert write is not None and write[1] < write[2], f"cycle {cycle}: write beat without a write command"
            payload = int(dut.wr_data__payload.value)
            data_bits = len(dut.wr_data__payload) - 1
            mem[write[0] + write[1]] = payload & ((1 << data_bits) - 1)
            write[1] += 1
            assert (payload >> data_bits) == (write[1] == write[2]), f"cycle {cycle}: wrong last flag"
        dut.wr_sts__valid.value = int(cycle == sts_at)
        if cycle == sts_at:
            assert write[1] == write[2], f"cycle {cycle}: write completes with {write[1]} of {write[2]} words"
        word = beats.pop(cycle, None)
        dut.rd_data__valid.value = int(word is not None)
        dut.rd_data__payload.value = 0 if word is None else word
        await FallingEdge(dut.clk)
        cycle += 1
        assert cycle < limit, f"no end after {limit} cycles (tiles done: {int(dut.tiles_done.value)})"
    assert not beats, f"{len(beats)} read words never taken"
    out = {"cycles": busy_cycles, "array_cycles": int(dut.array_cycles.value), "transfers": transfers,
           "tiles_done": int(dut.tiles_done.value), "mem": {str(k): str(v) for k, v in mem.items()}}
    with open(os.environ["HWSIM_LAYER_OUT"], "w") as f:
        json.dump(out, f)
