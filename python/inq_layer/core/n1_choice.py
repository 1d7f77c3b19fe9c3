"""The mse n1 rule: the grid top whose levels give the least squared error over the blob.

One pass (passes.half_octave_sums) gives exact counts and sums per half-octave; every
weight of a half-octave rounds to the same level of a grid (a midpoint, which the scan
sends to the lower level, is equally far from both, so its squared error is the same
either way). Sum (w - L)^2 = sum w^2 - sum (2 L |w| - L^2): the first term is the same on
every grid, the second an exact integer once scaled by 2^300, so grids compare exactly.
"""
from __future__ import annotations

import numpy as np

from .levels import check_bits, n1_from_max, n2_from_n1
from .passes import KEYS, half_octave_sums

_MSE_SPAN = 40  # n1 candidates below the max rule's: far more than clipping ever pays for
_MIN_N2 = -126  # grids stay in float32's normal range (the freezer and .inq need it)
SCALE = 300  # squared errors are integers times 2^-SCALE


def _level_exponent(key: int, n1: int, n2: int) -> int | None:
    """The exponent of the level a half-octave rounds to (None: 0), levels clipped to 2^n1
    above. n2 >= -126, so every subnormal below 2^-127 (key 0) rounds to 0."""
    e, up = (key >> 1) - 127, key & 1
    if e == -127:  # subnormals: [0, 2^-127) and [2^-127, 2^-126)
        return n2 if up and n2 == -126 else None
    if e < n2 - 1:
        return None
    if e == n2 - 1:  # [2^(n2-1), 2^n2): nearer 2^n2
        return n2
    return min(e + up, n1)


def error_offsets(sums: tuple[list[int], list[int]], n1s: list[int], bits: int) -> dict[int, int]:
    """n1 -> (sum of (w - level)^2 - sum of w^2) * 2^SCALE, exactly, on the grid
    n2_from_n1(n1)..n1 (levels without blob.cpp's start value; n2 >= -126)."""
    count, s1 = sums
    keys = [k for k in range(KEYS) if count[k]]
    out = {}
    for n1 in n1s:
        n2 = n2_from_n1(n1, bits)
        if n2 < _MIN_N2:  # a half-octave of subnormals would straddle levels
            raise ValueError(f"error_offsets: n1 = {n1} puts n2 = {n2} below {_MIN_N2}")
        total = 0
        for k in keys:
            lev = _level_exponent(k, n1, n2)
            if lev is not None:  # L^2 N - 2 L S 2^(ef-150), |w| = M 2^(ef-150)
                ef = max(k >> 1, 1)
                total += (count[k] << 2 * lev + SCALE) - (s1[k] << lev + ef + SCALE - 149)
        out[n1] = total
    return out


def candidates(top: int, bits: int) -> list[int]:
    """The n1 the rule compares: the max rule's and up to _MSE_SPAN below it, all with
    n2 >= -126 (else the max rule's alone). No n1 above the max rule's can do better (its
    extra top level is never the nearest); clipping the largest weight by 2^40 costs more
    than 2^78 weights could gain."""
    return [n1 for n1 in range(top, top - _MSE_SPAN - 1, -1) if n2_from_n1(n1, bits) >= _MIN_N2] or [top]


def n1_from_sums(sums: tuple[list[int], list[int]], max_abs: float, bits: int) -> int:
    """The least-squared-error n1 among `candidates`; ties go to the larger n1 (the nearer
    to the paper's rule)."""
    if max_abs == 0.0:
        raise ValueError("n1_from_sums: the blob has no non-zero weight")
    cands = candidates(n1_from_max(max_abs), check_bits(bits))
    if len(cands) == 1:  # also the max rule's grid alone when it reaches below 2^-126
        return cands[0]
    errs = error_offsets(sums, cands, bits)
    return max(errs, key=lambda c: (-errs[c], c))


def n1_mse(w: np.ndarray, bits: int) -> int | None:
    """n1_from_sums of a blob; None for an all-zero or empty one."""
    flat = np.ascontiguousarray(w, np.float32).reshape(-1)
    m = float(np.max(np.abs(flat))) if flat.size else 0.0
    if m == 0.0:
        return None
    return n1_from_sums(half_octave_sums(flat.view(np.uint32)), m, bits)
