"""quantize_blob: bit-exact with the original's 3600 golden cases, paper rule, bad input."""
import os

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from inq_layer import quantize_blob
from inq_layer.quantize import quantize_blob_plain

GOLDEN = os.path.join(os.path.dirname(__file__), "data", "blobcpp_cases.npz")


def _bits(a):
    return np.asarray(a, np.float32).view(np.uint32)


def test_all_golden_cases_bit_exact():
    d = np.load(GOLDEN)
    keys = d["meta_key"]
    assert len(keys) == 3600
    mismatches = []
    for i, key in enumerate(keys):
        w = d[d["meta_weights"][i]]
        r = quantize_blob(w, str(d["meta_portion"][i]), int(d["meta_bits"][i]))
        ok = (np.array_equal(_bits(r.quantized), _bits(d[key + "_q"]))
              and np.array_equal(r.frozen, d[key + "_frozen"])
              and r.n1 == d["meta_n1"][i] and r.partition_index == d["meta_partition_index"][i]
              and r.quantized.dtype == np.float32 and r.quantized.shape == w.shape)
        if not ok:
            mismatches.append((key, str(d["meta_name"][i])))
    assert not mismatches, mismatches[:10]


def test_golden_float_portion_same_as_string():
    d = np.load(GOLDEN)
    for i in range(0, 3600, 37):
        w = d[d["meta_weights"][i]]
        p = str(d["meta_portion"][i])
        a, b = quantize_blob(w, p), quantize_blob(w, float(p))
        assert np.array_equal(a.frozen, b.frozen) and np.array_equal(_bits(a.quantized), _bits(b.quantized))


blobs = st.lists(st.one_of(st.floats(-4, 4, width=32), st.sampled_from([0.0, 0.5, -0.5, 0.75, 1.5, 2.0, -3.0, 1e-40])),
                 min_size=1, max_size=200).map(lambda xs: np.array(xs, np.float32))


@settings(max_examples=200, deadline=None)
@given(blobs, st.sampled_from(["0.2", "0.3", "0.5", "0.6", "0.75", "0.8", "0.875", "0.95", "1.0"]), st.integers(2, 8))
def test_fast_equals_plain_transcription(w, portion, bits):
    if not np.any(w):
        return
    a, b = quantize_blob(w, portion, bits), quantize_blob_plain(w, portion, bits)
    assert np.array_equal(_bits(a.quantized), _bits(b.quantized))
    assert np.array_equal(a.frozen, b.frozen) and (a.n1, a.n2) == (b.n1, b.n2)


@settings(max_examples=100, deadline=None)
@given(blobs, st.integers(2, 8), st.sampled_from(["magnitude", "random"]))
def test_paper_rule_monotonic_exact_count_values_kept(w, bits, strategy):
    if not np.any(w):
        return
    frozen, values = None, None
    for p in ("0.3", "0.6", "0.8", "1.0"):
        r = quantize_blob(w, p, bits, frozen=frozen, rule="paper", strategy=strategy, seed=3)
        target = int(np.ceil(float(p) * w.size - 1e-9))
        assert r.frozen.sum() == max(target, 0 if frozen is None else frozen.sum())
        if frozen is not None:
            assert np.all(r.frozen[frozen])  # monotonic
            assert np.array_equal(_bits(r.quantized[frozen]), _bits(values[frozen]))  # kept
        assert np.array_equal(_bits(r.quantized[~r.frozen]), _bits(w[~r.frozen]))  # float untouched
        frozen, values, w = r.frozen, r.quantized, r.quantized
    assert frozen.all()


def test_paper_magnitude_picks_largest_unfrozen():
    w = np.array([0.1, -0.9, 0.5, 0.3, -0.2, 0.05, 0.7, 0.6, 0.4, 0.0], np.float32)
    r = quantize_blob(w, 0.3, rule="paper")
    assert np.flatnonzero(r.frozen).tolist() == [1, 6, 7]
    r2 = quantize_blob(r.quantized, 0.5, rule="paper", frozen=r.frozen)
    assert np.flatnonzero(r2.frozen).tolist() == [1, 2, 6, 7, 8]


def test_random_strategy_is_seeded():
    w = np.random.default_rng(0).normal(size=1000).astype(np.float32)
    a = quantize_blob(w, 0.5, strategy="random", seed=7)
    b = quantize_blob(w, 0.5, strategy="random", seed=7)
    c = quantize_blob(w, 0.5, strategy="random", seed=8)
    m = quantize_blob(w, 0.5)
    assert np.array_equal(a.frozen, b.frozen) and not np.array_equal(a.frozen, c.frozen)
    assert a.frozen.sum() == m.frozen.sum() and not np.array_equal(a.frozen, m.frozen)


def test_reference_rule_reselects_and_ignores_frozen():
    w = np.random.default_rng(0).normal(size=500).astype(np.float32)
    a = quantize_blob(w, 0.5, frozen=np.ones(500, bool))
    assert np.array_equal(a.frozen, quantize_blob(w, 0.5).frozen)


def test_degenerate_input():
    with pytest.raises(ValueError, match="conv1"):
        quantize_blob(np.array([1.0, np.nan], np.float32), 0.5, name="conv1")
    with pytest.raises(ValueError, match="fc6.*inf"):
        quantize_blob(np.array([1.0, -np.inf], np.float32), 0.5, name="fc6")
    z = quantize_blob(np.zeros((3, 4), np.float32), 0.5)
    assert z.all_zero and z.n1 is None and z.n2 is None and z.frozen.all() and not z.quantized.any()
    w = np.ones(4, np.float32)
    for kw in ({"portion": 0}, {"portion": 1.5}, {"portion": 0.5, "bits": 9}, {"portion": 0.5, "bits": 1},
               {"portion": 0.5, "rule": "x"}, {"portion": 0.5, "strategy": "x"}):
        with pytest.raises(ValueError):
            quantize_blob(w, **kw)
    with pytest.raises(ValueError, match="too large"):
        quantize_blob(np.array([3e38], np.float32), 1.0)
