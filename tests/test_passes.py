"""passes.py: the compiled kernel equals the numpy fallback bit for bit, and the fallback
equals plain definitions of each pass."""
import contextlib
import math

import numpy as np
import pytest
from hyp import examples
from hypothesis import given, settings, strategies as st

from inq_layer import passes
from inq_layer.levels import nearest_level_scan

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


@settings(max_examples=examples(300), deadline=None)
@given(blobs, st.data())
def test_compiled_equals_numpy_on_every_pass(w, data):
    n = w.size
    bits = w.view(np.uint32)
    prev, held = _mask(data, n, "prev"), _mask(data, n, "held")
    h, hn = _both(passes.histogram, bits, prev, held, sums=True)
    _same(h, hn)
    mags = (bits & 0x7FFFFFFF).tolist()
    t = data.draw(st.sampled_from(mags + [0, passes.ALL & 0xFFFFFFFF]), label="t")
    bucket = min(t >> passes.HIST_SHIFT, passes.HIST_SIZE - 1)
    _same(*_both(passes.collect, bits, prev, held, bucket, int(h[0][bucket])))
    ties = data.draw(st.sampled_from([0, 1, 2, 5, passes.ALL]), label="ties")
    pick = _mask(data, n, "pick")
    n1 = data.draw(st.integers(-148, 127), label="n1")
    bits_ = data.draw(st.integers(2, 8), label="bits")
    g = passes.grid(n1, n1 + 1 - 2 ** (bits_ - 2), data.draw(st.booleans(), label="original"))
    _same(*_both(passes.write, bits, prev, held, pick, t, ties, g))


def test_compiled_equals_numpy_across_blocks_and_chunks():
    """Sizes past the kernel's blocks (64, 4096, 2^16) and numpy's chunks (2^17), with
    ties spread over many blocks, subnormals and weights above 100."""
    rng = np.random.default_rng(5)
    w = rng.normal(0, 0.01, 300_007).astype(F32)
    w[::97] = F32(0.0125)  # many equal magnitudes: the cut falls among them
    w[5::1001] = -F32(0.0125)
    w[7::5003] = F32(150.0)
    w[11::7001] = F32(1e-41)
    bits = w.view(np.uint32)
    prev = rng.random(w.size) < 0.3
    held = rng.random(w.size) < 0.05
    for p, h in ((None, None), (prev, None), (None, held), (prev, held)):
        hist, hn = _both(passes.histogram, bits, p, h, sums=True)
        _same(hist, hn)
        t = int(np.uint32(F32(0.0125).view(np.uint32)))
        bucket = t >> passes.HIST_SHIFT
        _same(*_both(passes.collect, bits, p, h, bucket, int(hist[0][bucket])))
        for ties in (0, 1, 1000, 2500, passes.ALL):
            for g in (passes.grid(-5, -12, True), passes.grid(-5, -6, False), passes.grid(-125, -132, True)):
                _same(*_both(passes.write, bits, p, h, None, t, ties, g))


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
    cand = _plain_candidates(n, prev, held)
    mag = (bits & 0x7FFFFFFF).astype(np.int64)
    hist, top, n_held, n_cand, (count, total) = passes.histogram(bits, prev, held, sums=True)
    assert hist.tolist() == np.bincount(mag[cand] >> passes.HIST_SHIFT, minlength=passes.HIST_SIZE).tolist()
    assert (top, n_held, n_cand) == (int(mag.max()), int(held.sum()) if held is not None else 0, int(cand.sum()))
    for k in range(passes.KEYS):  # |w| = M 2^(max(E,1) - 150), exactly
        sel = (mag >> 22) == k
        assert count[k] == int(sel.sum())
        e = max(k >> 1, 1)
        assert total[k] == sum(int(math.ldexp(abs(float(x)), 150 - e)) for x in w[sel])
    t = data.draw(st.sampled_from(mag.tolist()), label="t")
    bucket = t >> passes.HIST_SHIFT
    assert passes.collect(bits, prev, held, bucket, 0).tolist() == \
        mag[cand & ((mag >> passes.HIST_SHIFT) == bucket)].tolist()
    ties = data.draw(st.sampled_from([0, 1, 3, passes.ALL]), label="ties")
    n1 = data.draw(st.integers(-130, 20), label="n1")
    n2 = n1 + 1 - 2 ** (data.draw(st.integers(2, 8), label="bits") - 2)
    original = data.draw(st.booleans(), label="original")
    out, frozen = passes.write(bits, prev, held, None, t, ties, passes.grid(n1, n2, original))
    chosen = cand & (mag > t)
    chosen[np.flatnonzero(cand & (mag == t))[:ties]] = True
    want = np.where(chosen, nearest_level_scan(w, n1, n2, original), w)
    if held is not None:
        want[held] = 0.0
    assert np.array_equal(out.view(np.uint32), want.astype(F32).view(np.uint32))
    assert frozen.tolist() == (chosen | ~cand).tolist()


def test_a_stale_or_missing_kernel_falls_back(tmp_path, monkeypatch):
    assert passes.load(str(tmp_path / "absent.so")) is None
    monkeypatch.setenv("INQ_QUANTIZE", "numpy")
    assert passes.load() is None


@pytest.mark.parametrize("pop,k", [(20000, 401), (20000, 20000), (30011, 10000), (12000, 100), (100, 50), (10001, 1)])
def test_choice_positions_are_numpys_choice(pop, k, monkeypatch):
    """The same sample as Generator.choice, over several draw chunks, with either kernel."""
    _compiled()
    monkeypatch.setattr(passes, "_DRAWS", 997)
    for seed in (1, 2):
        want = np.random.default_rng(seed).choice(pop, k, replace=False)
        assert np.array_equal(passes.choice_positions(pop, k, np.random.default_rng(seed)), want)
        with numpy_only():
            assert np.array_equal(passes.choice_positions(pop, k, np.random.default_rng(seed)), want)


@pytest.mark.parametrize("n,m", [(30000, 9000), (30000, 100), (500, 200), (500, 0), (500, 10**6)])
def test_random_pick_is_numpys_choice_over_the_candidates(n, m):
    """The mask names exactly rng.choice(candidate indices, m, replace=False), with either
    kernel, whichever masks are given."""
    _compiled()
    rng = np.random.default_rng(4)
    prev, held = rng.random(n) < 0.4, rng.random(n) < 0.1
    for p, h in ((None, None), (prev, None), (None, held), (prev, held)):
        cand = _plain_candidates(n, p, h)
        idx = np.flatnonzero(cand)
        want = np.zeros(n, bool)
        want[np.random.default_rng(9).choice(idx, min(m, idx.size), replace=False)] = True
        assert np.array_equal(passes.random_pick(p, h, n, idx.size, m, np.random.default_rng(9)), want)
        with numpy_only():
            assert np.array_equal(passes.random_pick(p, h, n, idx.size, m, np.random.default_rng(9)), want)
