"""core/fixed_point.py: q = floor(x 2^f + 1/2) saturated, exact in float32, against exact
rational arithmetic; the straight-through mask; the max and mse choices of f."""
from fractions import Fraction
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from inq_layer.core import fixed_point as fp

finite32 = st.floats(width=32, allow_nan=False, allow_infinity=False)
bits_st = st.integers(fp.MIN_BITS, fp.MAX_BITS)
f_st = st.integers(-20, 40)


def exact_q(x: float, bits: int, f: int, signed: bool) -> int:
    lo, hi = fp.int_range(bits, signed)
    q = math.floor(Fraction(x) * Fraction(2) ** f + Fraction(1, 2))
    return min(max(q, lo), hi)


@settings(max_examples=300, deadline=None)
@given(st.lists(finite32, min_size=1, max_size=40), bits_st, f_st, st.booleans())
def test_quantize_is_exact_round_half_up(xs, bits, f, signed):
    x = np.array(xs, np.float32)
    q = fp.to_int(x, bits, f, signed)
    assert q.tolist() == [exact_q(float(v), bits, f, signed) for v in x]
    y = fp.quantize(x, bits, f, signed)
    assert y.dtype == np.float32
    assert [Fraction(float(v)) for v in y] == [Fraction(int(v)) * Fraction(2) ** -f for v in q]


def test_ties_round_up_at_both_signs():
    x = np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5], np.float32)
    assert fp.to_int(x, 8, 0, True).tolist() == [1, 2, 3, 0, -1, -2]


def test_saturation_at_both_ends_and_the_gradient_mask():
    x = np.array([-1000.0, -128.5, -128.4, 0.0, 127.4, 127.5, 1000.0], np.float32)
    assert fp.to_int(x, 8, 0, True).tolist() == [-128, -128, -128, 0, 127, 127, 127]
    assert fp.inside(x, 8, 0, True).tolist() == [False, True, True, True, True, False, False]
    u = np.array([-0.6, -0.5, 0.0, 255.4, 255.5], np.float32)
    assert fp.to_int(u, 8, 0, False).tolist() == [0, 0, 0, 255, 255]
    assert fp.inside(u, 8, 0, False).tolist() == [False, True, True, True, False]
    assert fp.saturated_fraction(u, 8, 0, False) == pytest.approx(2 / 5)
    assert fp.saturated_fraction(np.array([3.0], np.float32), 8, 0, False) == 0.0  # one value, inside


def test_negative_f_is_a_step_above_one():
    x = np.array([5.0, 6.0, 100.0], np.float32)
    assert fp.to_int(x, 4, -2, False).tolist() == [1, 2, 15]  # steps of 4: 5 -> 1.25 -> 1, 6 -> 1.5 -> 2
    assert fp.quantize(x, 4, -2, False).tolist() == [4.0, 8.0, 60.0]


def test_quantize_writes_into_out_and_keeps_nan():
    x = np.array([0.3, np.nan], np.float32)
    out = np.empty_like(x)
    assert fp.quantize(x, 8, 4, False, out=out) is out
    assert out[0] == 5 / 16 and np.isnan(out[1])
    with pytest.raises(ValueError, match="^activations contain NaN: they have no fixed-point value$"):
        fp.to_int(x, 8, 4, False)


@settings(max_examples=200, deadline=None)
@given(st.floats(1e-20, 1e20), bits_st, st.booleans())
def test_f_for_max_is_the_finest_step_that_holds_the_largest_value(m, bits, signed):
    m = float(np.float32(m))
    f = fp.f_for_max(m, bits, signed)
    _, hi = fp.int_range(bits, signed)
    assert exact_q(m, bits, f, signed) < hi + 1 and Fraction(m) * Fraction(2) ** f < hi + Fraction(1, 2)
    assert Fraction(m) * Fraction(2) ** (f + 1) >= hi + Fraction(1, 2)


def test_mse_candidates_start_at_the_max_rule():
    assert fp.mse_candidates(3) == list(range(3, 3 + fp.CANDIDATES))
    assert fp.mse_candidates(fp.F_LIMIT - 1) == [fp.F_LIMIT - 1, fp.F_LIMIT]


@pytest.mark.parametrize("bad", [1, 17, "8", 8.0, True, None])
def test_bits_outside_2_to_16_are_refused(bad):
    with pytest.raises(ValueError, match=f"^activation bits must be an integer in 2\\.\\.16, got {bad!r}$"):
        fp.check_bits(bad)


@pytest.mark.parametrize("bad", [101, -101, 1.5, None, True])
def test_f_outside_its_range_is_refused(bad):
    with pytest.raises(ValueError, match=f"^f must be an integer in -100\\.\\.100, got {bad!r}$"):
        fp.check_f(bad)


def test_f_at_both_ends_of_its_range_and_numpy_integers_are_taken():
    assert [fp.check_f(f) for f in (-fp.F_LIMIT, fp.F_LIMIT, np.int64(3))] == [-100, 100, 3]
    assert fp.mse_candidates(-fp.F_LIMIT) == list(range(-100, -100 + fp.CANDIDATES))


@pytest.mark.parametrize("bad", [0.0, -1.0, float("inf"), float("nan")])
def test_f_for_max_refuses_what_has_no_range(bad):
    with pytest.raises(ValueError, match=f"^the largest magnitude must be finite and above 0, got {bad!r}$"):
        fp.f_for_max(bad, 8, False)


@pytest.mark.parametrize("k", [-6, 0, 3, 9])
def test_f_for_max_when_the_largest_value_lands_on_the_rounding_edge(k):
    """255.5 * 2^-k times 2^k is exactly the edge where 255 would round up to 256: f = k
    would saturate that value; the rule takes k - 1."""
    assert fp.f_for_max(255.5 * 2.0 ** -k, 8, False) == k - 1
    assert fp.f_for_max(255.4 * 2.0 ** -k, 8, False) == k
    assert fp.f_for_max(127.5 * 2.0 ** -k, 8, True) == k - 1


def test_squared_error_is_float64_of_the_rounding():
    x = np.array([0.1, 0.2, 10.0], np.float32)
    e = fp.squared_error(x, 4, 2, False)  # steps of 1/4, top 15/4
    want = sum((float(q) - float(v)) ** 2 for q, v in zip(fp.quantize(x, 4, 2, False), x))
    assert e == pytest.approx(want, rel=1e-12)
