"""Tests of the bit-exact functional model: N:M selection, compressed format, dense and sparse GEMM."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from hwsim.functional import (
    compress,
    decompress,
    dense_gemm,
    nm_mask,
    sparse_gemm,
    sparse_tile_ops,
    to_bits,
)

PROPERTY = settings(max_examples=200, deadline=None)
GEMM_DTYPES = [np.int8, np.int16, np.float16, np.float32]
F16_SPECIAL = [0.0, -0.0, 1.0, -1.0, 65504.0, -65504.0, 2.0**-24, -(2.0**-24), 2.0**-14, 6.1e-5]
F32_SPECIAL = [0.0, -0.0, 1.0, -1.0, 3.4028235e38, -3.4028235e38, 1e-45, -1e-45, 1.1754944e-38, 16777216.0]


def assert_same(actual: np.ndarray, expected: np.ndarray) -> None:
    """Shape, then dtype, then every bit."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape
    assert actual.dtype == expected.dtype
    np.testing.assert_array_equal(to_bits(actual), to_bits(expected))


def elements(dtype: type, infinity: bool = False) -> st.SearchStrategy:
    """Values of ``dtype`` biased towards extremes, zeros of both signs, subnormals and ties."""
    dt = np.dtype(dtype)
    if dt.kind == "i":
        info = np.iinfo(dt)
        return st.one_of(st.sampled_from([info.min, info.max, 0, -1, 1]), st.integers(int(info.min), int(info.max)))
    special = F16_SPECIAL if dt == np.float16 else F32_SPECIAL
    if infinity:
        special = [*special, np.inf, -np.inf]
    general = st.floats(width=dt.itemsize * 8, allow_nan=False, allow_infinity=infinity)
    return st.one_of(st.sampled_from(special), general)


@st.composite
def nm_pair(draw: st.DrawFn, max_m: int = 8) -> tuple[int, int]:
    """An N:M pair with 1 <= n <= m <= max_m."""
    m = draw(st.integers(1, max_m))
    return draw(st.integers(1, m)), m


@st.composite
def grouped_matrix(draw: st.DrawFn, dtype: type | None = None) -> tuple[np.ndarray, int, int, int]:
    """A 2-D array whose ``axis`` holds whole groups of m, with (n, m, axis)."""
    dtype = dtype or draw(st.sampled_from(GEMM_DTYPES))
    n, m = draw(nm_pair())
    axis = draw(st.sampled_from([0, 1, -1]))
    shape = [draw(st.integers(1, 3)), draw(st.integers(1, 3))]
    shape[axis] = m * draw(st.integers(0, 3))
    return draw(arrays(dtype, tuple(shape), elements=elements(dtype, infinity=True))), n, m, axis


def magnitudes(w: np.ndarray) -> np.ndarray:
    """Exact magnitudes as Python numbers (independent of the model's key)."""
    return np.array([abs(int(x)) if w.dtype.kind == "i" else abs(float(x)) for x in w.ravel()], dtype=object).reshape(
        w.shape
    )


def groups_of(x: np.ndarray, m: int, axis: int) -> np.ndarray:
    """``x`` as rows of m (one row per group), axis last."""
    return np.moveaxis(x, axis, -1).reshape(-1, m)


def reference_mask(w: np.ndarray, n: int, m: int, axis: int) -> np.ndarray:
    """Pairwise-rank definition from the module docstring, in pure Python."""
    mags = groups_of(magnitudes(w), m, axis)
    keep = np.zeros(mags.shape, dtype=bool)
    for g, row in enumerate(mags):
        for i in range(m):
            rank = sum(row[j] > row[i] for j in range(m)) + sum(row[j] == row[i] for j in range(i))
            keep[g, i] = rank < n
    moved = np.moveaxis(w, axis, -1).shape
    return np.moveaxis(keep.reshape(moved), -1, axis)


def pruned(w: np.ndarray, n: int, m: int, axis: int) -> np.ndarray:
    """``w`` with pruned positions set to zero (+0.0 for floats)."""
    return np.where(nm_mask(w, n, m, axis), w, np.zeros((), w.dtype))


