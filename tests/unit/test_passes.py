"""passes.py: the compiled kernel equals the numpy fallback bit for bit, and the fallback
equals plain definitions of each pass."""
import contextlib
import ctypes
import math

import numpy as np
import pytest
from hyp import examples
from hypothesis import given, settings, strategies as st

from inq_layer.core import passes
from inq_layer.core.levels import exact_path_from, grid_bits
from oracles import nearest_level_scan

F32 = np.float32
SPECIAL = [0.0, -0.0, 1.0, -1.0, 1.5, 0.75, 100.0, -100.0, 99.99999, 1500.0, 3e38, -3e38, 1e-40, -1e-45,
           2.0 ** -127, 2.0 ** -126, 2.0 ** -149, 0.01, -0.01, 0.0100001, 2.0 ** -7 * 1.5]


def _compiled():
    if passes._lib is None:
        pytest.skip("quantize_kernel.c is not built (make setup)")
    return passes._lib


def _both(fn, *args, **kw):
    """fn with the compiled kernel, then with numpy."""
    lib = _compiled()
    try:
        a = fn(*args, **kw)
        passes._lib = None
        b = fn(*args, **kw)
    finally:
        passes._lib = lib
    return a, b


blobs = st.lists(st.one_of(st.sampled_from(SPECIAL), st.floats(-0.0625, 0.0625, width=32),
                           st.floats(width=32, allow_nan=False, allow_infinity=False)),
                 min_size=1, max_size=300).map(lambda xs: np.array(xs, F32))


def _mask(data, n, name):
    kind = data.draw(st.sampled_from(["none", "random", "all"]), label=name)
    if kind == "none":
        return None
    if kind == "all":
        return np.ones(n, bool)
    return np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n), label=name))


def _same(a, b):
    for x, y in zip(a, b):
        if isinstance(x, np.ndarray):
            assert x.dtype == y.dtype and np.array_equal(x.view(np.uint8), y.view(np.uint8))
        else:
            assert x == y


def _key(data):
    return None if data.draw(st.booleans(), label="by rank key") else passes.random_key(data.draw(
        st.integers(0, 2**32 - 1), label="seed"))


def _buckets(hist):
    """Buckets to cut at: ALL, NONE, and some that hold candidates."""
    full = np.flatnonzero(hist).tolist()
    return [passes.ALL, passes.NONE] + full[:3] + full[-2:]


@settings(max_examples=examples(300), deadline=None)
@given(blobs, st.data())
def test_compiled_equals_numpy_on_every_pass(w, data):
    n = w.size
    bits = w.view(np.uint32)
    prev, held = _mask(data, n, "prev"), _mask(data, n, "held")
    key = _key(data)
    h, hn = _both(passes.histogram, bits, prev, held, sums=data.draw(st.booleans(), label="sums"), key=key)
    _same(h, hn)
    bucket = data.draw(st.sampled_from(_buckets(h[0])), label="bucket")
    count = int(h[0][bucket]) if 0 <= bucket < passes.HIST_SIZE else 0
    if bucket >= 0:
        _same(*_both(passes.collect, bits, prev, held, bucket, count, key))
    n1 = data.draw(st.integers(-148, 127), label="n1")
    bits_ = data.draw(st.integers(2, 8), label="bits")
    g = passes.grid(n1, n1 + 1 - 2 ** (bits_ - 2), data.draw(st.booleans(), label="original"))
    _same(*_both(passes.write, bits, prev, held, bucket, count, g, key))


def test_compiled_equals_numpy_across_blocks_and_chunks():
    """Sizes past the kernel's blocks (64, 4096, 2^16) and numpy's chunks (2^17), with
    a cut bucket spread over many blocks, subnormals and weights above 100."""
    rng = np.random.default_rng(5)
    w = rng.normal(0, 0.01, 300_007).astype(F32)
    w[::97] = F32(0.0125)  # many equal magnitudes in the cut's bucket
    w[5::1001] = -F32(0.0125)
    w[7::5003] = F32(150.0)
    w[11::7001] = F32(1e-41)
    bits = w.view(np.uint32)
    prev = rng.random(w.size) < 0.3
    held = rng.random(w.size) < 0.05
    for p, h in ((None, None), (prev, None), (None, held), (prev, held)):
        for key in (None, passes.random_key(3)):
            hist, hn = _both(passes.histogram, bits, p, h, sums=True, key=key)
            _same(hist, hn)
            cut = int(F32(0.0125).view(np.uint32)) >> 15 if key is None else int(rng.integers(passes.HIST_SIZE))
            for bucket in (cut, passes.ALL, passes.NONE):
                count = int(hist[0][bucket]) if bucket in range(passes.HIST_SIZE) else 0
                if bucket >= 0:
                    _same(*_both(passes.collect, bits, p, h, bucket, count, key))
                for g in (passes.grid(-5, -12, True), passes.grid(-5, -6, False), passes.grid(-125, -132, True)):
                    _same(*_both(passes.write, bits, p, h, bucket, count, g, key))


