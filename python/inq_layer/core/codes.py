"""The 2-byte codes of frozen weights, and writing them into a blob's float32 bits.

A code is the upper 16 bits of the frozen float32 value (a power of two or zero has an
all-zero lower half), or FLOAT, 0xFFFF (a NaN pattern, never a quantized value), for a
weight that is still float. `blend` writes them back: data[frozen] = code << 16, with two
kernels, bit-identical: the one-pass C loop in writeback.c, which scripts/setup.sh
compiles next to this file (_writeback.so), and a numpy fallback used when that library
is absent or from another version, or when INQ_WRITEBACK=numpy is set. The driver runs
this before every iteration, so its
speed is the driver's overhead over `caffe train` (bench/bench_driver.py).
"""
from __future__ import annotations

import ctypes

import numpy as np

from . import native, passes

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


def encode(quantized: np.ndarray, frozen: np.ndarray, name: str = "blob") -> np.ndarray:
    """Codes for one blob from its quantized values and frozen mask."""
    q = np.ascontiguousarray(quantized, np.float32)
    codes, bad = passes.encode(q.reshape(-1).view(np.uint32), np.ascontiguousarray(frozen, bool).reshape(-1))
    if bad:
        raise ValueError(f"{name}: frozen weights below 2^-133 cannot be stored; the layer's "
                         f"weights are too small for float32 training, rescale the model")
    return codes.reshape(q.shape)


def frozen_mask(codes: np.ndarray) -> np.ndarray:
    return codes != FLOAT


def decode(codes: np.ndarray) -> np.ndarray:
    """The frozen values as float32 (meaningless where the mask is False)."""
    return (codes.astype(np.uint32) << 16).view(np.float32)
