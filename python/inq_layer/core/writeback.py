"""Writing frozen codes into a blob's float32 bits: data[frozen] = code << 16.

Two kernels, bit-identical: the one-pass C loop in writeback.c, which scripts/setup.sh
compiles next to this file (_writeback.so), and a numpy fallback used when that library
is absent or from another version, or when INQ_WRITEBACK=numpy is set. The driver runs
this before every iteration, so its
speed is the driver's overhead over `caffe train` (bench/bench_driver.py).
"""
from __future__ import annotations

import ctypes

import numpy as np

from . import native

FLOAT = np.uint16(0xFFFF)  # code of a weight that is still float (a NaN pattern)
VERSION = 1  # must equal INQ_WRITEBACK_VERSION in writeback.c
LIBRARY = native.library_path("writeback")
_CHUNK = 1 << 20  # numpy path: bounds its two uint32 temporaries to 4 MB each


def load(path: str = LIBRARY):
    """The compiled kernel's function, or None (missing, unloadable or stale library, or
    INQ_WRITEBACK=numpy)."""
    lib = native.load(path, "inq_writeback", VERSION, "INQ_WRITEBACK")
    if lib is None:
        return None
    fn = lib.inq_writeback
    fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t]
    fn.restype = None
    return fn


_kernel = load()
KERNEL = "compiled" if _kernel is not None else "numpy"


def blend_numpy(data_bits: np.ndarray, codes: np.ndarray) -> None:
    """The numpy kernel, branch-free: a masked np.copyto is several times slower on
    random masks than these whole-array integer operations."""
    for s in range(0, codes.size, _CHUNK):
        d, c = data_bits[s:s + _CHUNK], codes[s:s + _CHUNK]
        q = c.astype(np.uint32)
        keep = q + 1  # 0x10000 for FLOAT, <= 0xFF80 for a frozen code
        keep >>= 16
        keep -= 1  # all ones where frozen, 0 where float (uint32 wrap-around)
        q <<= 16
        q ^= d
        q &= keep
        d ^= q


def blend(data_bits: np.ndarray, codes: np.ndarray) -> None:
    """In place: data_bits (uint32 view of a float32 blob) takes code << 16 wherever the
    code is not FLOAT. Both 1-D and the same size; the C kernel when it is loaded and
    both arrays are contiguous."""
    if (data_bits.dtype != np.uint32 or codes.dtype != np.uint16 or data_bits.ndim != 1
            or data_bits.shape != codes.shape or not data_bits.flags.writeable):
        raise ValueError(f"blend: need writeable 1-D uint32 data and uint16 codes of one size, "
                         f"got {data_bits.dtype}{data_bits.shape} and {codes.dtype}{codes.shape}")
    if _kernel is not None and data_bits.flags.c_contiguous and codes.flags.c_contiguous:
        _kernel(data_bits.ctypes.data, codes.ctypes.data, data_bits.size)
    else:
        blend_numpy(data_bits, codes)
