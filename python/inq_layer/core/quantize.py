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
floor(log2(4/3 max|w|)); "mse" is the n1 of least squared error (n1_choice.py), chosen
once like the paper rule's. A given `n1` is used as it is.

`pruned` (INQ after pruning, --keep-zeros): weights held at 0 whatever the rule. They are
frozen from the first phase, never selected or revived, and the portion counts only the
other weights.

`strategy="random"` (the paper's Table 2) draws the weights to freeze uniformly from the
candidates instead: the ones whose rank key, a bijection of the index keyed by `seed`
(passes.rank_keys), is largest. The reference rule draws as many as its magnitude cut
selects.

The blob is read twice (passes.py, compiled or numpy): a histogram of the candidates'
values (with the mse rule's sums), and the writing of the levels and the frozen mask of
the candidates above the bucket that holds the cut, which lists that bucket's; the few in
it that make up the count are snapped afterwards. The reference rule's random partition
reads the bucket of its magnitude cut once more, and its rank keys.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from . import passes
from .levels import check_bits, n1_from_max, n2_from_n1
from .n1_choice import n1_from_sums
from .partition import parse_portion, reference_partition_index, target_count

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


def _check_n1(n1, bits: int, name: str) -> None:
    """A given n1 is an integer exponent of float32 (2^-149, the smallest subnormal, to 2^127)."""
    if isinstance(n1, bool) or not isinstance(n1, (int, np.integer)):
        raise ValueError(f"{name}: n1 must be an integer, got {n1!r}")
    if not -149 <= n1 <= 127:
        raise ValueError(f"{name}: n1 = {n1} is outside float32's exponents (-149..127)")


def _mask(m: np.ndarray | None, shape: tuple, what: str, name: str) -> np.ndarray | None:
    """A 1-D contiguous bool view of a mask, or None."""
    if m is None:
        return None
    m = np.asarray(m, bool)
    if m.shape != shape:
        raise ValueError(f"{name}: {what} mask shape {m.shape} differs from weights {shape}")
    return np.ascontiguousarray(m).reshape(-1)


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
    if np.size(weights) >= 2**31:  # before the copy below could take 8 GB
        raise ValueError(f"{name}: {np.size(weights)} weights, more than a Caffe blob holds (2^31 - 1)")
    w = np.ascontiguousarray(weights, dtype=np.float32)
    wbits = w.reshape(-1).view(np.uint32)
    prev = _mask(frozen, w.shape, "frozen", name) if rule == "paper" else None
    held = _mask(pruned, w.shape, "pruned", name)
    key = passes.random_key(seed) if strategy == "random" else None
    by_key = key if rule == "paper" else None  # the reference rule counts by magnitude first
    hist, max_bits, n_held, n_cand, sums = passes.histogram(wbits, prev, held, sums=n1 is None and n1_rule == "mse",
                                                            key=by_key)
    if max_bits >= _INF_BITS:  # NaN and Inf have the largest magnitude bits
        _check_finite(w, name)
    if max_bits == 0:  # every weight is +-0: already on the grid
        return QuantizedBlob(np.zeros_like(w), np.ones(w.shape, bool), None, None, all_zero=True)
    n = w.size
    n_live = n - n_held
    if rule == "paper" and n1 is None and n - n_cand > n_held:  # frozen weights that are not held
        raise ValueError(f"{name}: the paper rule keeps a blob's grid: pass the n1 of its first phase")
    original = rule == "reference" and n1 is None and n1_rule == "max"
    max_abs = float(np.uint32(max_bits).view(np.float32))
    if n1 is None:
        n1 = n1_from_sums(sums, max_abs, bits) if n1_rule == "mse" else n1_from_max(max_abs)
    if n1 > 127:
        raise ValueError(f"{name}: max |w| = {max_abs:g} is too large for a float32 power-of-two grid")
    n2 = n2_from_n1(n1, bits)
    g = passes.grid(n1, n2, original)

    idx = None
    if rule == "reference":  # blob.cpp: |w| >= the idx-th smallest of the live weights
        m = 0
        if n_live:
            idx = reference_partition_index(n_live, p)
            bucket, below = passes.bucket_of_rank(hist, idx)
            if key is None:  # the cut and the count come out of the write pass's list
                out, mask, members = passes.write(wbits, None, held, bucket, int(hist[bucket]), g)
            else:  # the count first, then as many drawn by rank key
                members = passes.collect(wbits, None, held, bucket, int(hist[bucket]))
            mags = wbits[members] & np.uint32(0x7FFFFFFF)
            t = np.partition(mags, idx - below)[idx - below]
            if key is None:
                passes.freeze_at(wbits, out, mask, members[mags >= t], g)
                return QuantizedBlob(out.reshape(w.shape), mask.reshape(w.shape), n1, n2, idx)
            m = n_cand - below - int(np.count_nonzero(mags < t))  # the live weights with |w| >= t
            hist = passes.histogram(wbits, None, held, key=key)[0]
    else:
        m = target_count(n_live, p) - (n - n_cand - n_held)  # not yet frozen among those to freeze
    # The m candidates of largest value (magnitude, lower index first among equal ones, or rank key).
    bucket, need = passes.cut(hist, n_cand, m)
    out, mask, members = passes.write(wbits, prev, held, bucket, int(hist[bucket]) if need else 0, g, key)
    if need:
        vals = wbits[members] & np.uint32(0x7FFFFFFF) if key is None else passes.rank_keys(members, key)
        # Only the newly chosen weights are snapped: frozen ones keep their exact value.
        passes.freeze_at(wbits, out, mask, passes.first_by_value(members, vals, need), g)
    return QuantizedBlob(out.reshape(w.shape), mask.reshape(w.shape), n1, n2, idx)
