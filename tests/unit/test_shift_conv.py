"""core/shift_conv.py: the compiled kernel and numpy give the exact integer convolution
(groups, stride, pad, dilation), in 16-bit partial sums, int32 and int64, and agree."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from inq_layer.core import native, shift_conv


def _exact(x, w_int, groups, stride, pad, dilation):
    """Direct convolution in Python integers' int64 range: the definition."""
    n, c, h, wd = x.shape
    m, cg, kh, kw = w_int.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, pad, dilation
    oh = (h + 2 * ph - (dh * (kh - 1) + 1)) // sh + 1
    ow = (wd + 2 * pw - (dw * (kw - 1) + 1)) // sw + 1
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    out = np.zeros((n, m, oh, ow), np.int64)
    per = m // groups
    for o in range(m):
        g = o // per
        for i in range(oh):
            for j in range(ow):
                patch = xp[:, g * cg:(g + 1) * cg, i * sh:i * sh + dh * (kh - 1) + 1:dh,
                           j * sw:j * sw + dw * (kw - 1) + 1:dw]
                out[:, o, i, j] = (patch * w_int[o]).sum(axis=(1, 2, 3))
    return out


def _isas() -> list[int]:
    """The instruction sets the compiled kernel has on this CPU (indices of ISAS)."""
    lib = shift_conv._lib
    if lib is None:
        return []
    try:
        return sorted({native.ISAS.index(shift_conv.use_isa(lib, i)) for i in range(len(native.ISAS))})
    finally:
        shift_conv.use_isa(lib)


def _run(compiled: bool, fn, *args, **kw):
    """fn(*args, **kw) with numpy, or with the compiled kernel in each instruction set this
    CPU has: the results, which must all be equal, as one (the first)."""
    saved = shift_conv._lib
    if compiled and saved is None:
        pytest.skip("shift_conv.c is not built (make setup)")
    shift_conv._lib = saved if compiled else None
    try:
        if not compiled:
            return fn(*args, **kw)
        outs = []
        for isa in _isas():
            shift_conv.use_isa(saved, isa)
            outs.append(fn(*args, **kw))
        assert all(o.dtype == outs[0].dtype and np.array_equal(o, outs[0]) for o in outs), "the ISAs differ"
        return outs[0]
    finally:
        shift_conv._lib = saved
        if saved is not None:
            shift_conv.use_isa(saved)


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 4), st.integers(1, 9), st.integers(1, 9),
       st.integers(1, 3), st.integers(1, 3), st.integers(1, 2), st.integers(0, 2), st.integers(1, 2),
       st.booleans(), st.integers(0, 2**31 - 1))
def test_compiled_and_numpy_equal_the_direct_convolution(n, groups, per, h, w, kh, kw, stride, pad, dil, wide, seed):
    rng = np.random.default_rng(seed)
    cg = int(rng.integers(1, 4))
    if h + 2 * pad < dil * (kh - 1) + 1 or w + 2 * pad < dil * (kw - 1) + 1:
        return
    m = groups * per
    e = rng.integers(-7, -1, (m, cg, kh, kw))
    wf = (rng.choice([-1, 0, 0, 1], e.shape) * 2.0 ** e).astype(np.float32)
    sw = shift_conv.shift_weights(wf.reshape(m, -1), groups)
    w_int = np.rint(wf.astype(np.float64) * 2.0 ** -sw.n2).astype(np.int64)
    lim = 2 ** 40 if wide else 2 ** int(rng.integers(3, 13))  # small: 16-bit partial sums
    x = rng.integers(-lim, lim, (n, groups * cg, h, w))
    want = _exact(x, w_int, groups, (stride, stride), (pad, pad), (dil, dil))
    chunked = shift_conv.shift_weights(wf.reshape(m, -1), groups, int(rng.integers(1, 5)))
    for bound, weights in ((None, sw), (lim, sw), (lim, chunked)):
        args = (x, weights, (kh, kw), (stride, stride), (pad, pad), (dil, dil), wide, bound)
        for compiled in (True, False):
            got = _run(compiled, shift_conv.conv, *args)
            assert got.dtype == (np.int64 if wide else np.int32), compiled
            assert np.array_equal(got, want), compiled


