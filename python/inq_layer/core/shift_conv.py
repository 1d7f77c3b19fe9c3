"""Convolution and inner product of integer activations by power-of-two weights: sums of
shifted activations, by the compiled kernel (shift_conv.c) or by numpy, the same integers.

The weights of a layer become, once, per output channel the list of its weights that are
not zero as (fan-in row, sign, exponent - n2). A sum is computed at the scale 2^(n2 - f_in).
`wide` says whether the caller proved the sums fit int32 (False) or needs int64 (True);
`bound`, the largest |activation| the caller proved, lets the kernel add a group's
activations in 16 bits when no group can leave them.
"""
from __future__ import annotations

import ctypes
from dataclasses import dataclass

import numpy as np

from . import native
from .integer import im2col, shift_add, weight_levels

VERSION = 7  # must equal INQ_SHIFT_CONV_VERSION in shift_conv.c
LIBRARY = native.library_path("shift_conv")
_P = ctypes.c_void_p


class ConvShape(ctypes.Structure):
    """conv_shape_t of shift_conv.c."""
    _fields_ = [(k, ctypes.c_int32) for k in
                ("n", "c", "h", "w", "groups", "kh", "kw", "sh", "sw", "ph", "pw", "dh", "dw", "oh", "ow", "m")]


def load(path: str = LIBRARY) -> ctypes.CDLL | None:
    """The compiled kernel with its signatures, or None (see native.load)."""
    lib = native.load(path, "inq_shift_conv", VERSION, "INQ_SHIFT_CONV")
    if lib is None:
        return None
    for f in (lib.inq_shift_conv_i16, lib.inq_shift_conv_i32, lib.inq_shift_conv_i64):
        f.argtypes = [ctypes.POINTER(ConvShape), _P, _P, _P, _P, _P, _P, _P]
        f.restype = ctypes.c_int
    return lib


def use_isa(lib: ctypes.CDLL, want: int = -1) -> str:
    """native.use_isa for this kernel."""
    return native.use_isa(lib.inq_shift_conv_isa, want)


_lib = load()
KERNEL = "compiled" if _lib is not None else "numpy"


@dataclass(frozen=True)
class ShiftWeights:
    """A layer's power-of-two weights (M outputs, `groups` groups of `fan_in` rows each),
    per output channel in groups of one exponent (the C kernel adds a group's activations,
    then shifts the partial sum once)."""
    n2: int  # the smallest exponent (0 when every weight is 0)
    groups: int
    levels: tuple[dict[int, np.ndarray], ...]  # per conv group {e: signs (fan_in x M/groups)}
    goff: np.ndarray  # int32 (M + 1): output m's exponent groups are goff[m]:goff[m + 1]
    start: np.ndarray  # int32 (G + 1): group j's rows are index[start[j]:start[j + 1]] ...
    mid: np.ndarray  # int32 (G,): ... the ones before mid[j] add, the rest subtract
    shift: np.ndarray  # int32 (G,): e - n2 of group j
    index: np.ndarray  # int32: fan-in rows

    @property
    def outputs(self) -> int:
        return int(self.goff.size - 1)

    @property
    def largest_group(self) -> int:
        """The most weights one exponent group of one output holds."""
        return int(np.diff(self.start).max(initial=0))

    @property
    def nonzero(self) -> int:
        """Weights that are not zero: shift-adds per output position."""
        return int(self.index.size)


