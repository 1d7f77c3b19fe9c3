"""n1_choice.py: the mse n1 is the least exact squared error (ties to the larger n1), with
the compiled kernel and with numpy."""
import math
from fractions import Fraction

import numpy as np
import pytest
from hyp import examples
from hypothesis import given, settings, strategies as st

from inq_layer.core.levels import n1_from_max, n2_from_n1, nearest_level, squared_error
from inq_layer.core.n1_choice import SCALE, candidates, error_offsets, n1_from_sums, n1_mse
from inq_layer.core.passes import half_octave_sums

F32 = np.float32
pytestmark = pytest.mark.usefixtures("both_kernels")


def exact_error(w, n1, bits):
    """Sum of (w - level)^2 in exact rationals (levels without the scan's start value)."""
    n2 = n2_from_n1(n1, bits)
    q = nearest_level(w, n1, n2, original=False)
    return sum((Fraction(float(a)) - Fraction(float(b))) ** 2 for a, b in zip(w, q))


def brute_mse(w, bits):
    """Least exact error over every n1 down to 45 below the max rule's (ties: the larger),
    checking that none of the 3 above it is strictly better."""
    top = n1_from_max(float(np.max(np.abs(w))))
    errs = {n1: exact_error(w, n1, bits) for n1 in range(top + 3, top - 45, -1) if n2_from_n1(n1, bits) >= -126}
    low = {c: e for c, e in errs.items() if c <= top} or {top: exact_error(w, top, bits)}
    assert min(low.values()) <= min(errs.values(), default=math.inf)
    return max(low, key=lambda c: (-low[c], c)), {**errs, **low}


weights = st.lists(st.one_of(st.floats(-8, 8, width=32), st.sampled_from([2.0 ** -127, 1e-40, 1.5, 0.75, -3.0])),
                   min_size=1, max_size=60).map(lambda xs: np.array(xs, F32))


@settings(max_examples=examples(150), deadline=None)
@given(weights, st.integers(2, 8))
def test_mse_n1_is_the_least_exact_squared_error(w, bits):
    if not np.any(w):
        assert n1_mse(w, bits) is None
        return
    best, errs = brute_mse(w, bits)
    got = n1_mse(w, bits)
    assert got == best
    assert errs[got] <= errs[n1_from_max(float(np.max(np.abs(w))))]  # never worse than the max rule


@settings(max_examples=examples(100), deadline=None)
@given(weights, st.integers(2, 8))
def test_error_offsets_are_exact(w, bits):
    """Each offset is the exact squared error less sum w^2, times 2^SCALE."""
    if not np.any(w):
        return
    sums = half_octave_sums(w.view(np.uint32))
    n1s = [n1 for n1 in candidates(n1_from_max(float(np.max(np.abs(w)))), bits) if n2_from_n1(n1, bits) >= -126]
    total = sum(Fraction(float(x)) ** 2 for x in w)
    for n1, off in error_offsets(sums, n1s, bits).items():
        assert Fraction(off, 2 ** SCALE) == exact_error(w, n1, bits) - total


@settings(max_examples=examples(80), deadline=None)
@given(weights, st.integers(2, 8))
def test_mse_n1_is_stable_on_its_own_grid(w, bits):
    """Re-quantizing on the kept grid changes nothing, and a blob that uses the grid's top
    level has that same mse n1 (later phases see no reason to move it)."""
    n1 = n1_mse(w, bits)
    if n1 is None:
        return
    n2 = n2_from_n1(n1, bits)
    q = nearest_level(w, n1, n2, original=False)
    assert squared_error(q, n1, n2) == 0.0
    if np.max(np.abs(q)) == 2.0 ** n1:
        assert n1_mse(q, bits) == n1


def test_mse_n1_large_blob_and_heavy_tail():
    """Past the kernel's blocks and numpy's chunks: the neighbours of the choice are worse
    (double sums are enough to tell at this size)."""
    w = np.random.default_rng(3).standard_t(2, 300_000).astype(F32) * F32(0.01)
    for bits in (2, 3, 5):
        got = n1_mse(w, bits)
        errs = {c: squared_error(w, c, n2_from_n1(c, bits)) for c in range(got - 2, got + 3)
                if c <= n1_from_max(float(np.max(np.abs(w))))}
        assert min(errs, key=errs.get) == got


def test_mse_n1_edge_cases():
    assert n1_mse(np.zeros(0, F32), 5) is None
    assert n1_mse(np.zeros(7, F32), 5) is None
    # Fifty weights at 2^-127 (subnormal) would fit the 2-bit grid n1 = -127 exactly, but
    # grids stay in float32's normal range: n2 >= -126.
    w = np.array([1.2 * 2.0 ** -126] + [2.0 ** -127] * 50, F32)
    assert n1_mse(w, 2) == -126
    # The lowest grid allowed (n2 = -126) is a candidate: one weight at 2^-125 clipped costs
    # less than fifty at 2^-126 rounded to 0.
    w = np.array([2.0 ** -125] + [2.0 ** -126] * 50, F32)
    assert n1_from_max(2.0 ** -125) == -125 and n1_mse(w, 2) == -126
    # Where the best grid clips: one large weight among many small ones.
    w = np.array([1.0] + [0.1] * 200, F32)
    assert n1_mse(w, 2) == brute_mse(w, 2)[0] < n1_from_max(1.0)
    # An exact tie goes to the larger n1: at 2 bits, 1.5 is 0.5 from the level 2 of n1 = 1
    # and 0.5 from the level 1 of n1 = 0.
    w = np.array([1.5], F32)
    assert brute_mse(w, 2)[1][1] == brute_mse(w, 2)[1][0] and n1_mse(w, 2) == 1


@pytest.mark.parametrize("bits", [2, 3, 5, 8])
def test_grids_that_reach_the_subnormals_are_exact(bits):
    """Blobs whose candidates go down to n2 = -126, with subnormals on both sides of 2^-127
    (below it they round to 0; from it up, to 2^-126 on the lowest grid)."""
    rng = np.random.default_rng(bits)
    lowest = -126 + 2 ** (bits - 2) - 1  # the n1 whose grid has n2 = -126
    tiny = np.array([2.0 ** -128, 1e-40, 2.0 ** -127, 1.5 * 2.0 ** -127, 1.9 * 2.0 ** -127], F32)
    for top in (lowest, lowest + 3):
        w = np.concatenate([tiny, (rng.random(40) * 2.0 ** (top + 1)).astype(F32)])
        n1s = candidates(n1_from_max(float(np.max(np.abs(w)))), bits)
        assert min(n2_from_n1(c, bits) for c in n1s) == -126  # the lowest grid is a candidate, none below
        total = sum(Fraction(float(x)) ** 2 for x in w)
        for n1, off in error_offsets(half_octave_sums(w.view(np.uint32)), n1s, bits).items():
            assert Fraction(off, 2 ** SCALE) == exact_error(w, n1, bits) - total, n1
        assert n1_mse(w, bits) == brute_mse(w, bits)[0]


def test_what_cannot_be_measured_is_named():
    w = np.array([0.5], F32)
    with pytest.raises(ValueError, match=r"^error_offsets: n1 = -125 puts n2 = -128 below -126$"):
        error_offsets(half_octave_sums(w.view(np.uint32)), [-125], 4)
    with pytest.raises(ValueError, match=r"^n1_from_sums: the blob has no non-zero weight$"):
        n1_from_sums(half_octave_sums(np.zeros(3, np.uint32)), 0.0, 5)
