import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from hyp import examples
from hypothesis import given, settings, strategies as st

from inq_layer.core import codes as cm, passes
from inq_layer.core.codes import FLOAT, blend, blend_numpy, encode


def expected(data_bits, codes):
    return np.where(codes == FLOAT, data_bits, codes.astype(np.uint32) << 16).astype(np.uint32)


def cases(n, seed, frozen_share):
    """Arbitrary data bits (NaN and Inf patterns included) and codes: every possible
    upper half but the sentinel where frozen, the sentinel elsewhere."""
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 2 ** 32, n, dtype=np.uint64).astype(np.uint32)
    codes = rng.integers(0, 0xFFFF, n, dtype=np.uint16)
    codes[rng.random(n) >= frozen_share] = FLOAT
    return data, codes


@settings(max_examples=examples(80), deadline=None)
@given(st.integers(0, 5000), st.integers(0, 10 ** 6), st.sampled_from([0.0, 0.3, 0.5, 1.0]))
def test_both_kernels_write_exactly_the_frozen_bits(n, seed, share):
    data, codes = cases(n, seed, share)
    want = expected(data, codes)
    a = data.copy()
    blend_numpy(a, codes)
    assert np.array_equal(a, want)
    b = data.copy()
    blend(b, codes)  # the compiled kernel where setup built it
    assert np.array_equal(b, want)


def test_numpy_kernel_across_chunks(monkeypatch):
    monkeypatch.setattr(cm, "_CHUNK", 1000)
    data, codes = cases(4321, 7, 0.5)
    want = expected(data, codes)
    blend_numpy(data, codes)
    assert np.array_equal(data, want)


def test_non_contiguous_arrays_take_the_numpy_path():
    data, codes = cases(2000, 3, 0.5)
    want = expected(data[::2], codes[::2])
    blend(data[::2], codes[::2])
    assert np.array_equal(data[::2], want)
    assert np.array_equal(data[1::2], cases(2000, 3, 0.5)[0][1::2])  # untouched


def test_mismatched_arrays_are_refused():
    with pytest.raises(ValueError, match=r"^blend: need writeable 1-D uint32 data and uint16 codes of one size, "
                                         r"got uint32\(3,\) and uint16\(4,\)$"):
        blend(np.zeros(3, np.uint32), np.zeros(4, np.uint16))
    with pytest.raises(ValueError):
        blend(np.zeros(3, np.float32), np.zeros(3, np.uint16))
    ro = np.zeros(3, np.uint32)
    ro.flags.writeable = False
    with pytest.raises(ValueError):
        blend(ro, np.zeros(3, np.uint16))


def test_setup_built_the_compiled_kernels():
    """make setup compiles cm.c and quantize_kernel.c wherever a C compiler exists
    (it is one of the Caffe build's dependencies); without them the driver would run about
    2% slower, and phase boundaries about 6 times slower."""
    if shutil.which("gcc") is None and shutil.which("cc") is None:
        pytest.skip("no C compiler on this machine: the numpy kernels are the expected ones")
    assert cm.KERNEL == "compiled" and passes.KERNEL == "compiled"


def test_missing_or_stale_library_falls_back(tmp_path):
    assert cm.load(str(tmp_path / "absent.so")) is None
    bogus = tmp_path / "bogus.so"
    bogus.write_bytes(b"not an ELF file")
    assert cm.load(str(bogus)) is None
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc:  # a library of another version is not used
        src = tmp_path / "old.c"
        src.write_text("int inq_writeback_version(void) { return 0; }\n"
                       "void inq_writeback(void *d, const void *c, unsigned long n) {}\n")
        subprocess.run([cc, "-shared", "-fPIC", "-o", str(tmp_path / "old.so"), str(src)], check=True)
        assert cm.load(str(tmp_path / "old.so")) is None


def test_env_forces_the_numpy_kernels():
    code = "from inq_layer.core import codes, passes; print(codes.KERNEL, passes.KERNEL)"
    env = dict(os.environ, INQ_WRITEBACK="numpy", INQ_QUANTIZE="numpy")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["numpy", "numpy"]


def test_blend_takes_the_compiled_kernel_only_for_contiguous_arrays(monkeypatch):
    calls = []
    monkeypatch.setattr(cm, "_kernel", lambda d, c, n: calls.append(n))
    data, codes = np.zeros(6, np.uint32), np.full(6, cm.FLOAT, np.uint16)
    cm.blend(data, codes)
    cm.blend(data[::2], codes[::2])  # strided views: the numpy kernel
    assert calls == [6]
    monkeypatch.setattr(cm, "_kernel", None)  # no library: numpy, same bits
    codes[1] = 0x3F80
    cm.blend(data, codes)
    assert data.view(np.float32).tolist() == [0.0, 1.0, 0.0, 0.0, 0.0, 0.0]


def test_values_that_cannot_be_stored_are_refused():
    q = np.array([2.0 ** -140, 0.5], np.float32)
    msg = (r"^{}: frozen weights below 2\^-133 cannot be stored; the layer's weights are too small for "
           r"float32 training, rescale the model$")
    with pytest.raises(ValueError, match=msg.format("conv9")):
        encode(q, np.array([True, True]), "conv9")
    with pytest.raises(ValueError, match=msg.format("blob")):  # the default name
        encode(q, np.array([True, False]))
    assert encode(q, np.array([False, True])).tolist() == [FLOAT, 0x3F00]  # not frozen: not stored
