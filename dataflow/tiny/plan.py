"""Tensor lifetimes and the arena plan of a training step.

A tensor lives from the first op that writes it to the last op that reads or writes it (inclusive: an op
holds its inputs and outputs at once); the graph input lives from op 0; trainable copies (``persistent``)
live through the whole step. The arena planner places every tensor at a byte offset so that no two tensors
alive at the same op overlap: greedy by size (largest first), each at the lowest offset that clears the
tensors already placed whose lifetimes intersect its own (first fit over a sorted gap list). The arena's
peak is the highest byte used; it is at least the largest number of bytes alive at any op (a lower bound
no placement can beat), and usually equal to it or close.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Lifetime:
    """Where a tensor lives in time: ops ``start``..``end`` inclusive."""

    name: str
    nbytes: int
    kind: str
    start: int
    end: int

    def __post_init__(self) -> None:
        if self.nbytes < 0 or self.start < 0 or self.end < self.start:
            raise ValueError(f"lifetime {self.name!r}: bytes {self.nbytes}, ops {self.start}..{self.end} "
                             "(expected bytes >= 0 and 0 <= start <= end)")

    def overlaps(self, other: Lifetime) -> bool:
        return self.start <= other.end and other.start <= self.end


@dataclass(frozen=True)
class Placement:
    """A tensor's lifetime and its offset in the arena."""

    life: Lifetime
    offset: int

    @property
    def top(self) -> int:
        return self.offset + self.life.nbytes


@dataclass(frozen=True)
class ArenaPlan:
    """Every tensor placed. ``peak`` = arena size; ``live[t]`` = bytes alive at op t."""

    placements: tuple[Placement, ...]
    live: tuple[int, ...]

    @property
    def peak(self) -> int:
        return max((p.top for p in self.placements), default=0)

    @property
    def max_live(self) -> int:
        return max(self.live, default=0)


def lifetimes(tensors, ops) -> tuple[Lifetime, ...]:
    """The lifetime of every tensor of a training graph (``tensors`` and ``ops`` as in TrainingGraph)."""
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    for t, op in enumerate(ops):
        for name in op.writes:
            first.setdefault(name, t)
            last[name] = t
        for name in op.reads:
            first.setdefault(name, t)
            last[name] = t
    end = max(len(ops) - 1, 0)
    out = []
    for tensor in tensors:
        if tensor.name not in first:
            continue  # never touched (a saved tensor of a pruned branch)
        if tensor.persistent:
            out.append(Lifetime(tensor.name, tensor.nbytes, tensor.kind, 0, end))
        else:
            start = 0 if tensor.kind == "input" else first[tensor.name]
            out.append(Lifetime(tensor.name, tensor.nbytes, tensor.kind, start, last[tensor.name]))
    return tuple(out)


def live_bytes(lives, n_ops: int) -> tuple[int, ...]:
    """Bytes alive at each op."""
    delta = [0] * (n_ops + 1)
    for life in lives:
        delta[life.start] += life.nbytes
        delta[life.end + 1] -= life.nbytes
    out, acc = [], 0
    for t in range(n_ops):
        acc += delta[t]
        out.append(acc)
    return tuple(out)


def plan_arena(lives, n_ops: int) -> ArenaPlan:
    """Greedy-by-size first-fit placement of ``lives`` (see the module doc)."""
    order = sorted(lives, key=lambda life: (-life.nbytes, life.start, life.name))
    placed: list[Placement] = []
    for life in order:
        busy = sorted((p.offset, p.top) for p in placed if p.life.overlaps(life) and p.life.nbytes)
        offset = 0
        for lo, hi in busy:
            if offset + life.nbytes <= lo:
                break
            offset = max(offset, hi)
        placed.append(Placement(life, offset))
    return ArenaPlan(tuple(sorted(placed, key=lambda p: (p.life.start, p.life.name))), live_bytes(lives, n_ops))
