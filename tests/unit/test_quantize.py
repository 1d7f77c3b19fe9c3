"""quantize_blob: bit-exact with the original's 3600 golden cases, paper rule, bad input."""
import functools
import os
import re
from collections import Counter
from decimal import Decimal

import numpy as np
import pytest
from hyp import examples
from hypothesis import given, settings, strategies as st

from driver_util import bits as u32
from inq_layer import quantize_blob
from inq_layer.core.levels import n1_from_max, n2_from_n1
from oracles import nearest_level_scan, quantize_blob_plain

GOLDEN = os.path.join(os.path.dirname(__file__), "data", "blobcpp_cases.npz")
pytestmark = pytest.mark.usefixtures("both_kernels")  # compiled, then the numpy fallback


@functools.lru_cache(maxsize=1)
def golden() -> dict:
    """The golden cases, every array read out of the .npz once (each lookup in an NpzFile
    decompresses again)."""
    with np.load(GOLDEN) as z:
        return {k: z[k] for k in z.files}


def test_all_golden_cases_bit_exact():
    d = golden()
    keys = d["meta_key"]
    assert len(keys) == 3600
    mismatches = []
    step = 7 if os.environ.get("INQ_MUTATE") else 1  # `make mutate`: a spread-out seventh
    for i in range(0, len(keys), step):
        key = keys[i]
        w = d[d["meta_weights"][i]]
        r = quantize_blob(w, str(d["meta_portion"][i]), int(d["meta_bits"][i]))
        ok = (np.array_equal(u32(r.quantized), u32(d[key + "_q"]))
              and np.array_equal(r.frozen, d[key + "_frozen"])
              and r.n1 == d["meta_n1"][i] and r.partition_index == d["meta_partition_index"][i]
              and r.quantized.dtype == np.float32 and r.quantized.shape == w.shape)
        if not ok:
            mismatches.append((key, str(d["meta_name"][i])))
    assert not mismatches, mismatches[:10]


def test_golden_float_portion_same_as_string():
    d = golden()
    for i in range(0, 3600, 37):
        w = d[d["meta_weights"][i]]
        p = str(d["meta_portion"][i])
        a, b = quantize_blob(w, p), quantize_blob(w, float(p))
        assert np.array_equal(a.frozen, b.frozen) and np.array_equal(u32(a.quantized), u32(b.quantized))


blobs = st.lists(st.one_of(st.floats(-4, 4, width=32), st.sampled_from([0.0, 0.5, -0.5, 0.75, 1.5, 2.0, -3.0, 1e-40])),
                 min_size=1, max_size=200).map(lambda xs: np.array(xs, np.float32))


@settings(max_examples=examples(200), deadline=None)
@given(blobs, st.sampled_from(["0.2", "0.3", "0.5", "0.6", "0.75", "0.8", "0.875", "0.95", "1.0"]), st.integers(2, 8))
def test_fast_equals_plain_transcription(w, portion, bits):
    if not np.any(w):
        return
    a, b = quantize_blob(w, portion, bits), quantize_blob_plain(w, portion, bits)
    assert np.array_equal(u32(a.quantized), u32(b.quantized))
    assert np.array_equal(a.frozen, b.frozen) and (a.n1, a.n2) == (b.n1, b.n2)


def _paper_plain(w, portion, bits, frozen, n1, pruned):
    """Algorithm 1 written plainly: the m largest |w| among the weights neither frozen nor
    pruned, the lower index first at equal |w|, where m makes ceil(portion * unpruned)."""
    n2 = n2_from_n1(n1, bits)
    mags = np.abs(w.astype(np.float64))
    done = frozen | pruned
    m = int(np.ceil(Decimal(portion) * int((~pruned).sum()))) - int((frozen & ~pruned).sum())
    cand = np.flatnonzero(~done)
    order = cand[np.lexsort((cand, -mags[cand]))]
    chosen = np.zeros(w.size, bool)
    chosen[order[:max(m, 0)]] = True
    out = np.where(chosen, nearest_level_scan(w, n1, n2, original=False), w).astype(np.float32)
    out[pruned] = 0.0
    return out, chosen | done


