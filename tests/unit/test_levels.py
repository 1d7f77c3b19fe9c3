"""The fast nearest-level path must equal the plain transcription of blob.cpp's scan."""
import math

import numpy as np
import pytest
from hyp import examples
from hypothesis import given, settings, strategies as st

from inq_layer.core.levels import check_bits, n1_from_max, n2_from_n1, nearest_level, squared_error
from oracles import nearest_level_scan

F32 = np.float32


def special_values(n1, n2):
    """Values where the scan's rules bite: grid points, midpoints, their neighbours,
    the zero cut, 100, subnormals, float32 extremes, zeros of both signs."""
    vals = [0.0, -0.0, 100.0, 99.99999, 100.00001, 1500.0, 384.0, 383.0, 385.0,
            np.finfo(F32).max, np.finfo(F32).tiny, 1e-45, 3e-45, 2 ** -149, 2 ** -130]
    for i in range(max(n2 - 2, -149), min(n1 + 3, 128)):
        for m in (1.0, 1.5, 0.75):
            v = math.ldexp(m, i)
            if v < 3.4e38:
                f = F32(v)
                vals += [f, np.nextafter(f, F32(0)), np.nextafter(f, F32(np.inf))]
    vals = np.array(vals, F32)
    vals = vals[np.isfinite(vals)]
    return np.concatenate([vals, -vals])


@st.composite
def grids(draw):
    bits = draw(st.integers(2, 8))
    n1 = draw(st.one_of(st.integers(-20, 20), st.integers(-150, 127)))
    return n1, n2_from_n1(n1, bits)


@settings(max_examples=examples(300), deadline=None)
@given(grids(), st.lists(st.floats(width=32, allow_nan=False, allow_infinity=False), max_size=60))
def test_fast_equals_scan_random(grid, xs):
    n1, n2 = grid
    w = np.array(xs, F32)
    assert np.array_equal(nearest_level(w, n1, n2).view(np.uint32), nearest_level_scan(w, n1, n2).view(np.uint32))


@settings(max_examples=examples(200), deadline=None)
@given(grids(), st.data())
def test_fast_equals_scan_adversarial(grid, data):
    n1, n2 = grid
    w = special_values(n1, n2)
    scale = data.draw(st.sampled_from([1.0, 2.0, 0.5, 3.0, 1e-3]))
    with np.errstate(over="ignore"):
        w = np.concatenate([w, (w * F32(scale)).astype(F32)])
    w = w[np.isfinite(w)]
    assert np.array_equal(nearest_level(w, n1, n2).view(np.uint32), nearest_level_scan(w, n1, n2).view(np.uint32))


def test_scan_quirks():
    # n1 = 0, 5 bits: levels 2^-7..2^0.
    w = np.array([2 ** -8, 1.5 * 2 ** -8, 1.5, 3.0, -0.75, 0.0], F32)
    q = nearest_level_scan(w, 0, -7)
    assert q.tolist() == [0.0, 2 ** -7, 1.0, 1.0, -0.5, 0.0]  # ties go down, no cut-off above
    # The initial distance 100: nothing within 100 of 1500 -> +1.0, whatever the sign.
    q = nearest_level(np.array([1500.0, -1500.0], F32), 10, 3)
    assert q.tolist() == [1.0, 1.0]
    # Far above a tiny grid the double distance 1 - 2^-54 rounds to 1, the distance to 0:
    # the tie keeps 0 (the earlier candidate); 2^-53 below 1 does not round.
    w = np.array([1.0, -1.0, 0.5], F32)
    assert nearest_level_scan(w, -54, -54).tolist() == [0.0, 0.0, 2 ** -54]
    assert nearest_level(w, -54, -54).tolist() == [0.0, 0.0, 2 ** -54]


def test_n1_n2():
    assert n1_from_max(0.75) == 0 and n1_from_max(0.7499) == -1
    assert n2_from_n1(0, 5) == -7 and n2_from_n1(0, 2) == 0 and n2_from_n1(3, 8) == -60
    for b in (1, 9, 5.0, True):
        with pytest.raises(ValueError, match=rf"^bits must be an integer in 2\.\.8, got {b!r}$"):
            check_bits(b)


def test_chunked_large_blob_matches_scan():
    w = np.random.default_rng(1).normal(0, 300, 700_000).astype(F32)  # several chunks, some >= 100
    assert np.array_equal(nearest_level(w, 10, 3).view(np.uint32), nearest_level_scan(w, 10, 3).view(np.uint32))


@settings(max_examples=examples(200), deadline=None)
@given(grids(), st.lists(st.floats(width=32, allow_nan=False, allow_infinity=False), max_size=60), st.data())
def test_clean_nearest_level_equals_scan_without_start_value(grid, xs, data):
    n1, n2 = grid
    w = np.concatenate([np.array(xs, F32), special_values(n1, n2)])
    q = nearest_level(w, n1, n2, original=False)
    assert np.array_equal(q.view(np.uint32), nearest_level_scan(w, n1, n2, original=False).view(np.uint32))


@pytest.mark.parametrize("n1,bits", [(-123, 5), (-140, 3), (-126, 8), (128, 5), (128, 2)])
def test_exact_path_grids_equal_scan_both_start_values(n1, bits):
    """Grids reaching into the subnormal range or above float32 go through the exact
    path for every element: with and without the scan's start value."""
    n2 = n2_from_n1(n1, bits)
    w = special_values(n1, n2)
    for original in (True, False):
        q = nearest_level(w, n1, n2, original=original)
        assert np.array_equal(q.view(np.uint32), nearest_level_scan(w, n1, n2, original=original).view(np.uint32))
    if n1 < 128:  # without the start value the largest float32 clips to 2^n1, never rounds to 0
        top = nearest_level(np.array([np.finfo(F32).max, -np.finfo(F32).max], F32), n1, n2, original=False)
        assert top.tolist() == [math.ldexp(1.0, n1), -math.ldexp(1.0, n1)]


def test_clean_nearest_level_clips_above_the_grid():
    q = nearest_level(np.array([1500.0, -1500.0, 3e38, 5.0, 3.0, 700.0], F32), 10, 3, original=False)
    assert q.tolist() == [1024.0, -1024.0, 1024.0, 8.0, 0.0, 512.0]


def _blobs():
    rng = np.random.default_rng(7)
    return {"normal": rng.normal(0, 0.05, 1000).astype(F32),
            "heavy tail": (rng.standard_t(1.5, 2000) * 0.01).astype(F32),
            "several chunks": rng.normal(0, 1.0, 300_001).astype(F32)}


def test_squared_error_is_the_sum_over_the_clean_scan():
    """Over several chunks, and with weights above the grid clipped to 2^n1 (the scan's
    start value would give +1.0 for |w| >= 100)."""
    for w in [*_blobs().values(), np.array([1500.0, -700.0, 3.0, 0.1], F32)]:
        for n1, bits in ((10, 5), (0, 2), (-3, 8)):
            n2 = n2_from_n1(n1, bits)
            d = w.astype(np.float64) - nearest_level_scan(w, n1, n2, original=False)
            assert squared_error(w, n1, n2) == pytest.approx(float(d @ d), rel=1e-12)
    assert squared_error(np.array([1500.0], F32), 10, 3) == 476.0 ** 2