def wrap32(s: int) -> int:
    """Python-int two's-complement wrap to 32 bits."""
    return (s + 2**31) % 2**32 - 2**31


def reference_int_gemm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Python ints, wrapped once to int32."""
    r, k = a.shape
    c = b.shape[1]
    return np.array(
        [[wrap32(sum(int(a[i, x]) * int(b[x, j]) for x in range(k))) for j in range(c)] for i in range(r)],
        dtype=np.int32,
    ).reshape(r, c)


def reference_float_gemm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """np.float32 scalars, ascending k from +0.0, canonical NaN."""
    r, k = a.shape
    out = np.zeros((r, b.shape[1]), dtype=np.float32)
    with np.errstate(all="ignore"):
        for i in range(r):
            for j in range(b.shape[1]):
                acc = np.float32(0.0)
                for x in range(k):
                    acc = np.float32(acc + np.float32(np.float32(a[i, x]) * np.float32(b[x, j])))
                out[i, j] = acc
    out[np.isnan(out)] = np.array(0x7FC00000, dtype=np.uint32).view(np.float32)
    return out


# ------------------------------------------------------------------------------------------------ nm_mask


@PROPERTY
@given(grouped_matrix())
def test_mask_keeps_exactly_n_per_group(case: tuple) -> None:
    w, n, m, axis = case
    mask = nm_mask(w, n, m, axis)
    assert mask.shape == w.shape and mask.dtype == bool
    assert (groups_of(mask, m, axis).sum(axis=1) == n).all()


@PROPERTY
@given(grouped_matrix())
def test_mask_kept_magnitudes_dominate_dropped(case: tuple) -> None:
    w, n, m, axis = case
    mags, keep = groups_of(magnitudes(w), m, axis), groups_of(nm_mask(w, n, m, axis), m, axis)
    for row, k in zip(mags, keep):
        if n < m:
            assert min(row[k]) >= max(row[~k])


@PROPERTY
@given(grouped_matrix())
def test_mask_matches_pairwise_rank_definition(case: tuple) -> None:
    w, n, m, axis = case
    assert_same(nm_mask(w, n, m, axis), reference_mask(w, n, m, axis))


@PROPERTY
@given(st.sampled_from(GEMM_DTYPES), nm_pair(max_m=16), st.integers(1, 4))
def test_mask_all_equal_groups_keep_first_n(dtype: type, nm: tuple[int, int], groups: int) -> None:
    n, m = nm
    w = np.full((2, groups * m), 3, dtype=dtype)
    expected = np.tile(np.arange(m) < n, (2, groups))
    assert_same(nm_mask(w, n, m), expected)


def test_mask_ties_between_signs_and_zeros_go_to_lower_index() -> None:
    assert_same(nm_mask(np.array([5, -5, 5, -5], np.int8), 2, 4), np.array([True, True, False, False]))
    signed_zeros = np.array([-0.0, 0.0, -0.0, 0.0, 1.0, -0.0, 0.0, 0.0], np.float16)
    assert_same(nm_mask(signed_zeros, 2, 4), np.array([1, 1, 0, 0, 1, 1, 0, 0], bool))


def test_mask_most_negative_integer_is_largest_magnitude() -> None:
    assert_same(nm_mask(np.array([127, -128, 127, 126], np.int8), 1, 4), np.array([False, True, False, False]))
    assert_same(nm_mask(np.array([32767, -32768], np.int16), 1, 2), np.array([False, True]))
    assert_same(nm_mask(np.array([np.inf, -np.inf, 65504], np.float16), 1, 3), np.array([True, False, False]))


def test_mask_n_equals_m_is_dense_and_axis_is_respected() -> None:
    w = np.arange(-6, 6, dtype=np.int16).reshape(4, 3)
    assert nm_mask(w, 4, 4, axis=0).all()
    assert_same(nm_mask(w, 1, 2, axis=0), nm_mask(w.T, 1, 2, axis=-1).T)


# ---------------------------------------------------------------------------------------- compressed form


@PROPERTY
@given(grouped_matrix())
def test_compress_decompress_round_trip(case: tuple) -> None:
    w, n, m, axis = case
    values, indices = compress(w, n, m, axis)
    expected_shape = list(w.shape)
    expected_shape[axis] = w.shape[axis] * n // m
    assert values.shape == indices.shape == tuple(expected_shape)
    assert values.dtype == w.dtype and indices.dtype == np.uint8
    idx = groups_of(indices, n, axis).astype(int)
    assert ((idx >= 0) & (idx < m)).all() and (np.diff(idx, axis=1) > 0).all()
    assert_same(decompress(values, indices, n, m, axis), pruned(w, n, m, axis))


def test_compress_example_orders_values_by_position() -> None:
    values, indices = compress(np.array([[1, -7, 3, 9, 0, 0, 2, 0]], np.int8), 2, 4)
    assert_same(values, np.array([[-7, 9, 0, 2]], np.int8))
    assert_same(indices, np.array([[1, 3, 0, 2]], np.uint8))


def test_sparse_tile_ops() -> None:
    assert sparse_tile_ops(64, 2, 8) == 16
    assert sparse_tile_ops(64, 8, 8) == 64
    with pytest.raises(ValueError, match="reduction length 60 is not a multiple of m=8"):
        sparse_tile_ops(60, 2, 8)


# --------------------------------------------------------------------------------------------------- GEMM


@st.composite
def sparse_case(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, int, int]:
    """A finite activation matrix and a weight matrix (floats may hold +-inf) with an N:M pair."""
    dtype = draw(st.sampled_from(GEMM_DTYPES))
    n, m = draw(nm_pair())
    r, k, c = draw(st.integers(1, 3)), m * draw(st.integers(0, 3)), draw(st.integers(1, 3))
    a = draw(arrays(dtype, (r, k), elements=elements(dtype)))
    b = draw(arrays(dtype, (k, c), elements=elements(dtype, infinity=True)))
    return a, b, n, m


@PROPERTY
@given(sparse_case())
def test_sparse_gemm_equals_dense_gemm_on_pruned_weights(case: tuple) -> None:
    a, b, n, m = case
    values, indices = compress(b, n, m, axis=0)
    assert_same(sparse_gemm(a, values, indices, n, m), dense_gemm(a, pruned(b, n, m, 0)))


@PROPERTY
@given(st.sampled_from([np.int8, np.int16]), st.data())
def test_int_dense_gemm_matches_python_ints(dtype: type, data: st.DataObject) -> None:
    r, k, c = data.draw(st.integers(1, 3)), data.draw(st.integers(0, 8)), data.draw(st.integers(1, 3))
    a = data.draw(arrays(dtype, (r, k), elements=elements(dtype)))
    b = data.draw(arrays(dtype, (k, c), elements=elements(dtype)))
    assert_same(dense_gemm(a, b), reference_int_gemm(a, b))


@PROPERTY
@given(st.sampled_from([np.float16, np.float32]), st.data())
def test_float_dense_gemm_matches_float32_scalar_loop(dtype: type, data: st.DataObject) -> None:
    r, k, c = data.draw(st.integers(1, 3)), data.draw(st.integers(0, 6)), data.draw(st.integers(1, 3))
    a = data.draw(arrays(dtype, (r, k), elements=elements(dtype, infinity=True)))
    b = data.draw(arrays(dtype, (k, c), elements=elements(dtype, infinity=True)))
    assert_same(dense_gemm(a, b), reference_float_gemm(a, b))


def test_int16_accumulator_wraps_at_32_bits() -> None:
    a = np.full((1, 4), -32768, np.int16)
    b = np.full((4, 1), -32768, np.int16)  # each product is 2**30
    for k, expected in [(1, 2**30), (2, -(2**31)), (3, -(2**30)), (4, 0)]:
        assert_same(dense_gemm(a[:, :k], b[:k]), np.array([[expected]], np.int32))
    assert_same(dense_gemm(a, b, acc_dtype=np.int64), np.array([[2**32]], np.int64))


def test_int8_full_reduction_of_most_negative_values_wraps() -> None:
    k = 2**17 + 4  # 16384 * k exceeds 2**31
    a = np.full((1, k), -128, np.int8)
    b = np.full((k, 1), -128, np.int8)
    assert_same(dense_gemm(a, b), np.array([[wrap32(16384 * k)]], np.int32))
    values, indices = compress(b, 1, 2, axis=0)  # all ties: keeps position 0 of every pair
    assert_same(sparse_gemm(a, values, indices, 1, 2), np.array([[wrap32(16384 * k // 2)]], np.int32))
    assert wrap32(16384 * k) < 0


def test_float_accumulation_is_sequential_in_ascending_k() -> None:
    a = np.array([[4096.0, 1.0, 1.0]], np.float16)  # products 2**24, 1, 1
    b = np.array([[4096.0], [1.0], [1.0]], np.float16)
    assert dense_gemm(a, b)[0, 0] == 2.0**24  # 2**24 + 1 rounds to even twice
    assert dense_gemm(a[:, ::-1], b[::-1])[0, 0] == 2.0**24 + 2
    assert dense_gemm(a, b, acc_dtype=np.float64)[0, 0] == 2.0**24 + 2
    values, indices = compress(np.array([[1.0], [4096.0], [1.0], [1.0]], np.float16), 3, 4, axis=0)
    a4 = np.array([[1.0, 4096.0, 1.0, 1.0]], np.float16)
    assert sparse_gemm(a4, values, indices, 3, 4)[0, 0] == 2.0**24  # kept positions 1, 2, 3 in order


def test_float32_product_is_rounded_before_the_add() -> None:
    e = np.float32(2.0**-12)
    a = np.array([[1.0, 1 + e]], np.float32)
    b = np.array([[-(1 + 2 * e)], [1 + e]], np.float32)  # exact product 1 + 2**-11 + 2**-24, ties to even
    assert_same(dense_gemm(a, b), np.array([[0.0]], np.float32))  # a fused multiply-add would give 2**-24


def test_zero_sums_are_positive_zero() -> None:
    a = np.array([[-0.0, 1.0, -2.0]], np.float16)
    b = np.array([[1.0], [-0.0], [0.0]], np.float16)  # products -0, -0, -0
    assert_same(dense_gemm(a, b), np.array([[0.0]], np.float32))
    assert_same(dense_gemm(a[:, :0], b[:0]), np.array([[0.0]], np.float32))


def test_subnormals_are_kept_and_nans_are_canonical() -> None:
    tiny = np.array([[2.0**-70]], np.float32)
    assert dense_gemm(tiny, tiny)[0, 0] == np.float32(2.0**-140)
    inf_times_zero = dense_gemm(np.array([[np.inf]], np.float16), np.array([[0.0]], np.float16))
    inf_minus_inf = dense_gemm(np.array([[np.inf, 1.0]], np.float32), np.array([[1.0], [-np.inf]], np.float32))
    negative_nan = np.array([[-np.nan]], np.float32)
    for out in (inf_times_zero, inf_minus_inf, dense_gemm(negative_nan, np.ones((1, 1), np.float32))):
        assert to_bits(out)[0, 0] == 0x7FC00000


def test_pruned_infinite_activation_is_never_read_by_sparse_gemm() -> None:
    a = np.array([[np.inf, 2.0]], np.float16)
    b = np.array([[1.0], [3.0]], np.float16)  # 1:2 keeps position 1
    values, indices = compress(b, 1, 2, axis=0)
    assert sparse_gemm(a, values, indices, 1, 2)[0, 0] == 6.0
    assert np.isnan(dense_gemm(a, pruned(b, 1, 2, 0))[0, 0])  # inf * +0.0


# ------------------------------------------------------------------------------------------------ validation


@pytest.mark.parametrize(
    ("n", "m", "message"),
    [
        (0, 4, r"n=0 is out of range for m=4 \(expected 1 <= n <= m"),
        (-1, 4, r"n=-1 is out of range for m=4"),
        (5, 4, r"n=5 is out of range for m=4"),
        (1, 0, r"m=0 is out of range \(expected 1 <= m <= 256"),
        (1, 300, r"m=300 is out of range"),
    ],
)
def test_bad_nm_is_rejected(n: int, m: int, message: str) -> None:
    w = np.zeros((2, 8), np.int8)
    for call in (lambda: nm_mask(w, n, m), lambda: compress(w, n, m), lambda: sparse_tile_ops(8, n, m)):
        with pytest.raises(ValueError, match=message):
            call()


def test_bad_inputs_to_nm_mask_are_rejected() -> None:
    with pytest.raises(ValueError, match="axis length 6 is not a multiple of m=4"):
        nm_mask(np.zeros((2, 6), np.int8), 2, 4)
    with pytest.raises(ValueError, match="w contains NaN"):
        nm_mask(np.array([1.0, np.nan], np.float32), 1, 2)
    with pytest.raises(TypeError, match="unsupported dtype bool"):
        nm_mask(np.zeros(4, bool), 1, 2)
    with pytest.raises(TypeError, match=r"n must be an int, got 2.0"):
        nm_mask(np.zeros(4, np.int8), 2.0, 4)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="0-d"):
        nm_mask(np.int8(3), 1, 1)


def test_bad_compressed_operands_are_rejected() -> None:
    values, indices = compress(np.arange(8, dtype=np.int8).reshape(1, 8), 2, 4)
    with pytest.raises(ValueError, match=r"values shape \(1, 4\) and indices shape \(1, 3\) differ"):
        decompress(values, indices[:, :3], 2, 4)
    with pytest.raises(ValueError, match=r"indices span 0..4 \(expected positions within a group, 0..3\)"):
        decompress(values, np.array([[0, 1, 0, 4]], np.uint8), 2, 4)
    with pytest.raises(ValueError, match="not strictly ascending"):
        decompress(values, np.array([[1, 1, 0, 3]], np.uint8), 2, 4)
    with pytest.raises(TypeError, match="indices must be integers"):
        decompress(values, indices.astype(np.float32), 2, 4)


def test_bad_gemm_operands_are_rejected() -> None:
    a8, b8 = np.zeros((2, 3), np.int8), np.zeros((4, 2), np.int8)
    with pytest.raises(ValueError, match=r"a shape \(2, 3\) and b shape \(4, 2\) do not chain"):
        dense_gemm(a8, b8)
    with pytest.raises(ValueError, match=r"a must be 2-D, got shape \(3,\)"):
        dense_gemm(np.zeros(3, np.int8), b8)
    with pytest.raises(TypeError, match="operand dtypes differ: int8 and int16"):
        dense_gemm(a8, np.zeros((3, 2), np.int16))
    with pytest.raises(TypeError, match="unsupported operand dtype float64"):
        dense_gemm(np.zeros((2, 3)), np.zeros((3, 2)))
    with pytest.raises(TypeError, match="acc_dtype float32 is not supported for int8 operands"):
        dense_gemm(a8, np.zeros((3, 2), np.int8), acc_dtype=np.float32)

    a = np.zeros((2, 8), np.float16)
    values, indices = compress(np.ones((8, 3), np.float16), 2, 4, axis=0)
    with pytest.raises(ValueError, match=r"a shape \(2, 8\) and values shape \(2, 3\) do not chain"):
        sparse_gemm(a, values[:2], indices[:2], 2, 4)
    with pytest.raises(ValueError, match=r"reduction \(a's K\) length 6 is not a multiple of m=4"):
        sparse_gemm(a[:, :6], values, indices, 2, 4)
    with pytest.raises(ValueError, match=r"values shape \(4, 3\) and indices shape \(4, 2\) differ"):
        sparse_gemm(a, values, indices[:, :2], 2, 4)
    with pytest.raises(ValueError, match="indices span"):
        sparse_gemm(a, values, indices + 3, 2, 4)
    with pytest.raises(TypeError, match="operand dtypes differ: float16 and float32"):
        sparse_gemm(a, values.astype(np.float32), indices, 2, 4)
