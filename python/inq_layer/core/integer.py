"""Integer arithmetic of an INQ model with fixed-point activations: what the integer engine
computes, in numpy, with the same integers a multiplier-free device computes.

A value is an integer array q with an exponent f: q * 2^-f. A power-of-two weight acts on
an activation as a shift: s * 2^e * q = +-(q << (e - n2)) at the accumulator's scale
2^(n2 - f), n2 the smallest exponent of the layer's grid. Requantization is a rounding
right shift, floor(x / 2^r + 1/2), then saturation: the quantizer layer's rule exactly.
"""
from __future__ import annotations

import numpy as np

MULT_BITS = 24  # significant bits of a fixed-point multiplier (BatchNorm/Scale, average pooling)


def round_shift(x: np.ndarray, r: int) -> np.ndarray:
    """floor(x / 2^r + 1/2) for r > 0 (round half up), x * 2^-r for r <= 0; int64."""
    x = np.asarray(x, np.int64)
    if r <= 0:
        return x << -r
    return (x + (1 << (r - 1))) >> r


def int_dtype(lo: int, hi: int) -> type:
    """The narrowest of int16, int32, int64 that holds lo..hi."""
    for t in (np.int16, np.int32):
        if np.iinfo(t).min <= lo and hi <= np.iinfo(t).max:
            return t
    return np.int64


def requantize(x: np.ndarray, f_in: int, bits: int, f_out: int, signed: bool) -> np.ndarray:
    """The b-bit integers of the value x * 2^-f_in at step 2^-f_out, saturated, in the
    narrowest integer type that holds them. Computed in x's own type without overflow:
    rounding half up is ((x >> (r - 1)) + 1) >> 1. A left shift (f_out > f_in) runs in
    int64 after a first saturation, so that nothing it shifts can overflow."""
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    x = np.asarray(x)
    t = int_dtype(lo, hi)
    r = f_in - f_out
    if x.dtype.kind != "i" or r <= 1 and x.dtype != np.int64:  # x + 1 or x << -r could overflow
        x = x.astype(np.int64)
    if r > 0:
        y = x >> (r - 1)
        y += 1
        y >>= 1
    else:  # values past (hi >> -r) + 1 saturate either way
        y = np.clip(x, lo >> -r, (hi >> -r) + 1) << -r
    np.clip(y, lo, hi, out=y)
    return y.astype(t, copy=False)


def weight_levels(w: np.ndarray) -> tuple[int, dict[int, np.ndarray]]:
    """(n2, {e: signs}) of power-of-two weights: w = sum over e of signs_e * 2^e, each
    signs_e in {-1, 0, +1} (int8, w's shape); n2 the smallest exponent (0 if all zero).
    ValueError if a weight is not 0 or +-2^e."""
    w = np.asarray(w, np.float32)
    nz = w != 0
    if not np.isfinite(w).all():
        raise ValueError("weights hold NaN or Inf")
    mant, exp = np.frexp(w[nz].astype(np.float64))  # |mant| in [0.5, 1): a power of two has 0.5
    if np.any(np.abs(mant) != 0.5):
        bad = w[nz][np.abs(mant) != 0.5][0]
        raise ValueError(f"weight {float(bad)!r} is not 0 or +-2^e")
    e = np.zeros(w.shape, np.int64)
    e[nz] = exp - 1
    if not nz.any():
        return 0, {}
    levels = {}
    for k in np.unique(e[nz]):
        sel = nz & (e == k)
        levels[int(k)] = np.where(sel, np.sign(w), 0).astype(np.int8)
    return int(min(levels)), levels


def shift_add(cols: np.ndarray, levels: dict[int, np.ndarray], n2: int) -> np.ndarray:
    """cols (N, K) integers times the weights (K, M) as sums of shifted activations: for
    each exponent e, the activations are added or subtracted by sign, then shifted by
    e - n2 (int64). The ±1 sums run as float64 products, exact for |sum| < 2^53."""
    out = np.zeros((cols.shape[0], next(iter(levels.values())).shape[1]) if levels else (cols.shape[0], 0),
                   np.int64)
    c = cols.astype(np.float64)
    for e, signs in sorted(levels.items()):
        out += (c @ signs.astype(np.float64)).astype(np.int64) << (e - n2)
    return out


