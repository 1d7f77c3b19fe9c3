"""Quantize one blob for one INQ phase: choose the portion to freeze, snap it to the grid.

Two rules:
- "reference": blob.cpp bit for bit. Every phase re-selects from the current weights
  (the `frozen` argument is ignored) and re-quantizes them: all weights with |w| >= the
  threshold element of the sorted magnitudes, ties included, on the grid of the current
  max |w|, with the original's nearest-level scan.
- "paper": Algorithm 1 of the paper. A quantized weight never changes again: weights
  already frozen keep their value exactly, and the next ones come from the still-float
  weights so that exactly ceil(portion * count) are frozen (partition.target_count),
  largest |w| first, lower flat index first among equal magnitudes at the cut. The blob's
  grid is chosen in its first phase and passed back in later (`n1`): re-deriving it from a
  max that retraining moved would push frozen weights off the grid. Weights above the grid
  take +-2^n1.

n1 (the grid's top exponent): `n1_rule="max"` is the paper's and the original's
floor(log2(4/3 max|w|)); "mse" is the n1 of least squared error (levels.n1_mse), chosen
once like the paper rule's. A given `n1` is used as it is.

`pruned` (INQ after pruning, --keep-zeros): weights held at 0 whatever the rule. They are
frozen from the first phase, never selected or revived, and the portion counts only the
other weights.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from .levels import check_bits, n1_from_max, n1_mse, n2_from_n1, nearest_level, nearest_level_scan
from .partition import (kth_smallest, magnitude_bits, parse_portion, random_pick,
                        reference_partition_index, target_count, top_by_magnitude)

RULES = ("reference", "paper")
STRATEGIES = ("magnitude", "random")
N1_RULES = ("max", "mse")
_INF_BITS = 0x7F800000  # magnitude bits of Inf; NaN's are larger


@dataclass
class QuantizedBlob:
    quantized: np.ndarray  # float32, same shape as the input
    frozen: np.ndarray  # bool, True = quantized and frozen
    n1: int | None  # None when the blob has no non-zero weight
    n2: int | None
    partition_index: int | None = None  # reference rule: index into the sorted |w|
    all_zero: bool = False  # nothing to quantize: every weight is already 0


def check_choice(what: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}: use one of {', '.join(allowed)}")


def _check_finite(w: np.ndarray, name: str) -> None:
    if not np.isfinite(w).all():
        bad = w.reshape(-1)[np.flatnonzero(~np.isfinite(w.reshape(-1)))[0]]
        raise ValueError(f"{name}: weights contain {bad} (NaN or Inf); fix or retrain the float model")


def _choose_n1(w: np.ndarray, bits: int, n1_rule: str) -> int:
    """n1 of a blob that has a non-zero weight, by `n1_rule` (checked by the caller)."""
    if n1_rule == "mse":
        return n1_mse(w, bits)
    return n1_from_max(float(np.max(np.abs(w))))


def _check_n1(n1, bits: int, name: str) -> None:
    """A given n1 is an integer exponent of float32 (2^-149, the smallest subnormal, to 2^127)."""
    if isinstance(n1, bool) or not isinstance(n1, (int, np.integer)):
        raise ValueError(f"{name}: n1 must be an integer, got {n1!r}")
    if not -149 <= n1 <= 127:
        raise ValueError(f"{name}: n1 = {n1} is outside float32's exponents (-149..127)")


def _mask(m: np.ndarray | None, shape: tuple, what: str, name: str) -> np.ndarray:
    if m is None:
        return np.zeros(shape, bool)
    m = np.asarray(m, bool)
    if m.shape != shape:
        raise ValueError(f"{name}: {what} mask shape {m.shape} differs from weights {shape}")
    return m


def quantize_blob(weights: np.ndarray, portion: float | str | Decimal, bits: int = 5,
                  frozen: np.ndarray | None = None, rule: str = "reference",
                  strategy: str = "magnitude", seed: int | None = None,
                  name: str = "blob", n1: int | None = None, n1_rule: str = "max",
                  pruned: np.ndarray | None = None) -> QuantizedBlob:
    """Quantize the accumulated `portion` of `weights` to {0, +-2^k : n2 <= k <= n1}."""
    check_choice("rule", rule, RULES)
    check_choice("strategy", strategy, STRATEGIES)
    check_choice("n1 rule", n1_rule, N1_RULES)
    bits = check_bits(bits)
    p = parse_portion(portion)
    if n1 is not None:
        _check_n1(n1, bits, name)
    if np.ndim(weights) == 0:  # a scalar blob keeps its 0-d shape
        r = quantize_blob(np.reshape(weights, 1), portion, bits, None if frozen is None else np.reshape(frozen, 1),
                          rule, strategy, seed, name, n1, n1_rule, None if pruned is None else np.reshape(pruned, 1))
        return QuantizedBlob(r.quantized.reshape(()), r.frozen.reshape(()), r.n1, r.n2, r.partition_index, r.all_zero)
    w = np.ascontiguousarray(weights, dtype=np.float32)
    prev = _mask(frozen, w.shape, "frozen", name) if rule == "paper" else np.zeros(w.shape, bool)
    held = _mask(pruned, w.shape, "pruned", name)
    mag = magnitude_bits(w)
    max_bits = int(mag.max()) if mag.size else 0
    if max_bits >= _INF_BITS:  # NaN and Inf have the largest magnitude bits
        _check_finite(w, name)
    if max_bits == 0:  # every weight is +-0: already on the grid
        return QuantizedBlob(np.zeros_like(w), np.ones(w.shape, bool), None, None, all_zero=True)
    if rule == "paper" and n1 is None and (prev & ~held).any():
        raise ValueError(f"{name}: the paper rule keeps a blob's grid: pass the n1 of its first phase")
    original = rule == "reference" and n1 is None and n1_rule == "max"
    if n1 is None:
        n1 = _choose_n1(w, bits, n1_rule)
    if n1 > 127:
        raise ValueError(f"{name}: max |w| = {np.int32(max_bits).view(np.float32):g} is too large "
                         f"for a float32 power-of-two grid")
    n2 = n2_from_n1(n1, bits)

    live = ~held
    n_live = int(np.count_nonzero(live))
    idx = None
    if rule == "reference":
        if n_live:
            idx = reference_partition_index(n_live, p)
            chosen = live & (mag >= kth_smallest(mag if not held.any() else mag[live], idx))
            if strategy == "random":
                chosen = random_pick(live, int(chosen.sum()), np.random.default_rng(seed))
        else:
            chosen = np.zeros(w.shape, bool)
    else:
        prev = prev | held
        m = int(held.sum()) + target_count(n_live, p) - int(prev.sum())
        if strategy == "random":
            chosen = random_pick(~prev, m, np.random.default_rng(seed))
        else:
            chosen = top_by_magnitude(mag, ~prev, m)
    del mag
    # Only the newly chosen weights are snapped: frozen ones keep their exact value.
    out = nearest_level(w, n1, n2, chosen=chosen, original=original)
    if held.any():
        out[held] = 0.0
    return QuantizedBlob(out, chosen | prev | held, n1, n2, idx)


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
