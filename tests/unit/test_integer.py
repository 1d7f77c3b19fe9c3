"""core/integer.py: the engine's integers equal exact arithmetic: rounding shifts and
requantization against the float quantizer, shift-adds against an integer product,
im2col against a direct convolution."""
from fractions import Fraction
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from inq_layer.core import fixed_point, integer


@settings(max_examples=300, deadline=None)
@given(st.integers(-2**40, 2**40), st.integers(-8, 30))
def test_round_shift_is_floor_of_half_up(x, r):
    want = math.floor(Fraction(x, 2 ** r) + Fraction(1, 2)) if r > 0 else x * 2 ** -r
    assert int(integer.round_shift(np.array([x]), r)[0]) == want


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-2**20, 2**20), min_size=1, max_size=30), st.integers(-4, 12), st.integers(2, 16),
       st.integers(-6, 14), st.booleans())
def test_requantize_is_the_quantizer_layer_on_exact_values(qs, f_in, bits, f_out, signed):
    q = np.array(qs, np.int64)
    x = (q.astype(np.float64) * 2.0 ** -f_in).astype(np.float32)
    if not np.array_equal(x.astype(np.float64) * 2.0 ** f_in, q):  # not exact in float32: not this test's case
        return
    want = fixed_point.to_int(x, bits, f_out, signed)
    assert np.array_equal(integer.requantize(q, f_in, bits, f_out, signed), want)


def test_weight_levels_split_powers_of_two_by_exponent():
    w = np.array([[0.5, -0.25, 0], [0.125, 0.5, -0.5]], np.float32)
    n2, lv = integer.weight_levels(w)
    assert n2 == -3 and sorted(lv) == [-3, -2, -1]
    assert lv[-1].tolist() == [[1, 0, 0], [0, 1, -1]] and lv[-2].tolist() == [[0, -1, 0], [0, 0, 0]]
    assert integer.weight_levels(np.zeros(3, np.float32)) == (0, {})
    with pytest.raises(ValueError, match="is not 0 or \\+-2\\^e"):
        integer.weight_levels(np.array([0.3], np.float32))


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 6), st.integers(1, 40), st.integers(1, 7), st.integers(0, 2**31 - 1))
def test_shift_add_equals_the_integer_product(n, k, m, seed):
    rng = np.random.default_rng(seed)
    e = rng.integers(-9, -1, (k, m))
    w = (rng.choice([-1, 0, 1], (k, m)) * 2.0 ** e).astype(np.float32)
    cols = rng.integers(-2**15, 2**15, (n, k))
    n2, lv = integer.weight_levels(w)
    if not lv:
        return
    w_int = np.rint(w.astype(np.float64) * 2.0 ** -n2).astype(np.int64)
    assert np.array_equal(integer.shift_add(cols, lv, n2), cols @ w_int)
    assert integer.accumulator_bound(2**15, lv, n2, None) >= np.abs(cols @ w_int).max()


def test_im2col_matches_a_direct_convolution_with_stride_pad_and_dilation():
    rng = np.random.default_rng(0)
    x = rng.integers(-50, 50, (2, 3, 7, 6))
    w = rng.integers(-3, 4, (4, 3, 3, 2))
    cols, oh, ow = integer.im2col(x, (3, 2), (2, 1), (1, 2), (2, 1))
    got = (cols @ w.reshape(4, -1).T).reshape(2, oh, ow, 4).transpose(0, 3, 1, 2)
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (2, 2)))
    want = np.zeros_like(got)
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, :, i * 2:i * 2 + 5:2, j:j + 2]
            want[:, :, i, j] = np.einsum("nchw,ochw->no", patch, w)
    assert np.array_equal(got, want)


def test_fixed_multiplier_keeps_24_significant_bits():
    v = np.array([0.1, 3.0, -0.7])
    m, k = integer.fixed_multiplier(v)
    assert 2**23 <= np.abs(m).max() < 2**24  # the largest uses all 24 bits
    assert np.all(np.abs(m * 2.0 ** -k - v) <= 2.0 ** -(k + 1))  # each rounded to the nearest step


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(-2**31, 2**31 - 1), min_size=1, max_size=20),
       st.sampled_from([np.int16, np.int32, np.int64]), st.integers(-20, 33), st.integers(2, 16), st.booleans())
def test_requantize_in_a_narrow_type_equals_exact_rounding_and_saturation(qs, dtype, r, bits, signed):
    info = np.iinfo(dtype)
    q = np.clip(np.array(qs, np.int64), info.min, info.max)
    lo, hi = fixed_point.int_range(bits, signed)
    want = [min(hi, max(lo, math.floor(Fraction(int(v)) / Fraction(2) ** r + Fraction(1, 2)))) for v in q]
    got = integer.requantize(q.astype(dtype), r, bits, 0, signed)
    assert got.tolist() == want
    assert got.dtype == (np.int16 if hi <= 2**15 - 1 else np.int32)


def _nearest_even(a: int, bits: int) -> int:
    """a rounded to `bits` significant bits, ties to even, in Python integers."""
    m, r = abs(a), max(abs(a).bit_length() - bits, 0)
    if r == 0:
        return a
    top, low = divmod(m, 1 << r)
    half = 1 << (r - 1)
    top += low > half or (low == half and top % 2 == 1)
    return (top << r) * (1 if a >= 0 else -1)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(-2**62, 2**62), min_size=1, max_size=12), st.booleans())
def test_round_significant_is_float32_rounding_at_any_size(values, with_large):
    a = np.array(values + ([2**60 + 1] if with_large else []), np.int64)  # a large one: the integer path
    got = integer.round_significant(a)
    assert got.tolist() == [_nearest_even(int(v), 24) for v in a]
    small = a[np.abs(a) < 2**53]
    assert np.array_equal(integer.round_significant(small), small.astype(np.float32).astype(np.int64))


def test_round_significant_ties_go_to_even_and_may_carry():
    a = np.array([2**24 + 1, 2**24 + 3, -(2**25 + 2), 2**25 - 1, 2**61 + 2**37, 2**61 + 3 * 2**37], np.int64)
    want = [2**24, 2**24 + 4, -(2**25), 2**25, 2**61, 2**61 + 4 * 2**37]
    assert integer.round_significant(a).tolist() == want
    assert integer.round_significant(a[:4]).tolist() == want[:4]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6, width=32), min_size=1, max_size=10), st.integers(-10, 40))
def test_odd_rounded_keeps_whether_anything_was_dropped(values, f):
    got = integer.odd_rounded(np.array(values, np.float32), f)
    for v, g in zip(values, got.tolist()):
        exact = Fraction(v) * Fraction(2) ** f
        if exact.denominator == 1:
            assert g == exact
        else:
            assert g == math.floor(exact) | 1 and g <= exact + 1
