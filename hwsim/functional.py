"""Bit-exact functional model of the SAT compute core: N:M selection, the compressed format, dense and
N:M sparse GEMM.

This is the golden model the RTL is checked against bit for bit, so every arithmetic choice is stated here.
Plain numpy, no simulator imports.

N:M selection (``nm_mask``, what the SORE top-N-of-M lanes compute)
--------------------------------------------------------------------
* Groups are ``m`` consecutive elements along ``axis``: group ``g`` holds positions ``g*m .. g*m+m-1``.
  The axis length must be a multiple of ``m``. ``1 <= n <= m <= 256``; ``n == m`` keeps everything (dense).
* Magnitude is exact. Signed integers: ``|x|`` computed in 64 bits, so int8 ``-128`` has magnitude 128,
  the largest of any int8 (likewise int16 ``-32768``). Unsigned integers: ``x``. Floats: ``|x|``;
  ``-0.0`` and ``+0.0`` both have magnitude 0 (a tie, broken by index); ``+-inf`` is the largest
  magnitude; NaN is rejected with ValueError (its rank is undefined).
* Rank of element ``i`` in its group: ``r_i = #{j : mag_j > mag_i} + #{j < i : mag_j == mag_i}``.
  Element ``i`` is kept iff ``r_i < n``. Exactly ``n`` elements per group are kept; among equal
  magnitudes the LOWER index wins. (Same as a stable sort by descending magnitude, keeping the first n.)

Compressed format (``compress`` / ``decompress``)
-------------------------------------------------
Along ``axis`` a length ``L`` becomes ``L*n/m``; group ``g`` occupies slots ``g*n .. g*n+n-1``.
``values`` are the kept elements in ascending position order; ``indices`` (uint8) are their positions
inside the group, ``0..m-1``, strictly ascending within each group. Pruned positions decompress to zero
(``+0.0`` for floats).

GEMM (``dense_gemm`` / ``sparse_gemm``): ``C[R, C] = A[R, K] @ B[K, C]``
------------------------------------------------------------------------
For ``sparse_gemm`` B is compressed along K (axis 0), shape ``(K*n/m, C)``: for output column ``c`` and
group ``g`` the PE takes the ``m`` activations ``A[r, g*m .. g*m+m-1]`` and ``n`` weights, and multiplies
each weight by the activation at ``g*m + index`` (one step per group, ``n`` multiplies; see
``sparse_tile_ops``). Both operands must have the same dtype; it selects the mode:

Integer mode (int8 or int16):
  * Products are exact (int8*int8 needs 15 bits, int16*int16 31 bits incl. ``(-32768)**2 == 2**30``).
  * The accumulator is 32-bit two's complement (``acc_dtype=np.int32``, the default) and WRAPS modulo
    ``2**32`` on every add. Addition modulo ``2**32`` is associative, so the order of accumulation does not
    matter; the model sums exactly in int64 (no overflow possible for ``K < 2**33``) and reduces once:
    ``result = ((s + 2**31) mod 2**32) - 2**31``.
  * ``acc_dtype=np.int64`` models a 64-bit accumulator (exact for ``K < 2**33``).

Float mode (float16 or float32), output float32 (``acc_dtype=np.float64`` for a wider what-if):
  * Operands are converted exactly to the accumulator format. float16 products are exact in float32
    (11x11 significant bits <= 24; magnitudes from ``2**-48`` to ``65504**2 < 2**32`` are normal float32).
    float32 products are rounded to nearest even. There is NO fused multiply-add: the product is
    rounded, then the add is rounded.
  * The accumulator starts at ``+0.0`` and every product is ADDED to it (the first product is not loaded),
    sequentially in ascending k (sparse: ascending kept positions, i.e. the dense order restricted to the
    kept ones), each add rounded to nearest, ties to even. BLAS is never used because it reorders sums.
  * IEEE-754 gradual underflow (subnormals kept, no flush-to-zero); overflow rounds to ``+-inf``.
    In float16 mode every product and partial sum is a multiple of ``2**-48``, so float32 subnormals never
    arise and flush-to-zero would be invisible; in float32 mode they can and must be kept.
  * Signed zeros: under round-to-nearest ``x + y == -0.0`` only if ``x == y == -0.0``, and the accumulator
    starts at ``+0.0``, so it never holds ``-0.0``. Hence adding a ``+-0.0`` product never changes it, a
    GEMM whose products are all zero returns ``+0.0``, and skipping zero products is invisible:
    ``sparse_gemm(a, *compress(b, n, m, axis=0), n, m) == dense_gemm(a, decompress(...))`` bit for bit
    whenever the activations at pruned positions are finite. (A pruned ``+-inf``/NaN activation times the
    zero weight is NaN in the dense GEMM; the sparse PE never reads it.)
  * inf and NaN follow IEEE (``inf*0`` and ``inf + -inf`` are NaN, NaN propagates). Every NaN in the
    output is the canonical quiet NaN ``0x7FC00000`` (float64: ``0x7FF8000000000000``): NaN sign and
    payload are not modelled.
  * The FP16 RTL PE (``hwsim.rtl.fp``, docs/rtl-datapath.md) implements exactly this order: its ``mults``
    products are added to the accumulator one at a time in multiplier order, which is ascending reduction
    position (OS from +0.0 on a tile's first step; WS onto the partial sum from the PE above, +0.0 in the
    top row), through a chain of round-to-nearest-even fp32 adders; no adder tree.

Shape mismatches raise ValueError naming both shapes; unsupported or mixed dtypes raise TypeError.
"""