def _plain_candidates(n, prev, held):
    c = np.ones(n, bool)
    for m in (prev, held):
        if m is not None:
            c &= ~m
    return c


@contextlib.contextmanager
def numpy_only():
    saved, passes._lib = passes._lib, None
    try:
        yield
    finally:
        passes._lib = saved


@settings(max_examples=examples(200), deadline=None)
@given(blobs, st.data())
def test_numpy_passes_equal_their_definitions(w, data):
    with numpy_only():
        _check_definitions(w, data)


def _check_definitions(w, data):
    n = w.size
    bits = w.view(np.uint32)
    prev, held = _mask(data, n, "prev"), _mask(data, n, "held")
    key = _key(data)
    cand = _plain_candidates(n, prev, held)
    mag = (bits & 0x7FFFFFFF).astype(np.int64)
    value = mag >> 15 if key is None else _plain_rank_keys(np.arange(n), key) >> 16
    hist, top, n_held, n_cand, (count, total) = passes.histogram(bits, prev, held, sums=True, key=key)
    assert hist.tolist() == np.bincount(value[cand], minlength=passes.HIST_SIZE).tolist()
    assert (top, n_held, n_cand) == (int(mag.max()), int(held.sum()) if held is not None else 0, int(cand.sum()))
    for k in range(passes.KEYS):  # |w| = M 2^(max(E,1) - 150), exactly
        sel = (mag >> 22) == k
        assert count[k] == int(sel.sum())
        e = max(k >> 1, 1)
        assert total[k] == sum(int(math.ldexp(abs(float(x)), 150 - e)) for x in w[sel])
    bucket = data.draw(st.sampled_from(_buckets(hist)), label="bucket")
    inside = np.flatnonzero(cand & (value == bucket))
    if bucket >= 0:
        assert passes.collect(bits, prev, held, bucket, 0, key).tolist() == inside.tolist()
    n1 = data.draw(st.integers(-130, 20), label="n1")
    n2 = n1 + 1 - 2 ** (data.draw(st.integers(2, 8), label="bits") - 2)
    original = data.draw(st.booleans(), label="original")
    g = passes.grid(n1, n2, original)
    out, frozen, members = passes.write(bits, prev, held, bucket, len(inside), g, key)
    chosen = cand & (value > bucket)
    want = np.where(chosen, nearest_level_scan(w, n1, n2, original), w)
    if held is not None:
        want[held] = 0.0
    assert np.array_equal(out.view(np.uint32), want.astype(F32).view(np.uint32))
    assert frozen.tolist() == (chosen | ~cand).tolist()
    assert members.tolist() == inside.tolist()
    passes.freeze_at(bits, out, frozen, members, g)
    want[members] = nearest_level_scan(w[members], n1, n2, original)
    assert np.array_equal(out.view(np.uint32), want.astype(F32).view(np.uint32)) and frozen[members].all()


def _plain_largest(bits, excluded, m):
    """The definition: candidates sorted by magnitude, largest first, lower index first."""
    mag = (bits & np.uint32(0x7FFFFFFF)).astype(np.int64)
    cand = np.flatnonzero(_plain_candidates(bits.size, excluded, None))
    order = cand[np.lexsort((cand, -mag[cand]))]
    sel = np.zeros(bits.size, bool)
    sel[order[:max(m, 0)]] = True
    return sel


@settings(max_examples=examples(300), deadline=None)
@given(blobs, st.data())
def test_largest_is_its_definition_with_both_kernels(w, data):
    bits = w.view(np.uint32)
    excluded = _mask(data, w.size, "excluded")
    m = data.draw(st.integers(-2, w.size + 2), label="m")
    for got in _both(passes.largest, bits, excluded, m):
        assert np.array_equal(got, _plain_largest(bits, excluded, m))


