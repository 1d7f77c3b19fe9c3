"""core/requantize.py: the compiled one-pass quantizer equals numpy and the definition: a
per-channel affine map, ReLU, rounding half up (or a saturated left shift), saturation."""
import math
from fractions import Fraction

import numpy as np
from hypothesis import given, settings, strategies as st

from inq_layer.core import native, requantize


def _round24(y: int) -> int:
    m, r = abs(y), max(abs(y).bit_length() - 24, 0)
    if r == 0:
        return y
    top, low = divmod(m, 1 << r)
    top += low > 1 << (r - 1) or (low == 1 << (r - 1) and top % 2 == 1)
    return (top << r) * (1 if y >= 0 else -1)


def _definition(x, f, bits, f_out, signed, mul, add, relu, rounded=False):
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    out = np.zeros(x.shape, np.int64)
    for idx in np.ndindex(*x.shape):
        y = int(x[idx]) * (int(mul[idx[1]]) if mul is not None else 1) + (int(add[idx[1]]) if mul is not None else 0)
        y = _round24(y) if rounded else y
        y = max(y, 0) if relu else y
        out[idx] = min(hi, max(lo, math.floor(Fraction(y) * Fraction(2) ** (f_out - f) + Fraction(1, 2))))
    return out


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 3), st.integers(1, 4), st.integers(0, 5), st.sampled_from([np.int16, np.int32, np.int64]),
       st.integers(-12, 40), st.integers(2, 16), st.integers(-4, 12), st.booleans(), st.booleans(), st.booleans(),
       st.booleans(), st.integers(0, 2**31 - 1))
def test_compiled_and_numpy_equal_the_definition(n, c, inner, dtype, f, bits, f_out, signed, affine, relu, rounded,
                                                 seed):
    rng = np.random.default_rng(seed)
    info = np.iinfo(dtype)
    # |y| near the top of the output's range (about 2^(bits + f - f_out)), so that most values
    # round rather than saturate; some above it (saturation), some far below
    lt = min(61, max(1, bits + f - f_out + int(rng.integers(-3, 3))))
    mb = int(rng.integers(0, min(20, lt) + 1)) if affine else 0
    big = min(info.max, 2 ** max(1, lt - mb))
    x = rng.integers(-big, big, (n, c, inner) if inner else (n, c)).astype(dtype)
    mul = rng.integers(-2**mb, 2**mb + 1, c) if affine else None
    add = rng.integers(-2**lt, 2**lt + 1, c) if affine else None
    rounded = rounded and affine  # the bias add: x << guard + bias
    want = _definition(x, f, bits, f_out, signed, mul, add, relu, rounded)
    top = max((abs(int(v) * int(mul[i[1]]) + int(add[i[1]])) for i, v in np.ndenumerate(x)), default=0) \
        if affine else None
    saved = requantize._lib
    runs = [(None, None)]
    if saved is not None:  # each instruction set; without a bound, the rounding counts bits
        runs += [(saved, isa) for isa in sorted({requantize.use_isa(saved, i) for i in range(len(native.ISAS))})]
    try:
        for lib, isa in runs:
            requantize._lib = lib
            if lib is not None:
                requantize.use_isa(lib, native.ISAS.index(isa))
            for bound in (top, None):
                got = requantize.quantize(x, f, bits, f_out, signed, mul, add, relu, rounded, bound)
                assert np.array_equal(got, want), (isa, bound)
                assert got.dtype == (np.int16 if bits <= 15 or signed and bits == 16 else np.int32)
    finally:
        requantize._lib = saved
        if saved is not None:
            requantize.use_isa(saved)
