"""Fixed-point activations: b-bit integers q times a power-of-two step 2^-f.

    q = floor(x * 2^f + 1/2), saturated to [0, 2^b - 1] (unsigned) or [-2^(b-1), 2^(b-1) - 1]

Round half up, the rule the integer engine uses too. The arithmetic is float32 and exact:
x * 2^f only moves the exponent (a result below float32's normal range is far below 1/2 and
rounds to 0 either way), saturation happens before the 1/2 is added, and every value that
is left lies within 2^16 + 1 of zero, where float32 holds each multiple of 1/2.
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np

MIN_BITS, MAX_BITS = 2, 16
F_LIMIT = 100  # |f| beyond this leaves float32's range for any activation worth keeping
CANDIDATES = 9  # f values the mse rule tries, from the max rule's f upwards (finer steps, more clipping)


def check_bits(bits: int) -> int:
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not MIN_BITS <= bits <= MAX_BITS:
        raise ValueError(f"activation bits must be an integer in {MIN_BITS}..{MAX_BITS}, got {bits!r}")
    return int(bits)


def check_f(f: int) -> int:
    if isinstance(f, bool) or not isinstance(f, (int, np.integer)) or not -F_LIMIT <= f <= F_LIMIT:
        raise ValueError(f"f must be an integer in {-F_LIMIT}..{F_LIMIT}, got {f!r}")
    return int(f)


def int_range(bits: int, signed: bool) -> tuple[int, int]:
    """The smallest and largest integer q of a b-bit blob."""
    check_bits(bits)
    return (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)


def _scaled(x: np.ndarray, f: int) -> np.ndarray:
    with np.errstate(over="ignore"):  # +-Inf saturates like any value past the range
        return np.multiply(x, np.float32(2.0 ** f), dtype=np.float32)


def to_int(x: np.ndarray, bits: int, f: int, signed: bool) -> np.ndarray:
    """The integers q of `x` (int32, x's shape). NaN is refused: it has no integer."""
    lo, hi = int_range(bits, signed)
    y = _scaled(x, check_f(f))
    if np.isnan(y).any():
        raise ValueError("activations contain NaN: they have no fixed-point value")
    np.clip(y, lo, hi, out=y)
    y += np.float32(0.5)
    return np.floor(y, out=y).astype(np.int32)


def quantize(x: np.ndarray, bits: int, f: int, signed: bool, out: np.ndarray | None = None) -> np.ndarray:
    """q * 2^-f as float32 (exact), into `out` when given (it may be `x` itself). NaN stays
    NaN, so a diverged training is still seen as one."""
    lo, hi = int_range(bits, signed)
    with np.errstate(over="ignore"):  # +-Inf saturates like any value past the range
        y = np.multiply(x, np.float32(2.0 ** check_f(f)), out=out, dtype=np.float32)
    np.clip(y, lo, hi, out=y)
    y += np.float32(0.5)
    np.floor(y, out=y)
    y *= np.float32(2.0 ** -f)
    return y


def inside(x: np.ndarray, bits: int, f: int, signed: bool) -> np.ndarray:
    """Where x is not saturated (bool, x's shape): the values whose rounding, not the
    clipping, gives q. The straight-through gradient flows only there."""
    lo, hi = int_range(bits, signed)
    y = _scaled(x, check_f(f))
    return (y >= np.float32(lo - 0.5)) & (y < np.float32(hi + 0.5))


def saturated_fraction(x: np.ndarray, bits: int, f: int, signed: bool) -> float:
    return 1.0 - float(np.count_nonzero(inside(x, bits, f, signed))) / max(x.size, 1)


def f_for_max(max_abs: float, bits: int, signed: bool) -> int:
    """The largest f whose range still holds max_abs (Ristretto's rule, with the step a
    power of two): the integer part gets just the bits max_abs needs."""
    if not np.isfinite(max_abs) or max_abs <= 0:
        raise ValueError(f"the largest magnitude must be finite and above 0, got {max_abs!r}")
    _, hi = int_range(bits, signed)
    r = (Fraction(hi) + Fraction(1, 2)) / Fraction(max_abs)  # max_abs * 2^f must stay below hi + 1/2
    f = r.numerator.bit_length() - r.denominator.bit_length()  # floor(log2 r), or one above it
    if Fraction(2) ** f > r:
        f -= 1
    if Fraction(2) ** f == r:  # exactly on the edge: hi + 1/2 would round up past hi
        f -= 1
    return check_f(f)


def squared_error(x: np.ndarray, bits: int, f: int, signed: bool) -> float:
    """Sum of (quantize(x) - x)^2 in float64."""
    d = quantize(x, bits, f, signed).astype(np.float64)
    d -= x
    return float(np.dot(d.reshape(-1), d.reshape(-1)))


def mse_candidates(f_max: int) -> list[int]:
    """The f values the mse rule compares: the max rule's, then finer steps that clip more."""
    return [f for f in range(f_max, f_max + CANDIDATES) if -F_LIMIT <= f <= F_LIMIT]
