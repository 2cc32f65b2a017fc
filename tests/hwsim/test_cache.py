"""The schedule caches (by op shape and the part of the target an op depends on) never change a result."""
from hypothesis import given, settings
from hypothesis import strategies as st

from hwsim.config import load_arch
from hwsim.simulation import set_caching, simulate

KNOBS = {
    "array.rows": [4, 8, 16], "array.cols": [4, 8, 16], "array.mults_per_pe": [2, 4],
    "vector.lanes": [4, 16, 64], "vector.latency": [2, 8], "selector.lanes": [4, 32],
    "dram.channels": [1, 2], "array.pipeline_depth": [3, 6], "buffers.b_kib": [64, 256],
}


_BASE = {"buffers.a_kib": 512, "buffers.c_kib": 512}
_WARM = [load_arch("sat-vcu1525", {**_BASE, **{k: v[0] for k, v in KNOBS.items()}, knob: KNOBS[knob][-1]})
         for knob in KNOBS]


@settings(max_examples=25, deadline=None)
@given(st.fixed_dictionaries({k: st.sampled_from(v) for k, v in KNOBS.items()}),
       st.sampled_from(["resnet9", "vit", "mobilenetv2"]), st.sampled_from([("dense", None), ("bdwp", "2:8"),
                                                                            ("srste", "2:4")]),
       st.booleans())
def test_cached_equals_uncached(changes, model, method, interleave):
    cfg = load_arch("sat-vcu1525", {**changes, **_BASE})
    kw = dict(batch=2, interleave=interleave, resolution=32 if model != "vit" else None)
    # The cache lives across examples (the module's _WARM configs and every earlier example): a projection of
    # the target that drops something an op depends on returns another config's schedule and fails here.
    for neighbour in _WARM:
        simulate(model, neighbour, *method, **kw)
    cached = simulate(model, cfg, *method, **kw)
    try:
        set_caching(False)
        plain = simulate(model, cfg, *method, **kw)
    finally:
        set_caching(True)
    assert cached.ops.equals(plain.ops)


@settings(max_examples=20, deadline=None)
@given(st.fixed_dictionaries({k: st.sampled_from(v) for k, v in KNOBS.items()}),
       st.sampled_from(["resnet9", "vit", "mobilenetv2"]), st.sampled_from([("dense", None), ("bdwp", "2:8"),
                                                                            ("srste", "2:4")]),
       st.sampled_from(["latency", "energy", "edp"]), st.booleans())
def test_fast_paths_equal_the_plain_computation(changes, model, method, objective, offline):
    """Issue 12's fast paths (candidate kernel, tile walk, shared unit parts, vectorized energy) change no number:
    the same table as the plain computation, with the caches on and off."""
    from hwsim.simulation import clear_caches, set_fast

    cfg = load_arch("sat-vcu1525", {**changes, **_BASE})
    kw = dict(batch=2, resolution=32 if model != "vit" else None, objective=objective, offline=offline)
    fast = simulate(model, cfg, *method, **kw)
    try:
        set_fast(False)
        clear_caches()
        plain = simulate(model, cfg, *method, **kw)
        set_caching(False)
        plain_uncached = simulate(model, cfg, *method, **kw)
    finally:
        set_fast(True)
        set_caching(True)
    assert fast.ops.equals(plain.ops)
    assert fast.ops.equals(plain_uncached.ops)


def test_memo_bounds_entries_and_weight_and_keeps_keys_alive():
    from hwsim.simulation import _Memo

    memo = _Memo(3, weight=len, max_weight=10)
    keys = [object() for _ in range(5)]
    made = []

    def make(n):
        def f():
            made.append(n)
            return "x" * n
        return f

    assert memo.get((keys[0],), (), make(4)) == "xxxx"
    assert memo.get((keys[0],), (), make(4)) == "xxxx" and made == [4]  # a hit: not made again
    memo.get((keys[1],), (), make(4))
    memo.get((keys[2],), (), make(4))  # 12 > 10: the oldest (keys[0]) goes
    assert memo.held == 8 and len(memo.entries) == 2
    memo.get((keys[0],), (), make(4))
    assert made == [4, 4, 4, 4]
    assert memo.get((keys[3],), (), make(11)) == "x" * 11  # heavier than the bound: returned, not kept
    assert len(memo.entries) == 2 and memo.held == 8
    assert all(entry[0][0] in keys for entry in memo.entries.values())  # the keyed objects are held
    memo.clear()
    assert memo.held == 0 and not memo.entries