@settings(max_examples=examples(200), deadline=None)
@given(blobs, st.sampled_from(["0.2", "0.3", "0.5", "0.75", "0.9", "1"]), st.integers(2, 8), st.data())
def test_paper_rule_equals_its_plain_definition(w, portion, bits, data):
    if not np.any(w):
        return
    n = w.size
    frozen = np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    pruned = np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n))) & (w == 0)
    n1 = n1_from_max(float(np.max(np.abs(w))))
    r = quantize_blob(w, portion, bits, frozen=frozen, rule="paper", n1=n1, pruned=pruned)
    out, mask = _paper_plain(w, portion, bits, frozen, n1, pruned)
    assert np.array_equal(u32(r.quantized), u32(out)) and np.array_equal(r.frozen, mask)


def _campaign(w, bits, strategy="magnitude", portions=("0.3", "0.6", "0.8", "1.0"), grow=None,
              n1_rule="max", pruned=None, rule="paper"):
    """Phases of the paper rule on one blob; `grow(w, frozen)` plays the retraining between
    phases. Yields each phase's result and the weights it started from."""
    frozen, n1 = None, None
    for k, p in enumerate(portions):
        r = quantize_blob(w, p, bits, frozen=frozen, rule=rule, strategy=strategy, seed=3 + k,
                          n1=n1, n1_rule=n1_rule, pruned=pruned)
        yield r, w
        frozen, n1 = r.frozen, r.n1
        w = r.quantized if grow is None else grow(r.quantized.copy(), r.frozen)


def _on_grid(q, n1, n2):
    a = np.abs(q.astype(np.float64))
    nz = a != 0
    m, e = np.frexp(a[nz])
    return bool(np.all(m == 0.5) and np.all(e - 1 >= n2) and np.all(e - 1 <= n1))


@settings(max_examples=examples(100), deadline=None)
@given(blobs, st.integers(2, 8), st.sampled_from(["magnitude", "random"]), st.sampled_from(["max", "mse"]))
def test_paper_rule_monotonic_exact_count_values_kept(w, bits, strategy, n1_rule):
    if not np.any(w):
        return
    prev = None
    for r, start in _campaign(w, bits, strategy, n1_rule=n1_rule):
        p = r.frozen.sum() / w.size
        if prev is not None:
            assert np.all(r.frozen[prev.frozen])  # monotonic
            assert np.array_equal(u32(r.quantized[prev.frozen]), u32(prev.quantized[prev.frozen]))  # kept
            assert r.n1 == prev.n1  # the grid of the first phase
        assert p >= 0 and np.array_equal(u32(r.quantized[~r.frozen]), u32(start[~r.frozen]))  # float untouched
        assert _on_grid(r.quantized[r.frozen], r.n1, r.n2)
        prev = r
    assert prev.frozen.all()


@settings(max_examples=examples(60), deadline=None)
@given(blobs, st.integers(2, 8), st.sampled_from(["magnitude", "random"]), st.sampled_from(["0.2", "0.5", "0.9"]))
def test_paper_rule_freezes_exactly_ceil_of_the_portion(w, bits, strategy, portion):
    if not np.any(w):
        return
    r = quantize_blob(w, portion, bits, rule="paper", strategy=strategy, seed=1)
    assert r.frozen.sum() == int(np.ceil(float(portion) * w.size - 1e-9))


def test_paper_rule_n1_stays_when_a_float_weight_grows():
    """Retraining pushes an unfrozen weight past 1.5 * 2^n1 (the random partition leaves the
    largest weight float): the grid must not move, no frozen weight may change, and the
    grown weight takes +2^n1."""
    rng = np.random.default_rng(5)
    w = rng.normal(0, 0.05, 400).astype(np.float32)
    w[7] = 0.3  # n1 = floor(log2(0.4)) = -2

    def grow(q, frozen):
        free = np.flatnonzero(~frozen)
        if not free.size:
            return q
        q[free[0]] = 0.9  # well above 1.5 * 2^-2
        q[free[1:]] += rng.normal(0, 0.01, free.size - 1).astype(np.float32)
        return q

    results = list(_campaign(w, 4, "random", grow=grow))
    first = results[0][0]
    assert first.n1 == -2 and not first.frozen[7]
    for (a, _), (b, start) in zip(results, results[1:]):
        assert b.n1 == first.n1 and b.n2 == first.n2
        assert np.array_equal(u32(b.quantized[a.frozen]), u32(a.quantized[a.frozen]))
        grown = np.flatnonzero(start > 0.75)
        assert np.all(b.quantized[grown[b.frozen[grown]]] == 0.25)  # clipped to 2^n1
    # Without the fixed grid the max rule would have moved n1 up and zeroed 2^n2 weights.
    assert quantize_blob(results[1][1], "0.6", 4).n1 > first.n1