def shift_weights(w: np.ndarray, groups: int = 1, chunk: int | None = None) -> ShiftWeights:
    """The ShiftWeights of float32 weights shaped (M, fan_in of one group); ValueError if a
    weight is not 0 or +-2^e or M is not a multiple of `groups`. With `chunk`, an exponent's
    weights are split into groups of at most `chunk` (so that a group's partial sum of
    activations bounded by b fits 16 bits when b * chunk does)."""
    if chunk is not None and chunk < 1:
        raise ValueError(f"chunk {chunk} is not a positive count")
    w = np.asarray(w, np.float32)
    m = w.shape[0]
    if groups < 1 or m % groups:
        raise ValueError(f"{m} outputs do not split into {groups} groups")
    w = w.reshape(m, -1)
    per = m // groups
    levels = [weight_levels(w[g * per:(g + 1) * per].T) for g in range(groups)]
    n2 = min((n for n, lv in levels if lv), default=0)
    nz = w != 0
    exp = np.zeros(w.shape, np.int64)
    exp[nz] = np.frexp(w[nz].astype(np.float64))[1] - 1 - n2
    goff, start, mid, shift, index = [0], [0], [], [], []
    for row, e, keep in zip(w, exp, nz):
        for k in np.unique(e[keep]):
            adds = np.flatnonzero(keep & (e == k) & (row > 0))
            subs = np.flatnonzero(keep & (e == k) & (row < 0))
            step = chunk or adds.size + subs.size
            for at in range(0, adds.size + subs.size, step):  # adds first, then subtracts
                a, s = adds[at:at + step], subs[max(0, at - adds.size):max(0, at + step - adds.size)]
                index += [a, s]
                mid.append(start[-1] + a.size)
                start.append(mid[-1] + s.size)
                shift.append(int(k))
        goff.append(len(shift))
    i32 = lambda v: np.asarray(v, np.int32)  # noqa: E731
    return ShiftWeights(n2, groups, tuple(lv for _, lv in levels), i32(goff), i32(start), i32(mid), i32(shift),
                        np.concatenate(index).astype(np.int32) if index else np.zeros(0, np.int32))


def chunk_for(bound: int) -> int | None:
    """The group size at which partial sums of activations bounded by `bound` fit 16 bits,
    when that still leaves groups long enough to pay for their one widening each."""
    chunk = (2 ** 15 - 1) // max(1, bound)
    return chunk if chunk >= 16 else None


def _numpy_conv(x, sw, kernel, stride, pad, dilation):
    n = x.shape[0]
    cols, oh, ow = im2col(x, kernel, stride, pad, dilation)
    k = cols.shape[1] // sw.groups
    per = sw.outputs // sw.groups
    outs = [shift_add(cols[:, g * k:(g + 1) * k], lv, sw.n2) if lv else np.zeros((cols.shape[0], per), np.int64)
            for g, lv in enumerate(sw.levels)]
    return np.concatenate(outs, axis=1).reshape(n, oh, ow, -1).transpose(0, 3, 1, 2)


def conv(x: np.ndarray, sw: ShiftWeights, kernel: tuple[int, int], stride: tuple[int, int] = (1, 1),
         pad: tuple[int, int] = (0, 0), dilation: tuple[int, int] = (1, 1), wide: bool = True,
         bound: int | None = None) -> np.ndarray:
    """(N, M, OH, OW) sums of the integers x (N, C, H, W) convolved with sw: int32, int64
    when wide."""
    lib = _lib
    t = np.int64 if wide else np.int32
    if lib is None:
        return _numpy_conv(x, sw, kernel, stride, pad, dilation).astype(t)
    n, c, h, w = x.shape
    (kh, kw), (sh, sw_), (ph, pw), (dh, dw) = kernel, stride, pad, dilation
    oh = (h + 2 * ph - (dh * (kh - 1) + 1)) // sh + 1
    ow = (w + 2 * pw - (dw * (kw - 1) + 1)) // sw_ + 1
    m = sw.outputs
    narrow = not wide and bound is not None and bound * max(1, sw.largest_group) <= 2 ** 15 - 1
    xs = np.ascontiguousarray(x, np.int16 if narrow else t)
    out = np.empty((n, m, oh, ow), t)
    shape = ConvShape(n, c, h, w, sw.groups, kh, kw, sh, sw_, ph, pw, dh, dw, oh, ow, m)
    fn = lib.inq_shift_conv_i64 if wide else lib.inq_shift_conv_i16 if narrow else lib.inq_shift_conv_i32
    if n and m and oh > 0 and ow > 0:
        if fn(ctypes.byref(shape), xs.ctypes.data, sw.goff.ctypes.data, sw.start.ctypes.data, sw.mid.ctypes.data,
              sw.shift.ctypes.data, sw.index.ctypes.data, out.ctypes.data) != 0:  # no memory for its patches
            return _numpy_conv(x, sw, kernel, stride, pad, dilation).astype(t)
    return out


def inner_product(x: np.ndarray, sw: ShiftWeights, wide: bool = True, bound: int | None = None) -> np.ndarray:
    """(N, M) sums of the integers x (N, K) by sw (M outputs of fan-in K), as `conv`: the
    convolution with a 1x1 kernel of one image whose channels are K and whose width is N."""
    n = x.shape[0]
    out = conv(np.ascontiguousarray(x.T).reshape(1, x.shape[1], 1, n), sw, (1, 1), wide=wide, bound=bound)
    return out.reshape(-1, n).T