import numpy as np

INT_INPUTS = (np.dtype(np.int8), np.dtype(np.int16))
FLOAT_INPUTS = (np.dtype(np.float16), np.dtype(np.float32))
INT_ACCS = (np.dtype(np.int32), np.dtype(np.int64))
FLOAT_ACCS = (np.dtype(np.float32), np.dtype(np.float64))
MAX_M = 256  # indices are uint8
CANONICAL_NAN_BITS = {np.dtype(np.float32): 0x7FC0_0000, np.dtype(np.float64): 0x7FF8_0000_0000_0000}


# ---------------------------------------------------------------------------------------------- validation


def _check_nm(n: int, m: int) -> None:
    """Reject N:M pairs outside ``1 <= n <= m <= 256``."""
    for name, value in (("n", n), ("m", m)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{name} must be an int, got {value!r} ({type(value).__name__})")
    if not 1 <= m <= MAX_M:
        raise ValueError(f"m={m} is out of range (expected 1 <= m <= {MAX_M}, indices are uint8)")
    if not 1 <= n <= m:
        raise ValueError(f"n={n} is out of range for m={m} (expected 1 <= n <= m; n == m is dense)")


def _check_groups(length: int, m: int, what: str) -> None:
    """The axis being grouped must hold a whole number of groups of m."""
    if length % m:
        raise ValueError(f"{what} length {length} is not a multiple of m={m}")


def _grouped(x: np.ndarray, m: int, axis: int) -> np.ndarray:
    """View ``x`` with ``axis`` moved last and split into ``(..., L/m, m)`` groups."""
    if x.ndim == 0:
        raise ValueError("expected an array with at least 1 dimension, got a 0-d array")
    moved = np.moveaxis(x, axis, -1)
    _check_groups(moved.shape[-1], m, "axis")
    return moved.reshape(*moved.shape[:-1], moved.shape[-1] // m, m)


def _ungrouped(g: np.ndarray, axis: int) -> np.ndarray:
    """Inverse of ``_grouped``: merge the last two axes and move the result back to ``axis``."""
    flat = g.reshape(*g.shape[:-2], g.shape[-2] * g.shape[-1])
    return np.moveaxis(flat, -1, axis)


# ------------------------------------------------------------------------------------------------ N:M mask


def magnitude_key(w: np.ndarray) -> np.ndarray:
    """Sort key that orders elements by DESCENDING exact magnitude (ascending key = larger magnitude).

    Integers: 64-bit magnitude as uint64, bit-inverted (so -128 in int8 maps to ~128). Floats: ``-|x|``
    in float64 (exact for float16/32/64). NaN raises ValueError; bool and complex raise TypeError.
    """
    kind = w.dtype.kind
    if kind == "i":
        x = w.astype(np.int64)
        mag = np.where(x < 0, (~x).astype(np.uint64) + np.uint64(1), x.astype(np.uint64))
        return ~mag
    if kind == "u":
        return ~w.astype(np.uint64)
    if kind == "f":
        if np.isnan(w).any():
            raise ValueError("w contains NaN (expected no NaN: its N:M magnitude rank is undefined)")
        return -np.abs(w.astype(np.float64))
    raise TypeError(f"unsupported dtype {w.dtype} for N:M selection (expected a signed/unsigned int or float)")


def _kept_positions(w: np.ndarray, n: int, m: int, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(groups, positions)``: ``w`` grouped as ``(..., G, m)`` and the kept in-group positions
    ``(..., G, n)`` in ascending order (stable descending-magnitude sort, first n)."""
    _check_nm(n, m)
    groups = _grouped(np.asarray(w), m, axis)
    order = np.argsort(magnitude_key(groups), axis=-1, kind="stable")
    return groups, np.sort(order[..., :n], axis=-1)


def nm_mask(w: np.ndarray, n: int, m: int, axis: int = -1) -> np.ndarray:
    """Boolean mask keeping the ``n`` largest-magnitude of every ``m`` consecutive elements along ``axis``
    (ties to the lower index); see the module docstring for the exact rank definition."""
    groups, pos = _kept_positions(w, n, m, axis)
    mask = np.zeros(groups.shape, dtype=bool)
    np.put_along_axis(mask, pos, True, axis=-1)
    return _ungrouped(mask, axis)


# ----------------------------------------------------------------------------------------- compressed form


def compress(w: np.ndarray, n: int, m: int, axis: int = -1) -> tuple[np.ndarray, np.ndarray]:
    """N:M-prune ``w`` along ``axis`` and pack it: ``(values, indices)``, each with that axis ``L*n/m`` long.

    ``values`` keep ``w``'s dtype, in ascending position order; ``indices`` are uint8 in-group positions.
    """
    groups, pos = _kept_positions(w, n, m, axis)
    values = np.take_along_axis(groups, pos, axis=-1)
    return _ungrouped(values, axis), _ungrouped(pos.astype(np.uint8), axis)


def _check_indices(indices: np.ndarray, n: int, m: int) -> None:
    """Grouped indices ``(..., G, n)`` must be integers in ``0..m-1``, strictly ascending in each group."""
    if indices.dtype.kind not in "iu":
        raise TypeError(f"indices must be integers, got dtype {indices.dtype}")
    if indices.size and (indices.min() < 0 or indices.max() >= m):
        raise ValueError(
            f"indices span {indices.min()}..{indices.max()} (expected positions within a group, 0..{m - 1})"
        )
    if n > 1 and not (np.diff(indices.astype(np.int64), axis=-1) > 0).all():
        raise ValueError("indices are not strictly ascending within every group of n (expected compress order)")


def decompress(values: np.ndarray, indices: np.ndarray, n: int, m: int, axis: int = -1) -> np.ndarray:
    """Expand ``compress`` output back to dense along ``axis`` (length ``L*m/n``), zeros where pruned.

    ``decompress(*compress(w, n, m, axis), n, m, axis) == np.where(nm_mask(w, n, m, axis), w, 0)``.
    """
    _check_nm(n, m)
    values, indices = np.asarray(values), np.asarray(indices)
    if values.shape != indices.shape:
        raise ValueError(f"values shape {values.shape} and indices shape {indices.shape} differ (expected equal)")
    vals = _grouped(values, n, axis)  # (..., G, n)
    idx = _grouped(indices, n, axis)
    _check_indices(idx, n, m)
    dense = np.zeros((*vals.shape[:-1], m), dtype=values.dtype)
    np.put_along_axis(dense, idx.astype(np.intp), vals, axis=-1)
    return _ungrouped(dense, axis)


def sparse_tile_ops(k: int, n: int, m: int) -> int:
    """Multiplies a PE performs for a reduction of length ``k`` under N:M: ``k*n/m`` (dense: ``n == m``, k).

    A PE consumes one group per step: ``m`` activations and ``n`` weights, ``n`` multiplies, so a reduction
    of ``k`` takes ``k/m`` steps of ``n`` multiplies each.
    """
    _check_nm(n, m)
    _check_groups(k, m, "reduction")
    return k * n // m


# --------------------------------------------------------------------------------------------------- GEMM


def _mode(a: np.ndarray, b: np.ndarray, acc_dtype: object) -> np.dtype:
    """Validate operand dtypes and return the accumulator dtype (int32/float32 unless overridden)."""
    if a.dtype != b.dtype:
        raise TypeError(
            f"operand dtypes differ: {a.dtype} and {b.dtype} (expected both int8, int16, float16 or float32)"
        )
    if a.dtype in INT_INPUTS:
        allowed, default = INT_ACCS, np.dtype(np.int32)
    elif a.dtype in FLOAT_INPUTS:
        allowed, default = FLOAT_ACCS, np.dtype(np.float32)
    else:
        raise TypeError(f"unsupported operand dtype {a.dtype} (expected int8, int16, float16 or float32)")
    acc = default if acc_dtype is None else np.dtype(acc_dtype)
    if acc not in allowed:
        names = ", ".join(str(d) for d in allowed)
        raise TypeError(f"acc_dtype {acc} is not supported for {a.dtype} operands (expected one of {names})")
    return acc


def _check_2d(x: np.ndarray, name: str) -> None:
    """GEMM operands are matrices."""
    if x.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got shape {x.shape}")


def wrap_int(s: np.ndarray, acc: np.dtype) -> np.ndarray:
    """Reduce exact int64 sums to a two's-complement accumulator of ``acc``'s width (wraparound)."""
    bits = acc.itemsize * 8
    if bits == 64:
        return s.astype(np.int64)
    low = (s.astype(np.uint64) & np.uint64((1 << bits) - 1)).astype(np.int64)
    return np.where(low >= 1 << (bits - 1), low - (1 << bits), low).astype(acc)


def _canonical_nan(acc: np.ndarray) -> np.ndarray:
    """Replace every NaN (any sign or payload) by the canonical quiet NaN of the accumulator format."""
    nan = np.array(CANONICAL_NAN_BITS[acc.dtype], dtype=f"u{acc.dtype.itemsize}").view(acc.dtype)
    acc[np.isnan(acc)] = nan
    return acc


def dense_gemm(a: np.ndarray, b: np.ndarray, acc_dtype: object = None) -> np.ndarray:
    """``A[R, K] @ B[K, C]`` with the core's arithmetic (module docstring): int32 wraparound or
    sequential ascending-k float32 accumulation from +0.0."""
    a, b = np.asarray(a), np.asarray(b)
    acc_t = _mode(a, b, acc_dtype)
    _check_2d(a, "a")
    _check_2d(b, "b")
    if a.shape[1] != b.shape[0]:
        raise ValueError(f"a shape {a.shape} and b shape {b.shape} do not chain (expected a[R, K] @ b[K, C])")
    if acc_t.kind == "i":
        return wrap_int(a.astype(np.int64) @ b.astype(np.int64), acc_t)  # exact: order-free
    aw, bw = a.astype(acc_t), b.astype(acc_t)
    acc = np.zeros((a.shape[0], b.shape[1]), dtype=acc_t)
    with np.errstate(all="ignore"):
        for k in range(a.shape[1]):
            acc += aw[:, k, None] * bw[None, k, :]  # rounded product, then rounded add (no FMA)
    return _canonical_nan(acc)


def kept_rows(indices: np.ndarray, n: int, m: int) -> np.ndarray:
    """Absolute reduction positions ``g*m + index`` of every compressed weight, shape ``(K*n/m, C)``."""
    group = np.arange(indices.shape[0], dtype=np.intp)[:, None] // n
    return group * m + indices.astype(np.intp)


def sparse_gemm(
    a: np.ndarray, values: np.ndarray, indices: np.ndarray, n: int, m: int, acc_dtype: object = None
) -> np.ndarray:
    """``A[R, K] @ B`` with B N:M-compressed along K (``values``/``indices`` of shape ``(K*n/m, C)``).

    Each PE multiplies its kept weights by the activations they index, in ascending kept position, with
    the same arithmetic as ``dense_gemm``; pruned positions are never read.
    """
    a, values, indices = np.asarray(a), np.asarray(values), np.asarray(indices)
    acc_t = _mode(a, values, acc_dtype)
    _check_nm(n, m)
    _check_2d(a, "a")
    _check_2d(values, "values")
    if indices.shape != values.shape:
        raise ValueError(f"values shape {values.shape} and indices shape {indices.shape} differ (expected equal)")
    _check_groups(a.shape[1], m, "reduction (a's K)")
    if values.shape[0] * m != a.shape[1] * n:
        raise ValueError(
            f"a shape {a.shape} and values shape {values.shape} do not chain "
            f"(expected values with K*n/m = {a.shape[1] * n // m} rows for {n}:{m})"
        )
    _check_indices(_grouped(indices, n, 0), n, m)  # (C, G, n)
    rows = kept_rows(indices, n, m)
    wide = np.int64 if acc_t.kind == "i" else acc_t
    aw, vw = a.astype(wide), values.astype(wide)
    acc = np.zeros((a.shape[0], values.shape[1]), dtype=wide)
    with np.errstate(all="ignore"):
        for j in range(values.shape[0]):
            acc += aw[:, rows[j]] * vw[None, j, :]  # column c reads activation a[:, rows[j, c]]
    return wrap_int(acc, acc_t) if acc_t.kind == "i" else _canonical_nan(acc)


def to_bits(x: np.ndarray) -> np.ndarray:
    """The raw bit patterns of ``x`` as unsigned integers of the same width (for bit-exact comparisons)."""
    x = np.asarray(x)
    return x.view(f"u{x.dtype.itemsize}")