def test_paper_rule_needs_the_first_phase_grid():
    w = np.random.default_rng(0).normal(size=50).astype(np.float32)
    r = quantize_blob(w, 0.5, rule="paper")
    with pytest.raises(ValueError, match=r"^blob: the paper rule keeps a blob's grid: pass the n1 of its first phase$"):
        quantize_blob(r.quantized, 0.8, rule="paper", frozen=r.frozen)  # "blob": the default name
    assert r.n2 == r.n1 - 7  # 5 bits by default: 8 exponents n2..n1
    for kw in ("frozen", "pruned"):
        with pytest.raises(ValueError, match=rf"^fc6: {kw} mask shape \(3,\) differs from weights \(50,\)$"):
            quantize_blob(w, 0.5, rule="paper", name="fc6", **{kw: np.zeros(3, bool)})


def test_paper_rule_clips_instead_of_the_original_start_value():
    # The original's scan starts at distance 100: 700 on a grid with 512 and 1024 became +1.0.
    w = np.array([700.0, -3000.0, 1000.0, 0.1], np.float32)
    assert quantize_blob(w, 1.0, 5).quantized.tolist()[:2] == [1.0, 1.0]  # reference: bit for bit
    r = quantize_blob(w, 1.0, 5, rule="paper", n1=10)
    assert r.quantized.tolist() == [512.0, -1024.0, 1024.0, 0.0]


@settings(max_examples=examples(60), deadline=None)
@given(blobs, st.integers(2, 8), st.sampled_from(["reference", "paper"]), st.sampled_from(["magnitude", "random"]),
       st.data())
def test_pruned_weights_stay_zero_and_portions_count_the_rest(w, bits, rule, strategy, data):
    pruned = np.array(data.draw(st.lists(st.booleans(), min_size=w.size, max_size=w.size)))
    w = np.where(pruned, np.float32(0), w).astype(np.float32)
    if not np.any(w):
        return
    live = int((~pruned).sum())
    for r, _ in _campaign(w, bits, strategy, rule=rule, pruned=pruned):
        assert np.all(r.frozen[pruned]) and np.all(u32(r.quantized[pruned]) == 0)
        if rule == "paper":
            portion = (r.frozen & ~pruned).sum()
            assert portion >= 1 or live == 0


def test_keep_zeros_portion_of_the_non_zero_weights():
    w = np.zeros(100, np.float32)
    w[:10] = np.linspace(0.1, 1.0, 10)
    r = quantize_blob(w, 0.3, rule="paper", pruned=w == 0)
    assert r.frozen[10:].all() and r.frozen[:10].sum() == 3 and r.frozen[7:10].all()
    ref = quantize_blob(w, 0.3, pruned=w == 0)  # reference: threshold among the 10 (int(10*0.7)-1 = 6)
    assert ref.partition_index == 6 and ref.frozen[:10].sum() == 4


def test_mse_rule_zeroes_less_than_max_at_two_bits():
    w = np.random.default_rng(2).normal(0, 0.05, 20000).astype(np.float32)
    w[0] = 0.4  # one outlier sets the max rule's scale
    a = quantize_blob(w, 1.0, 2, rule="paper")
    b = quantize_blob(w, 1.0, 2, rule="paper", n1_rule="mse")
    assert b.n1 < a.n1 and np.mean(b.quantized == 0) < np.mean(a.quantized == 0)
    assert set(np.abs(b.quantized).tolist()) <= {0.0, 2.0 ** b.n1}


def test_random_strategy_is_seeded():
    w = np.random.default_rng(0).normal(size=1000).astype(np.float32)
    a = quantize_blob(w, 0.5, strategy="random", seed=7)
    b = quantize_blob(w, 0.5, strategy="random", seed=7)
    c = quantize_blob(w, 0.5, strategy="random", seed=8)
    m = quantize_blob(w, 0.5)
    assert np.array_equal(a.frozen, b.frozen) and not np.array_equal(a.frozen, c.frozen)
    assert a.frozen.sum() == m.frozen.sum() and not np.array_equal(a.frozen, m.frozen)


