"""Which weights of a blob to quantize (and freeze) at an accumulated portion.

Works on "magnitude bits": the float32 bit pattern of |w| as int32, whose integer order is
the order of |w| for finite values, so selections are exact and need no float compares.
"""
from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation

import numpy as np

_CHUNK = 1 << 20
_RADIX_SHIFT = 15  # 16 top bits of |w| (8 exponent + 8 mantissa bits) per bucket


def parse_portion(portion: float | str | Decimal) -> Decimal:
    """The accumulated portion as a decimal: a float is read as its shortest repr.

    So 0.3 and "0.3" both mean the decimal 0.3, as the original's hard-coded literals do.
    """
    if isinstance(portion, Decimal):
        dec = portion
    elif isinstance(portion, str):
        try:
            dec = Decimal(portion.strip())
        except InvalidOperation:
            raise ValueError(f"portion {portion!r} is not a decimal number") from None
    elif isinstance(portion, (float, int, np.floating, np.integer)) and not isinstance(portion, bool):
        dec = Decimal(repr(float(portion)))
    else:
        raise ValueError(f"portion must be a number or a decimal string, got {portion!r}")
    if not dec.is_finite() or not Decimal(0) < dec <= Decimal(1):
        raise ValueError(f"portion {portion!r} is outside (0, 1]")
    return dec


def parse_schedule(text: str, what: str, end_at_one: bool = False) -> list[str]:
    """A comma-separated, strictly increasing list of portions in (0, 1], as typed (the
    decimal strings are kept: they are the original's literals). A malformed list is
    refused, never repaired: an empty item (`0.5,,1`, a trailing comma) is an error."""
    parts = [p.strip() for p in text.split(",")]
    if not text.strip():
        raise ValueError(f"{what} is empty; give portions like 0.3,0.6,0.8,1.0")
    if any(not p for p in parts):
        raise ValueError(f"{what} {text!r} has an empty item (a stray comma?)")
    try:
        vals = [parse_portion(p) for p in parts]
    except ValueError as e:
        raise ValueError(f"{what}: {e}") from None
    for a, b in zip(vals, vals[1:]):
        if not b > a:
            raise ValueError(f"{what} must be strictly increasing ({a} then {b})")
    if end_at_one and vals[-1] != 1:
        raise ValueError(f"{what} must end at 1 (all weights quantized); it ends at {vals[-1]}")
    return parts


def reference_partition_index(count: int, portion: Decimal) -> int:
    """blob.cpp's index into the sorted |w|: int(count * L) - 1 with L the double nearest
    to the decimal 1 - portion (its hard-coded literal); 0 for portion 1 and whenever the
    original's index is negative (it read before the buffer there)."""
    lit = float(Decimal(1) - portion)
    return max(int(count * lit) - 1, 0)


def magnitude_bits(w: np.ndarray) -> np.ndarray:
    """|w| as int32 bit patterns (a fresh array, same shape)."""
    return np.ascontiguousarray(w, dtype=np.float32).view(np.int32) & np.int32(0x7FFFFFFF)


def kth_smallest(mag: np.ndarray, k: int) -> int:
    """The k-th smallest (0-based) of non-negative int32 values, in O(n).

    A radix select: one bincount over the top 16 bits finds the bucket holding rank k,
    then only that bucket is partitioned. Equal to np.sort(mag)[k].
    """
    flat = mag.reshape(-1)
    if not 0 <= k < flat.size:
        raise IndexError(f"rank {k} outside 0..{flat.size - 1}")
    counts = np.zeros(1 << (31 - _RADIX_SHIFT), np.int64)
    for s in range(0, flat.size, _CHUNK):
        counts += np.bincount(flat[s:s + _CHUNK] >> _RADIX_SHIFT, minlength=counts.size)
    cum = np.cumsum(counts)
    bucket = int(np.searchsorted(cum, k, side="right"))
    below = int(cum[bucket - 1]) if bucket else 0
    members = [c[(c >> _RADIX_SHIFT) == bucket] for c in
               (flat[s:s + _CHUNK] for s in range(0, flat.size, _CHUNK))]
    members = np.concatenate(members)
    return int(np.partition(members, k - below)[k - below])


def target_count(count: int, portion: Decimal) -> int:
    """Paper rule: ceil(portion * count), in exact decimal arithmetic, so that at least
    the portion is frozen (0.3 of 10 weights is exactly 3)."""
    return int(math.ceil(portion * count))


def top_by_magnitude(mag: np.ndarray, candidates: np.ndarray, m: int) -> np.ndarray:
    """Mask of the m candidates with the largest magnitude; among equal magnitudes at the
    cut the lower flat index wins, so the count is exactly m."""
    sel = np.zeros(mag.shape, bool)
    if m <= 0:
        return sel
    idx = np.flatnonzero(candidates.reshape(-1))
    vals = mag.reshape(-1)[idx]
    if m >= idx.size:
        sel.reshape(-1)[idx] = True
        return sel
    t = kth_smallest(vals, idx.size - m)  # the m-th largest
    above = vals > t
    ties = np.flatnonzero(vals == t)[: m - int(above.sum())]
    sel.reshape(-1)[idx[above]] = True
    sel.reshape(-1)[idx[ties]] = True
    return sel
