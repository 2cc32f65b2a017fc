"""The roofline estimate's numba kernel (`engine.roofline`) equals its numpy expression bit for bit."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from hwsim.engine.roofline import roofline_cycles
from hwsim.simulation import RooflineCost

count = st.floats(0.0, 1e12, allow_nan=False, allow_infinity=False)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(count, count, st.integers(1, 10**7)), min_size=1, max_size=50),
       st.floats(0.01, 1e4, allow_nan=False), st.integers(0, 10**4))
def test_kernel_equals_numpy(rows, bpc, latency):
    compute, dram, tiles = (np.array(c, dtype=np.float64) for c in zip(*rows))
    cost = RooflineCost(bpc, latency)
    want = cost.estimate(compute, dram, tiles)
    np.testing.assert_array_equal(roofline_cycles(compute, dram, tiles, float(bpc), float(latency)), want)
    np.testing.assert_array_equal(cost(compute, dram, tiles), want)


def test_ties_and_a_single_tile():
    compute = np.array([100.0, 0.0, 7.0])
    dram = np.array([100.0, 0.0, 1e9])
    tiles = np.array([1.0, 1.0, 3.0])
    got = roofline_cycles(compute, dram, tiles, 1.0, 0.0)
    np.testing.assert_array_equal(got, [200.0, 0.0, 1e9 + 7.0 / 3.0])