@pytest.mark.parametrize("rule", ["paper", "reference"])
def test_random_partition_draws_every_subset_equally_often(rule):
    """2400 seeds choosing 3 of the 10 candidates (2 of 12 frozen before, paper rule; 2
    held at zero, reference rule): all 120 subsets, each about 20 times (chi-square, 119
    degrees of freedom: 200 is beyond its 99.99th percentile)."""
    w = np.linspace(0.1, 1.2, 12).astype(np.float32)
    before = np.zeros(12, bool)
    before[[0, 7]] = True
    if rule == "paper":
        first = quantize_blob(w, "0.5", 5, rule="paper", strategy="magnitude")
        def draw(seed):
            return quantize_blob(w, "0.4", 5, frozen=before, rule="paper", strategy="random", seed=seed,
                                 n1=first.n1).frozen & ~before
    else:
        def draw(seed):  # the reference rule draws as many as its magnitude cut takes: 3
            return quantize_blob(w, "0.2", 5, rule="reference", strategy="random", seed=seed,
                                 pruned=before).frozen & ~before
    counts = Counter(tuple(np.flatnonzero(draw(seed))) for seed in range(2400))
    assert len(counts) == 120 and all(len(k) == 3 and not set(k) & {0, 7} for k in counts)
    chi2 = sum((c - 20) ** 2 / 20 for c in counts.values())
    assert chi2 < 200, chi2


def test_reference_rule_reselects_and_ignores_frozen():
    w = np.random.default_rng(0).normal(size=500).astype(np.float32)
    a = quantize_blob(w, 0.5, frozen=np.ones(500, bool))
    assert np.array_equal(a.frozen, quantize_blob(w, 0.5).frozen)


def test_degenerate_input():
    nan_msg = r"^conv1: weights contain nan \(NaN or Inf\); fix or retrain the float model$"
    with pytest.raises(ValueError, match=nan_msg):
        quantize_blob(np.array([1.0, np.nan], np.float32), 0.5, name="conv1")
    with pytest.raises(ValueError, match="fc6.*inf"):
        quantize_blob(np.array([1.0, -np.inf], np.float32), 0.5, name="fc6")
    z = quantize_blob(np.zeros((3, 4), np.float32), 0.5)
    assert z.all_zero is True and z.n1 is None and z.n2 is None and z.partition_index is None
    assert z.frozen.all() and not z.quantized.any()
    for rule in ("reference", "paper"):  # an ordinary blob is not flagged
        assert quantize_blob(np.array([0.0, 0.5, -0.25], np.float32), 0.5, rule=rule).all_zero is False
    w = np.ones(4, np.float32)
    for kw in ({"portion": 0}, {"portion": 1.5}, {"portion": 0.5, "bits": 9}, {"portion": 0.5, "bits": 1},
               {"portion": 0.5, "rule": "x"}, {"portion": 0.5, "strategy": "x"},
               {"portion": 0.5, "n1_rule": "x"}, {"portion": 0.5, "pruned": np.ones(3, bool)}):
        with pytest.raises(ValueError):
            quantize_blob(w, **kw)
    for kw, msg in (({"rule": "x"}, "unknown rule 'x': use one of reference, paper"),
                    ({"strategy": "x"}, "unknown strategy 'x': use one of magnitude, random"),
                    ({"n1_rule": "x"}, "unknown n1 rule 'x': use one of max, mse")):
        with pytest.raises(ValueError, match=f"^{msg}$"):
            quantize_blob(w, 0.5, **kw)
    assert quantize_blob(np.array([0.5, -3.0], np.float32), 1.0).n1 == 2  # max rule by default: floor(log2(4))
    e = quantize_blob(np.zeros((0, 3), np.float32), 0.5, rule="paper")  # an empty blob: nothing to do
    assert e.all_zero and e.n1 is None and e.quantized.shape == (0, 3)
    with pytest.raises(ValueError, match=r"^fc8: max \|w\| = 3e\+38 is too large for a float32 power-of-two grid$"):
        quantize_blob(np.array([3e38], np.float32), 1.0, name="fc8")
    assert quantize_blob(np.array([2.0 ** 127], np.float32), 1.0).n1 == 127  # the largest grid that fits


