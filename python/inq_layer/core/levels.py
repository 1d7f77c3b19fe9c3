"""The power-of-two grid of one blob and the nearest level on it.

Levels are {0} U {+-2^k : n2 <= k <= n1}. The original (blob.cpp) picks the level by a
scan in double precision that starts from "distance 100, result +1.0" (docs/INQ_REFERENCE.md,
section 2.6); `nearest_level` computes the same bits without looping over levels (the
tests hold a plain transcription of the scan as its oracle): the candidate exponent
comes from the float's own exponent and mantissa, and only the elements where the scan's
quirks can bite (|w| >= 100, weights above the grid, grids in the subnormal range) go
through an exact double-precision path. With `original=False` the start value is dropped:
the plain nearest level, anything above the grid clipped to +-2^n1 (the paper rule, and
any grid whose n1 is not the current max's).

Choosing n1: `n1_from_max` (the paper's and the original's rule) here, the least squared
error in n1_choice.py.
"""
from __future__ import annotations

import math

import numpy as np

MIN_BITS, MAX_BITS = 2, 8
# The scan starts with "best distance 100, result +1.0" (blob.cpp's initial values).
_SCAN_START_DIST = 100.0
_F32_100_BITS = int(np.array(100.0, np.float32).view(np.int32))
_CHUNK = 1 << 17  # elements per chunk: keeps temporaries in cache and memory bounded


def check_bits(bits: int) -> int:
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not MIN_BITS <= bits <= MAX_BITS:
        raise ValueError(f"bits must be an integer in {MIN_BITS}..{MAX_BITS}, got {bits!r}")
    return int(bits)


def n1_from_max(max_abs: float) -> int:
    """n1 = floor(log2(max * 4.0 / 3.0)) in double precision, as blob.cpp computes it."""
    return int(math.floor(math.log2(float(max_abs) * 4.0 / 3.0)))


def n2_from_n1(n1: int, bits: int) -> int:
    """Lowest exponent: 2^(bits-2) exponents n2..n1, plus zero (one bit is the sign)."""
    return n1 + 1 - 2 ** (check_bits(bits) - 2)


def _nearest_level_exact(x: np.ndarray, n1: int, n2: int, start: float = _SCAN_START_DIST) -> np.ndarray:
    """Scan-equivalent in double precision with at most two power candidates per element.

    The distances |a - 2^j| are unimodal in j and rounding is monotone, so the scan's
    first minimum among the powers is the in-grid power nearest below or above |x|
    (the lower one on a tie); it then competes, in scan order, with 100/+1.0 and with 0.
    """
    x = np.asarray(x, dtype=np.float64)
    a = np.abs(x)
    if start == math.inf:  # no start value: clip first, so huge |x| cannot round to 0
        a = np.minimum(a, math.ldexp(1.0, n1))
    _, ex = np.frexp(a)
    e = ex.astype(np.int64) - 1  # 2^e <= a < 2^(e+1)
    clo = np.ldexp(1.0, np.clip(e, n2, n1))
    chi = np.ldexp(1.0, np.clip(e + 1, n2, n1))
    dlo, dhi = np.abs(a - clo), np.abs(a - chi)
    use_hi = dhi < dlo
    cp = np.where(use_hi, chi, clo)
    dp = np.where(use_hi, dhi, dlo)
    res = np.ones_like(a)
    best = np.full_like(a, start)
    take0 = a < best
    res[take0], best[take0] = 0.0, a[take0]
    takep = dp < best
    res[takep] = np.copysign(cp[takep], x[takep])
    with np.errstate(over="ignore"):
        return res.astype(np.float32)


def grid_bits(n1: int, n2: int) -> tuple[int, int, int]:
    """Bits of 2^n2 and 2^n1, the grid's lowest and top levels, and of 2^(n2-1): magnitudes at
    or below it round to 0 (a grid in float32's normal range)."""
    return (n2 + 127) << 23, (n1 + 127) << 23, (n2 - 1 + 127) << 23


def exact_path_from(n1: int, original: bool) -> int | None:
    """Magnitude bits from which the nearest level needs the exact double path (None: never).
    The scan's quirks: its start value (|w| >= 100), and weights far above the grid, whose
    double distance to 2^n1 can round to their distance to 0 (a tie that 0 wins); any bound
    between 2^(n1+1) and 2^(n1+53) would do. Without the start value the scan clips first,
    like the bit path's clamp: nothing needs the exact path."""
    return min(_F32_100_BITS, (n1 + 1 + 127) << 23) if original else None


def nearest_level(w: np.ndarray, n1: int, n2: int, original: bool = True) -> np.ndarray:
    """Nearest grid level of every element, bit-identical to blob.cpp's scan (with
    the same `original`).

    Works on the float32 bit patterns: adding 0x3FFFFF to |w|'s bits carries into the
    exponent exactly when the mantissa is above 1.5 (a midpoint keeps the lower power,
    as the scan's tie rule does), which gives the rounded exponent without log2.
    """
    w = np.ascontiguousarray(w, dtype=np.float32)
    flat = w.reshape(-1)
    out = np.empty_like(w)
    oflat = out.reshape(-1)
    start = _SCAN_START_DIST if original else math.inf
    if n2 - 1 < -126 or n1 > 127:
        # Grid in the subnormal range or beyond float32: rare, do it all exactly.
        for s in range(0, flat.size, _CHUNK):
            oflat[s:s + _CHUNK] = _nearest_level_exact(flat[s:s + _CHUNK], n1, n2, start)
        return out
    lo_bits, hi_bits, zero_lim = grid_bits(n1, n2)
    special_lim = exact_path_from(n1, original)
    bits = flat.view(np.int32)
    obits = oflat.view(np.int32)
    for s in range(0, flat.size, _CHUNK):
        b = bits[s:s + _CHUNK]
        mag = b & 0x7FFFFFFF
        q = mag + 0x3FFFFF
        q &= np.int32(-(1 << 23))  # rounded power, as float bits
        np.maximum(q, lo_bits, out=q)
        np.minimum(q, hi_bits, out=q)
        q |= b & np.int32(-0x80000000)  # the sign of w
        nonzero = zero_lim - mag
        nonzero >>= 31  # all ones where |w| > 2^(n2-1), else 0 (no masked store: slow)
        q &= nonzero
        if special_lim is not None:
            special = mag >= special_lim
            if special.any():
                q[special] = _nearest_level_exact(flat[s:s + _CHUNK][special], n1, n2, start).view(np.int32)
        obits[s:s + _CHUNK] = q
    return out


def squared_error(w: np.ndarray, n1: int, n2: int) -> float:
    """Sum of (w - nearest level)^2 in double precision over the blob (levels without the
    scan's start value, as mse grids are used)."""
    flat = np.ascontiguousarray(w, np.float32).reshape(-1)
    total = 0.0
    for s in range(0, flat.size, _CHUNK):
        c = flat[s:s + _CHUNK]
        d = c.astype(np.float64) - nearest_level(c, n1, n2, original=False)
        total += float(d @ d)
    return total
