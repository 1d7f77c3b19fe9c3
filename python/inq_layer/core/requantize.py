"""A quantizer on a blob of integers in one pass: an optional per-channel integer affine
map (a folded BatchNorm/Scale or average, or a bias at a finer scale), optionally rounded
to 24 significant bits as float32 rounds Caffe's bias add, a ReLU, then the rounding shift
and the saturation of integer.requantize. By the compiled kernel (requantize.c) or numpy,
the same integers; the caller proves |x * mul + add| < 2^62."""
from __future__ import annotations

import ctypes

import numpy as np

from . import native
from .integer import int_dtype, requantize, round_significant

VERSION = 4  # must equal INQ_REQUANTIZE_VERSION in requantize.c
LIBRARY = native.library_path("requantize")
_P = ctypes.c_void_p


def load(path: str = LIBRARY) -> ctypes.CDLL | None:
    """The compiled kernel with its signatures, or None (see native.load)."""
    lib = native.load(path, "inq_requantize", VERSION, "INQ_REQUANTIZE")
    if lib is None:
        return None
    for name in ("i32_i16", "i64_i16", "i32_i32", "i64_i32", "i16_i64", "i32_i64", "i64_i64"):
        fn = getattr(lib, f"inq_requantize_{name}")
        fn.argtypes = [_P, ctypes.c_long, ctypes.c_long, ctypes.c_long, _P, _P, ctypes.c_int32, ctypes.c_int32,
                       ctypes.c_int32, ctypes.c_int32, ctypes.c_int64, ctypes.c_int64, _P]
        fn.restype = None
    return lib


def use_isa(lib: ctypes.CDLL, want: int = -1) -> str:
    """native.use_isa for this kernel."""
    return native.use_isa(lib.inq_requantize_isa, want)


_lib = load()
KERNEL = "compiled" if _lib is not None else "numpy"


def _numpy_affine(x: np.ndarray, mul: np.ndarray | None, add: np.ndarray | None, relu: bool,
                  rounded: bool) -> np.ndarray:
    """What the kernel computes before its shift, in numpy: int64."""
    y = np.asarray(x, np.int64)
    if mul is not None:
        shape = (1, -1) + (1,) * (y.ndim - 2)
        y = y * mul.reshape(shape) + add.reshape(shape)
    if rounded:
        y = round_significant(y)
    return np.maximum(y, 0) if relu else y


def quantize(x: np.ndarray, f: int, bits: int, f_out: int, signed: bool, mul: np.ndarray | None = None,
             add: np.ndarray | None = None, relu: bool = False, rounded: bool = False,
             bound: int | None = None) -> np.ndarray:
    """The b-bit integers at step 2^-f_out of the value (x * mul + add) * 2^-f, per channel
    along axis 1, rounded to 24 significant bits first with `rounded`, after max(., 0) with
    relu; in the narrowest type that holds them. `bound`: the largest |x * mul + add| the
    caller proved (below 2^53 the rounding takes a faster path)."""
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    t = int_dtype(lo, hi)
    if _lib is None or x.ndim < 2 and mul is not None:
        return requantize(_numpy_affine(x, mul, add, relu, rounded), f, bits, f_out, signed).astype(t, copy=False)
    src = np.ascontiguousarray(x, np.int64 if x.dtype == np.int64 else np.int32)
    out = np.empty(x.shape, np.int16 if t == np.int16 else np.int32)
    outer = x.shape[0] if x.ndim else 1
    channels = x.shape[1] if x.ndim > 1 else 1
    inner = int(np.prod(x.shape[2:])) if x.ndim > 2 else 1
    m = None if mul is None else np.ascontiguousarray(mul, np.int64)
    a = None if mul is None else np.ascontiguousarray(add, np.int64)
    name = f"inq_requantize_{'i64' if src.dtype == np.int64 else 'i32'}_{'i16' if t == np.int16 else 'i32'}"
    getattr(_lib, name)(src.ctypes.data, outer, channels, inner, None if m is None else m.ctypes.data,
                        None if a is None else a.ctypes.data, int(rounded), int(bound is not None and bound < 2 ** 53),
                        int(relu), f - f_out, lo, hi, out.ctypes.data)
    return out


def affine(x: np.ndarray, mul: np.ndarray | None, add: np.ndarray | None, relu: bool = False,
           rounded: bool = False, bound: int | None = None) -> np.ndarray:
    """x * mul + add per channel along axis 1 (or x, without mul), rounded to 24
    significant bits first with `rounded`, after max(., 0) with relu: int64, in one pass.
    `bound` as for quantize."""
    if _lib is None or x.ndim < 2 or x.dtype not in (np.int16, np.int32, np.int64):
        return _numpy_affine(x, mul, add, relu, rounded)
    src = np.ascontiguousarray(x)
    out = np.empty(x.shape, np.int64)
    inner = int(np.prod(x.shape[2:])) if x.ndim > 2 else 1
    m = None if mul is None else np.ascontiguousarray(mul, np.int64)
    a = None if mul is None else np.ascontiguousarray(add, np.int64)
    name = f"inq_requantize_{'i' + str(8 * src.dtype.itemsize)}_i64"
    getattr(_lib, name)(src.ctypes.data, x.shape[0], x.shape[1], inner, None if m is None else m.ctypes.data,
                        None if a is None else a.ctypes.data, int(rounded), int(bound is not None and bound < 2 ** 53),
                        int(relu), 0, -(2 ** 63), 2 ** 63 - 1, out.ctypes.data)
    return out
