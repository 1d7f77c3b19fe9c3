"""Plain transcriptions of the original code (blob.cpp), the oracles the fast core is
tested against (and bench/bench_quantize.py's baseline): slow, obviously right."""
from __future__ import annotations

import math
from decimal import Decimal

import numpy as np

from inq_layer.core.levels import _SCAN_START_DIST, check_bits, n1_from_max, n2_from_n1
from inq_layer.core.partition import parse_portion, reference_partition_index
from inq_layer.core.quantize import QuantizedBlob


def nearest_level_scan(w: np.ndarray, n1: int, n2: int, original: bool = True) -> np.ndarray:
    """Plain transcription of blob.cpp's scan (the oracle for `nearest_level`).

    Vectorised over elements, looping over the levels in the original order with strict
    '<' improvements, so an exact tie keeps the earlier candidate. original=False starts
    from an infinite distance instead of blob.cpp's 100.
    """
    x = np.asarray(w, dtype=np.float32).astype(np.float64)
    if not original:  # the nearest level above the grid is its top (and no double rounding)
        top = math.ldexp(1.0, n1)
        x = np.clip(x, -top, top)
    best = np.full(x.shape, _SCAN_START_DIST if original else math.inf)
    res = np.ones(x.shape)
    ax = np.abs(x)
    take = ax < best
    best[take], res[take] = ax[take], 0.0
    for i in range(n2, n1 + 1):
        p = math.ldexp(1.0, i)
        for cand in (p, -p):
            d = np.abs(x - cand)
            take = d < best
            best[take], res[take] = d[take], cand
    with np.errstate(over="ignore"):
        return res.astype(np.float32)


def quantize_blob_plain(weights: np.ndarray, portion: float | str | Decimal, bits: int) -> QuantizedBlob:
    """Plain transcription of blob.cpp (reference rule, magnitude): full sort, the scan.
    The oracle for tests and the baseline of bench/bench_quantize.py."""
    bits = check_bits(bits)
    p = parse_portion(portion)
    w = np.ascontiguousarray(weights, dtype=np.float32)
    a = np.sort(np.abs(w).reshape(-1))
    n1 = n1_from_max(float(a[-1]))
    n2 = n2_from_n1(n1, bits)
    idx = reference_partition_index(w.size, p)
    frozen = np.abs(w) >= a[idx]
    q = np.where(frozen, nearest_level_scan(w, n1, n2), w)
    return QuantizedBlob(q.astype(np.float32), frozen, n1, n2, idx)
