"""Quantize one blob for one INQ phase: choose the portion to freeze, snap it to the grid.

Two rules:
- "reference": blob.cpp bit for bit. Every phase re-selects from the current weights
  (the `frozen` argument is ignored): all weights with |w| >= the threshold element of the
  sorted magnitudes are quantized, ties included.
- "paper": Algorithm 1 of the paper. Weights already frozen stay frozen (and keep their
  value while it is on the blob's current grid); the next weights come from the still-float
  ones so that exactly ceil(portion * count) are frozen (see partition.target_count),
  largest |w| first, lower flat index first among equal magnitudes at the cut.
n1 always comes from the blob's current max |w| (frozen weights included).
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from .levels import check_bits, n1_from_max, n2_from_n1, nearest_level, nearest_level_scan
from .partition import (kth_smallest, magnitude_bits, parse_portion, random_pick,
                        reference_partition_index, target_count, top_by_magnitude)

RULES = ("reference", "paper")
STRATEGIES = ("magnitude", "random")
_INF_BITS = 0x7F800000  # magnitude bits of Inf; NaN's are larger


@dataclass
class QuantizedBlob:
    quantized: np.ndarray  # float32, same shape as the input
    frozen: np.ndarray  # bool, True = quantized and frozen
    n1: int | None  # None when the blob has no non-zero weight
    n2: int | None
    partition_index: int | None = None  # reference rule: index into the sorted |w|
    all_zero: bool = False  # nothing to quantize: every weight is already 0


def _check_args(rule: str, strategy: str) -> None:
    if rule not in RULES:
        raise ValueError(f"unknown rule {rule!r}: use one of {', '.join(RULES)}")
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}: use one of {', '.join(STRATEGIES)}")


def _check_finite(w: np.ndarray, name: str) -> None:
    if not np.isfinite(w).all():
        bad = w.reshape(-1)[np.flatnonzero(~np.isfinite(w.reshape(-1)))[0]]
        raise ValueError(f"{name}: weights contain {bad} (NaN or Inf); fix or retrain the float model")


def _grid(max_abs: float, bits: int, name: str) -> tuple[int, int]:
    n1 = n1_from_max(max_abs)
    if n1 > 127:
        raise ValueError(f"{name}: max |w| = {max_abs:g} is too large for a float32 power-of-two grid")
    return n1, n2_from_n1(n1, bits)


def quantize_blob(weights: np.ndarray, portion: float | str | Decimal, bits: int = 5,
                  frozen: np.ndarray | None = None, rule: str = "reference",
                  strategy: str = "magnitude", seed: int | None = None,
                  name: str = "blob") -> QuantizedBlob:
    """Quantize the accumulated `portion` of `weights` to {0, +-2^k : n2 <= k <= n1}."""
    _check_args(rule, strategy)
    bits = check_bits(bits)
    p = parse_portion(portion)
    w = np.ascontiguousarray(weights, dtype=np.float32)
    mag = magnitude_bits(w)
    max_bits = int(mag.max()) if mag.size else 0
    if max_bits >= _INF_BITS:  # NaN and Inf have the largest magnitude bits
        _check_finite(w, name)
    if max_bits == 0:  # every weight is +-0: already on the grid
        return QuantizedBlob(np.zeros_like(w), np.ones(w.shape, bool), None, None, all_zero=True)
    n1, n2 = _grid(float(np.int32(max_bits).view(np.float32)), bits, name)

    idx = None
    if rule == "reference":
        idx = reference_partition_index(w.size, p)
        chosen = mag >= kth_smallest(mag, idx)
        if strategy == "random":
            chosen = random_pick(np.ones(w.shape, bool), int(chosen.sum()), np.random.default_rng(seed))
    else:
        prev = np.zeros(w.shape, bool) if frozen is None else np.asarray(frozen, bool)
        if prev.shape != w.shape:
            raise ValueError(f"{name}: frozen mask shape {prev.shape} differs from weights {w.shape}")
        m = target_count(w.size, p) - int(prev.sum())
        if strategy == "random":
            chosen = random_pick(~prev, m, np.random.default_rng(seed))
        else:
            chosen = top_by_magnitude(mag, ~prev, m)
        chosen |= prev
    del mag
    out = nearest_level(w, n1, n2, chosen=chosen)
    return QuantizedBlob(out, chosen, n1, n2, idx)


def quantize_blob_plain(weights: np.ndarray, portion: float | str | Decimal,
                        bits: int = 5) -> QuantizedBlob:
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