def accumulator_bound(q_max: int, levels: dict[int, np.ndarray], n2: int, bias: np.ndarray | None) -> int:
    """The largest |accumulator| any input of magnitude <= q_max can give: per output,
    q_max * sum over the fan-in of |weight| at the accumulator's scale, plus |bias|."""
    per_out = None
    for e, signs in levels.items():
        s = np.abs(signs.astype(np.int64)).sum(axis=0) << (e - n2)
        per_out = s if per_out is None else per_out + s
    if per_out is None:
        return int(np.abs(bias).max()) if bias is not None and bias.size else 0
    total = q_max * per_out
    if bias is not None:
        total = total + np.abs(bias)
    return int(total.max())


def exact_exponent(values: np.ndarray) -> int | None:
    """The smallest f for which every value * 2^f is an integer (None for all zeros)."""
    f = None
    for v in np.unique(np.abs(np.asarray(values, np.float64))):
        if v == 0:
            continue
        mant, e = np.frexp(v)
        m = int(mant * 2.0 ** 53)  # exact: 53 bits hold any float32 or float64 mantissa
        need = 53 - int(e) - ((m & -m).bit_length() - 1)
        f = need if f is None else max(f, need)
    return f


def round_shift_float(values: np.ndarray, f: int) -> np.ndarray:
    """floor(v * 2^f + 1/2) of float values (a bias at an accumulator's scale); int64."""
    return np.floor(np.asarray(values, np.float64) * 2.0 ** f + 0.5).astype(np.int64)


def round_significant(a: np.ndarray, bits: int = 24) -> np.ndarray:
    """Integers rounded to `bits` significant bits, to nearest with ties to even: what
    float32 (24 bits) does to a value a * 2^-F, whatever F (int64 in, int64 out)."""
    a = np.asarray(a, np.int64)
    mag = np.abs(a)
    if bits == 24 and (mag.max(initial=0) < 1 << 53):  # float64 holds it exactly; its float32 rounding is this
        return a.astype(np.float64).astype(np.float32).astype(np.int64)
    length = np.frexp(mag.astype(np.float64))[1].astype(np.int64)  # bit length, perhaps one too many
    length -= (mag < np.left_shift(1, np.maximum(length - 1, 0))) & (length > 0)
    r = np.maximum(length - bits, 0)
    low = mag & ((np.int64(1) << r) - 1)
    half = np.where(r > 0, np.int64(1) << np.maximum(r - 1, 0), 0)
    top = mag >> r
    up = (r > 0) & ((low > half) | ((low == half) & (top & 1 == 1)))
    return np.sign(a) * ((top + up) << r)


def odd_rounded(values: np.ndarray, f: int) -> np.ndarray:
    """floor(v * 2^f) with the lowest bit set where that drops something (round to odd):
    the dropped part still decides a later rounding at least two bits higher; int64."""
    v = np.asarray(values, np.float64) * 2.0 ** f
    fl = np.floor(v)
    return (fl.astype(np.int64) | (fl != v).astype(np.int64))


def fixed_multiplier(m: np.ndarray) -> tuple[np.ndarray, int]:
    """(integers, k) with integers * 2^-k approximating m to MULT_BITS significant bits of
    its largest magnitude (one k for the whole array: one shift per output element)."""
    m = np.asarray(m, np.float64)
    top = float(np.abs(m).max()) if m.size else 0.0
    k = MULT_BITS - 1 - (int(np.floor(np.log2(top))) if top > 0 else 0)
    return np.floor(m * 2.0 ** k + 0.5).astype(np.int64), k


def im2col(x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int], pad: tuple[int, int],
           dilation: tuple[int, int]) -> tuple[np.ndarray, int, int]:
    """(N, C, H, W) -> (N * OH * OW, C * KH * KW) patches as Caffe's im2col orders them
    (channel, kernel row, kernel column), zero padding; and OH, OW."""
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, pad, dilation
    oh = (h + 2 * ph - (dh * (kh - 1) + 1)) // sh + 1
    ow = (w + 2 * pw - (dw * (kw - 1) + 1)) // sw + 1
    xp = np.zeros((n, c, h + 2 * ph, w + 2 * pw), x.dtype)
    xp[:, :, ph:ph + h, pw:pw + w] = x
    cols = np.empty((n, c, kh, kw, oh, ow), x.dtype)
    for i in range(kh):
        for j in range(kw):
            cols[:, :, i, j] = xp[:, :, i * dh:i * dh + sh * (oh - 1) + 1:sh, j * dw:j * dw + sw * (ow - 1) + 1:sw]
    return cols.transpose(0, 4, 5, 1, 2, 3).reshape(n * oh * ow, c * kh * kw), oh, ow