@pytest.mark.parametrize("compiled", [True, False])
def test_inner_product_is_the_matrix_product_past_the_kernel_tile(compiled):
    rng = np.random.default_rng(3)
    wf = (rng.choice([-1, 0, 1], (7, 45)) * 2.0 ** rng.integers(-6, 0, (7, 45))).astype(np.float32)
    x = rng.integers(-255, 256, (70, 45))  # 70 columns: two full tiles of 32 and a part
    sw = shift_conv.shift_weights(wf)
    w_int = np.rint(wf.astype(np.float64) * 2.0 ** -sw.n2).astype(np.int64)
    for wide, bound in ((False, None), (False, 255), (True, None)):  # int32, 16-bit partial sums, int64
        got = _run(compiled, shift_conv.inner_product, x, sw, wide, bound)
        assert np.array_equal(got, x @ w_int.T)


def test_int32_sums_at_the_limit_are_exact():
    """A sum that reaches 2^31 - 1 exactly, through negative activations shifted left."""
    wf = np.array([[2.0 ** 15, -(2.0 ** 15), 1.0]], np.float32)
    x = np.array([[2**15 - 1, -(2**15), 2**16 - 1 - 2**15]])
    sw = shift_conv.shift_weights(wf)
    for compiled in (True, False):
        got = _run(compiled, shift_conv.inner_product, x, sw, wide=False, bound=2**15)
        assert int(got[0, 0]) == 2**31 - 1


def test_16_bit_partial_sums_at_their_limit_are_exact():
    """One exponent group of 129 weights +1 on activations 254: 32,766, the largest 16-bit
    sum the bound allows; a group one larger takes 32-bit partial sums, unless it is cut
    into groups the bound allows."""
    assert shift_conv.chunk_for(254) == 129 and shift_conv.chunk_for(2047) == 16 and shift_conv.chunk_for(2048) is None
    for n, chunk in ((129, None), (130, None), (130, 129), (1000, 129)):
        sw = shift_conv.shift_weights(np.ones((1, n), np.float32), chunk=chunk)
        assert sw.largest_group == min(n, chunk or n)
        x = np.full((3, n), 254)
        for compiled in (True, False):
            got = _run(compiled, shift_conv.inner_product, x, sw, wide=False, bound=254)
            assert got.tolist() == [[254 * n]] * 3


def test_chunks_keep_one_exponent_adds_before_subtracts():
    """Five weights of one exponent, three +, two -, in groups of at most 2: (+, +), (+, -), (-)."""
    sw = shift_conv.shift_weights(np.array([[1, -1, 1, -1, 1]], np.float32), chunk=2)
    assert sw.goff.tolist() == [0, 3] and sw.shift.tolist() == [0, 0, 0]
    assert sw.start.tolist() == [0, 2, 4, 5] and sw.mid.tolist() == [2, 3, 4]
    assert sw.index.tolist() == [0, 2, 4, 1, 3]
    with pytest.raises(ValueError, match="chunk 0 is not a positive count"):
        shift_conv.shift_weights(np.ones((1, 2), np.float32), chunk=0)


def test_weights_group_each_nonzero_once_by_exponent_then_sign():
    sw = shift_conv.shift_weights(np.array([[0.5, -0.25, 0], [0, 0, 0], [-1, 0.125, 0.125]], np.float32))
    assert sw.n2 == -3 and sw.nonzero == 5 and sw.outputs == 3
    # output 0: 2^-2 (shift 1) subtracts row 1, 2^-1 (shift 2) adds row 0; output 2: 2^-3 adds
    # rows 1 and 2, 2^0 subtracts row 0
    assert sw.goff.tolist() == [0, 2, 2, 4] and sw.shift.tolist() == [1, 2, 0, 3]
    assert sw.start.tolist() == [0, 1, 2, 4, 5] and sw.mid.tolist() == [0, 2, 4, 4]
    assert sw.index.tolist() == [1, 0, 1, 2, 0]
    with pytest.raises(ValueError, match="do not split into 2 groups"):
        shift_conv.shift_weights(np.ones((3, 1), np.float32), 2)
    with pytest.raises(ValueError, match="is not 0 or"):
        shift_conv.shift_weights(np.array([[0.3]], np.float32))