def test_start_value_quirk_only_in_the_reference_rule_with_its_own_grid():
    """blob.cpp's start value 100 gives +1.0 to a weight with no level within 100 (700
    between 512 and 1024). Only the reference rule on its own max-rule grid keeps that
    quirk; the paper rule, an mse grid or a given n1 take the nearest level."""
    w = np.array([1000.0, 700.0, -700.0], np.float32)
    assert quantize_blob(w, 1.0).quantized.tolist() == [1024.0, 1.0, 1.0]
    assert quantize_blob(w, 1.0, rule="paper").quantized.tolist() == [1024.0, 512.0, -512.0]
    assert quantize_blob(w, 1.0, n1=10).quantized.tolist() == [1024.0, 512.0, -512.0]
    mse = quantize_blob(w, 1.0, n1_rule="mse")
    assert mse.quantized.tolist() == quantize_blob(w, 1.0, rule="paper", n1_rule="mse").quantized.tolist()
    assert 1.0 not in mse.quantized.tolist()


def test_partition_index_and_fully_pruned_blobs():
    w = np.arange(1, 11, dtype=np.float32)
    assert quantize_blob(w, 0.5, rule="paper").partition_index is None
    assert quantize_blob(w, 0.5).partition_index == 4  # int(10 * 0.5) - 1
    for rule in ("reference", "paper"):  # every weight pruned: all held at 0, nothing chosen
        r = quantize_blob(w, 0.5, rule=rule, pruned=np.ones(10, bool), n1=3)
        assert r.frozen.all() and not r.quantized.any()


def test_a_scalar_blob_keeps_its_shape():
    r = quantize_blob(np.array(0.3, np.float32), 1.0, 5)
    assert r.quantized.shape == () and r.frozen.shape == () and float(r.quantized) == 0.25


def test_a_given_n1_is_an_integer_float32_exponent():
    w = np.full(4, 0.3, np.float32)
    for n1, msg in ((1.5, "n1 must be an integer, got 1.5"), (True, "n1 must be an integer, got True"),
                    (128, "n1 = 128 is outside float32's exponents (-149..127)"), (-150, "n1 = -150 is outside")):
        with pytest.raises(ValueError, match=f"^blob: {re.escape(msg)}"):
            quantize_blob(w, 0.5, 5, n1=n1, rule="paper")
    assert quantize_blob(w, 1.0, 5, n1=np.int64(-1), rule="paper").n1 == -1
    for n1 in (-149, 127):  # the ends of the range
        assert quantize_blob(w, 1.0, 5, n1=n1, rule="paper").n1 == n1


def test_a_blob_larger_than_caffe_holds_is_refused_before_any_copy():
    w = np.lib.stride_tricks.as_strided(np.zeros(1, np.float32), (2**31,), (0,))  # no memory behind it
    with pytest.raises(ValueError, match=r"^fc: 2147483648 weights, more than a Caffe blob holds \(2\^31 - 1\)$"):
        quantize_blob(w, 0.5, 5, name="fc")


def test_a_scalar_blob_honours_its_frozen_and_pruned_masks():
    w = np.array(0.3, np.float32)
    kept = quantize_blob(w, 0.5, 5, frozen=np.array(True), rule="paper", n1=-1)
    assert float(kept.quantized) == np.float32(0.3) and bool(kept.frozen)  # frozen earlier: not snapped
    held = quantize_blob(w, 0.5, 5, pruned=np.array(True))
    assert float(held.quantized) == 0.0 and bool(held.frozen)


def test_the_cut_inside_one_histogram_bucket_takes_the_largest():
    """Ten magnitudes that differ below the histogram's 8 mantissa bits share one bucket:
    the cut is made inside it, by magnitude (paper rule), and the reference rule's random
    draw takes as many as its magnitude cut."""
    w = (1 + np.array([3, 9, 0, 7, 1, 8, 2, 6, 4, 5]) * 2.0**-20).astype(np.float32)
    r = quantize_blob(w, 0.5, 5, rule="paper")
    assert sorted(np.flatnonzero(r.frozen)) == sorted(np.argsort(-w)[:5].tolist())
    ref = quantize_blob(w, 0.5, 5)
    assert ref.frozen.sum() == 6  # |w| >= the 4th smallest (int(10 * 0.5) - 1)
    for seed in range(5):
        assert quantize_blob(w, 0.5, 5, strategy="random", seed=seed).frozen.sum() == 6
