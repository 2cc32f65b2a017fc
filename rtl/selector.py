"""The top-N-of-M selector (SAT's sparse online reduction engine): `lanes` lanes, one dense weight per lane
per cycle, M cycles per group, each group's N largest-magnitude weights out with their in-group indices.

A lane keeps, for every weight of the current group, its value and its running rank
``#{larger magnitude} + #{earlier with equal magnitude}``: a new weight raises the rank of every stored
weight it strictly beats and starts with the count of stored weights at least as large. So among equal
magnitudes the LOWER index ranks first, exactly `hwsim.functional.nm_mask`. Magnitude is exact (|-128| = 128
for int8). When the M-th weight is in, the kept ones (rank < N) are packed in ascending index order, the
compressed format of `hwsim.functional.compress`, while the next group already streams in.
"""
from amaranth.hdl import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hwsim.rtl.params import MIN_SELECT_LATENCY, CoreParams, _ceil_log2


class SelectorLane(wiring.Component):
    """One lane: weights in at `in_valid`/`in_data`; `out_valid` with N values and N indices per group."""

    def __init__(self, keep: int, group: int, width: int, latency: int = MIN_SELECT_LATENCY):
        if not 1 <= keep < group:
            raise ValueError(f"keep={keep}, group={group} (expected 1 <= N < M)")
        if latency < MIN_SELECT_LATENCY:
            raise ValueError(f"latency={latency} (expected >= {MIN_SELECT_LATENCY})")
        self.keep, self.group, self.width, self._latency = keep, group, width, latency
        self.idx_width = _ceil_log2(group)
        super().__init__({
            "in_valid": In(1), "in_data": In(signed(width)),
            "out_valid": Out(1), "out_values": Out(unsigned(keep * width)), "out_idx": Out(unsigned(keep * self.idx_width)),
        })

    @property
    def latency(self) -> int:
        """Cycles from a group's last weight at the input to its result at the outputs."""
        return self._latency

    def elaborate(self, platform):
        n, gm, w = self.keep, self.group, self.width
        m = Module()
        rbits = _ceil_log2(gm + 1)
        vals = [Signal(signed(w), name=f"v{i}") for i in range(gm)]
        mags = [Signal(unsigned(w), name=f"mag{i}") for i in range(gm)]  # |x| fits w unsigned bits
        ranks = [Signal(unsigned(rbits), name=f"rank{i}") for i in range(gm)]
        pos = Signal(range(gm))
        full = Signal()  # the stored group is complete (its last weight came in last cycle)

        x = self.in_data
        mag_new = Signal(unsigned(w))
        m.d.comb += mag_new.eq(Mux(x < 0, -x, x))
        m.d.sync += full.eq(self.in_valid & (pos == gm - 1))
        with m.If(self.in_valid):
            m.d.sync += pos.eq(Mux(pos == gm - 1, 0, pos + 1))
            ge = [Signal(name=f"ge{i}") for i in range(gm)]  # stored i (earlier) ranks before the new one
            for i in range(gm):
                m.d.comb += ge[i].eq((i < pos) & (mags[i] >= mag_new))
                with m.If((i < pos) & (mag_new > mags[i])):
                    m.d.sync += ranks[i].eq(ranks[i] + 1)
                with m.If(pos == i):
                    m.d.sync += [vals[i].eq(x), mags[i].eq(mag_new), ranks[i].eq(_popcount(ge))]

        # pack the kept weights in ascending index order
        kept = [Signal(name=f"kept{i}") for i in range(gm)]
        m.d.comb += [kept[i].eq(ranks[i] < n) for i in range(gm)]
        out_v = [Signal(signed(w), name=f"ov{j}") for j in range(n)]
        out_i = [Signal(unsigned(self.idx_width), name=f"oi{j}") for j in range(n)]
        before = 0  # number of kept weights at lower indices, as a growing sum
        for i in range(gm):
            slot = Signal(range(gm + 1), name=f"slot{i}")
            m.d.comb += slot.eq(before)
            for j in range(n):
                with m.If(kept[i] & (slot == j)):
                    m.d.comb += [out_v[j].eq(vals[i]), out_i[j].eq(i)]
            before = before + kept[i]
        valid, values, idx = full, Cat(*out_v), Cat(*out_i)
        for s in range(self._latency - 1):
            nv, nvals, nidx = Signal(name=f"ovalid_s{s}"), Signal(len(values), name=f"ovals_s{s}"), \
                Signal(len(idx), name=f"oidx_s{s}")
            m.d.sync += [nv.eq(valid), nvals.eq(values), nidx.eq(idx)]
            valid, values, idx = nv, nvals, nidx
        m.d.comb += [self.out_valid.eq(valid), self.out_values.eq(values), self.out_idx.eq(idx)]
        return m


def _popcount(bits):
    total = 0
    for b in bits:
        total = total + b
    return total


class Selector(wiring.Component):
    """`lanes` SelectorLanes in lockstep: lane l's weight in bits l*width.., its result at l*N*width.. ."""

    def __init__(self, p: CoreParams):
        if p.dense:
            raise ValueError("the selector needs an N:M pattern (got dense)")
        self.p = p
        self.lanes = [SelectorLane(p.keep, p.group, p.width, p.select_latency) for _ in range(p.select_lanes)]
        L, n = p.select_lanes, p.keep
        super().__init__({
            "in_valid": In(1), "in_data": In(unsigned(L * p.width)),
            "out_valid": Out(1), "out_values": Out(unsigned(L * n * p.width)),
            "out_idx": Out(unsigned(L * n * p.idx_width)),
        })

    @property
    def latency(self) -> int:
        return self.lanes[0].latency

    def elaborate(self, platform):
        p = self.p
        m = Module()
        w, n, ib = p.width, p.keep, p.idx_width
        for l, lane in enumerate(self.lanes):
            m.submodules[f"lane{l}"] = lane
            m.d.comb += [lane.in_valid.eq(self.in_valid), lane.in_data.eq(self.in_data[l * w:(l + 1) * w].as_signed()),
                         self.out_values[l * n * w:(l + 1) * n * w].eq(lane.out_values),
                         self.out_idx[l * n * ib:(l + 1) * n * ib].eq(lane.out_idx)]
        m.d.comb += self.out_valid.eq(self.lanes[0].out_valid)
        return m
