"""Lifetimes and the arena planner: hand-worked cases and property tests."""
from types import SimpleNamespace

from hypothesis import given, settings
from hypothesis import strategies as st

from hwsim.dataflow.tiny.graph import Tensor
from hwsim.dataflow.tiny.plan import Lifetime, lifetimes, live_bytes, plan_arena


def op(reads=(), writes=()):
    return SimpleNamespace(reads=tuple(reads), writes=tuple(writes))


def test_lifetimes_by_hand():
    """a written at op 0, read at 2; b written at 1, read at 1; p persistent; input lives from op 0."""
    tensors = [Tensor("input", 10, "input", "x"), Tensor("a", 100, "act", "x"), Tensor("b", 50, "act", "x"),
               Tensor("p", 7, "param", "x", True), Tensor("never", 999, "saved", "x")]
    ops = [op(["input"], ["a"]), op(["a"], ["b"]), op(["a", "b"], ["p"])]
    lives = {life.name: (life.start, life.end) for life in lifetimes(tensors, ops)}
    assert lives == {"input": (0, 0), "a": (0, 2), "b": (1, 2), "p": (0, 2)}
    assert live_bytes(lifetimes(tensors, ops), 3) == (117, 157, 157)


def test_planner_by_hand():
    """x (0..1, 100 B) and y (2..3, 100 B) can share offset 0; z (1..2, 10 B) must sit above both: peak 110."""
    lives = [Lifetime("x", 100, "act", 0, 1), Lifetime("y", 100, "act", 2, 3), Lifetime("z", 10, "act", 1, 2)]
    plan = plan_arena(lives, 4)
    offsets = {p.life.name: p.offset for p in plan.placements}
    assert offsets == {"x": 0, "y": 0, "z": 100}
    assert plan.peak == 110 == plan.max_live


_life = st.builds(lambda s, d, n: (s, s + d, n), st.integers(0, 30), st.integers(0, 10), st.integers(0, 5000))


@settings(max_examples=300, deadline=None)
@given(st.lists(_life, min_size=1, max_size=40))
def test_plan_properties(items):
    """No two tensors alive at the same op overlap in the arena; the peak is at least the bytes alive at
    any op and at most the sum of all tensors."""
    lives = [Lifetime(f"t{i}", n, "act", s, e) for i, (s, e, n) in enumerate(items)]
    n_ops = max(e for _, e, _ in items) + 1
    plan = plan_arena(lives, n_ops)
    ps = plan.placements
    for i, a in enumerate(ps):
        assert a.offset >= 0
        for b in ps[i + 1:]:
            if a.life.overlaps(b.life) and a.life.nbytes and b.life.nbytes:
                assert a.top <= b.offset or b.top <= a.offset, (a, b)
    assert plan.peak >= plan.max_live == max(plan.live)
    assert plan.peak <= sum(life.nbytes for life in lives)
    for t in range(n_ops):
        assert plan.live[t] == sum(life.nbytes for life in lives if life.start <= t <= life.end)