def test_largest_counts_exactly_through_ties_across_chunks():
    rng = np.random.default_rng(0)
    w = np.round(rng.normal(0, 1, 400_000), 1).astype(F32)  # 3 chunks, about 60 values: ties everywhere
    bits = w.view(np.uint32)
    excluded = rng.random(w.size) < 0.3
    for m in (1, 12_345, 150_000, int((~excluded).sum()) - 1):
        for got in _both(passes.largest, bits, excluded, m):
            assert got.sum() == m and not (got & excluded).any()
            assert np.array_equal(got, _plain_largest(bits, excluded, m))
    got = passes.largest(np.array([5, 3, 3, 3, 1, 9], np.uint32), None, 3)
    assert got.tolist() == [True, True, False, False, False, True]  # the lower index wins the tie


def _plain_rank_keys(index, key):
    """mix32(mix32(i + k0) ^ k1) in Python integers."""
    def mix(x):
        x ^= x >> 16
        x = x * 0x7FEB352D & 0xFFFFFFFF
        x ^= x >> 15
        x = x * 0x846CA68B & 0xFFFFFFFF
        return x ^ x >> 16
    k0, k1 = int(key[0]), int(key[1])
    return np.array([mix(mix((int(i) + k0) & 0xFFFFFFFF) ^ k1) for i in index], np.int64)


def test_rank_keys_are_their_definition_and_distinct():
    key = passes.random_key(11)
    idx = np.array([0, 1, 2, 2**31, 2**32 - 1, 12345], np.uint32)
    assert passes.rank_keys(idx, key).tolist() == _plain_rank_keys(idx, key).tolist()
    for seed in (0, 1):  # a bijection: no two of the first 2^22 indices share a key
        assert np.unique(passes.rank_keys(np.arange(1 << 22, dtype=np.uint32), passes.random_key(seed))).size == 1 << 22


def test_a_stale_or_missing_kernel_falls_back(tmp_path, monkeypatch):
    assert passes.load(str(tmp_path / "absent.so")) is None
    monkeypatch.setenv("INQ_QUANTIZE", "numpy")
    assert passes.load() is None


def test_encode_is_its_definition_with_both_kernels():
    """The freezer's codes: the upper half of each frozen value, 0xFFFF where float, and the
    count of frozen values with a non-zero lower half, over several numpy chunks."""
    rng = np.random.default_rng(8)
    n = 3 * (1 << 17) + 5
    bits = rng.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32)
    bits[rng.random(n) < 0.5] &= np.uint32(0xFFFF0000)  # values a code holds exactly
    frozen = rng.random(n) < 0.6
    codes = np.where(frozen, bits >> 16, 0xFFFF).astype(np.uint16)
    bad = int(np.count_nonzero(frozen & (bits & np.uint32(0xFFFF) != 0)))
    assert 0 < np.count_nonzero(frozen[:1 << 17] & (bits[:1 << 17] & np.uint32(0xFFFF) != 0)) < bad
    for got in _both(passes.encode, bits, frozen):
        assert got[0].dtype == np.uint16 and np.array_equal(got[0], codes) and got[1] == bad


def test_grid_tells_the_kernel_its_path():
    """The fields quantize_kernel.c reads: the fast path's bounds, or the exact path for a
    grid that reaches below 2^-126 (n2 - 1 < -126)."""
    g = passes.grid(-5, -12, True)
    assert (g.n1, g.n2, g.original, g.exact) == (-5, -12, 1, 0)
    assert (g.lo, g.hi, g.zero, g.special) == (*grid_bits(-5, -12), exact_path_from(-5, True))
    assert passes.grid(-5, -12, False).special == 0xFFFFFFFF  # without the start value: never exact
    g = passes.grid(-118, -125, True)
    assert g.exact == 0 and (g.lo, g.hi, g.zero) == grid_bits(-118, -125)
    g = passes.grid(-119, -126, True)
    assert (g.exact, g.lo, g.hi, g.zero, g.special) == (1, 0, 0, 0, 0xFFFFFFFF)


def test_a_kernel_that_cannot_allocate_its_table_falls_back_to_numpy(monkeypatch):
    """inq_histogram reports a failed allocation as max magnitude 2^64 - 1."""
    w = np.random.default_rng(9).normal(size=1000).astype(F32)
    with numpy_only():
        want = passes.histogram(w.view(np.uint32), None, None, sums=True)

    class NoMemory:
        def inq_histogram(self, *args):
            ctypes.c_uint64.from_address(args[6]).value = 2**64 - 1  # stats[0]

    monkeypatch.setattr(passes, "_lib", NoMemory())
    _same(passes.histogram(w.view(np.uint32), None, None, sums=True), want)
