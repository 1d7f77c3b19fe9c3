"""The passes over a blob's float32 bits that one quantization makes (quantize.py).

1. `histogram`: the candidates (neither frozen before nor held at zero) counted per bucket
   of their value, the largest magnitude of all, how many are held, candidates; for the
   mse n1 rule also exact counts and sums per half-octave (`half_octave_sums`).
2. `write`: the level of each candidate above the bucket that holds the cut, w elsewhere
   (0 where held), the frozen mask, and the list of the cut bucket's candidates, from
   which quantize.py chooses the rest (`freeze_at`).
`collect` lists one bucket's candidates without writing (the reference rule's random
partition needs its magnitude cut before it draws); `largest` selects without writing
(pruning: the smallest magnitudes, by reversed values); `encode` makes the freezer's codes.

A value is a magnitude, |w|'s bit pattern, whose integer order is the order of |w|; for
the random partition (`key` given) it is the index's rank key (`rank_keys`), so the m
largest keys are m weights drawn uniformly without replacement.

Each runs the compiled loop of quantize_kernel.c (built by scripts/setup.sh) when it is
loaded, else numpy chunk by chunk with the same results; INQ_QUANTIZE=numpy forces numpy.
"""
from __future__ import annotations

import ctypes

import numpy as np

from . import native
from .levels import exact_path_from, grid_bits, nearest_level

HIST_SIZE = 1 << 16  # buckets: a magnitude's exponent and 8 mantissa bits, or a key's top half
SHIFT = {False: 15, True: 16}  # value >> SHIFT[keyed] = its bucket
KEYS = 512  # half-octaves: magnitude bits >> 22
VERSION = 2  # must equal INQ_QUANTIZE_VERSION in quantize_kernel.c
LIBRARY = native.library_path("quantize_kernel")
_CHUNK = 1 << 17  # numpy: temporaries stay in cache
_P = ctypes.c_void_p
ALL, NONE = -1, HIST_SIZE  # write's `bucket`: every candidate chosen, or none


class Grid(ctypes.Structure):
    """grid_t of quantize_kernel.c: the levels {0, +-2^n2..+-2^n1} as bit patterns."""
    _fields_ = [("n1", ctypes.c_int32), ("n2", ctypes.c_int32), ("original", ctypes.c_int32),
                ("exact", ctypes.c_int32), ("lo", ctypes.c_uint32), ("hi", ctypes.c_uint32),
                ("zero", ctypes.c_uint32), ("special", ctypes.c_uint32)]


def grid(n1: int, n2: int, original: bool) -> Grid:
    """See levels.nearest_level: below 2^(n2-1) is 0; with blob.cpp's start value,
    |w| >= min(100, 2^(n1+1)) takes the exact double path, as does every weight of a grid
    in the subnormal range."""
    exact = n2 - 1 < -126
    if exact:
        return Grid(n1, n2, int(original), 1, 0, 0, 0, 0xFFFFFFFF)
    special = exact_path_from(n1, original)
    special = 0xFFFFFFFF if special is None else special
    return Grid(n1, n2, int(original), 0, *grid_bits(n1, n2), special)


def load(path: str = LIBRARY) -> ctypes.CDLL | None:
    """The compiled kernel with its signatures, or None (see native.load)."""
    lib = native.load(path, "inq_quantize", VERSION, "INQ_QUANTIZE")
    if lib is None:
        return None
    lib.inq_histogram.argtypes = [_P, _P, _P, _P, ctypes.c_size_t, _P, _P, _P, _P]
    lib.inq_histogram.restype = None
    lib.inq_collect.argtypes = [_P, _P, _P, _P, ctypes.c_size_t, ctypes.c_uint32, _P]
    lib.inq_collect.restype = ctypes.c_size_t
    lib.inq_write.argtypes = [_P, _P, _P, _P, ctypes.c_size_t, ctypes.c_uint32, ctypes.POINTER(Grid), _P, _P, _P]
    lib.inq_write.restype = ctypes.c_size_t
    lib.inq_encode.argtypes = [_P, _P, ctypes.c_size_t, _P]
    lib.inq_encode.restype = ctypes.c_size_t
    return lib


_lib = load()
KERNEL = "compiled" if _lib is not None else "numpy"


def _ptr(a: np.ndarray | None):
    return None if a is None else a.ctypes.data


def _chunks(n: int):
    for s in range(0, n, _CHUNK):
        yield s, min(s + _CHUNK, n)


def _candidates(prev, held, s: int, e: int) -> np.ndarray | None:
    """Chunk mask of the candidates, None when every weight is one."""
    if prev is None and held is None:
        return None
    if prev is None:
        return ~held[s:e]
    if held is None:
        return ~prev[s:e]
    return ~(prev[s:e] | held[s:e])


def _mix32(x: np.ndarray) -> np.ndarray:
    """mix32 of quantize_kernel.c on uint32 arrays (products wrap, as in C)."""
    x = x ^ (x >> np.uint32(16))
    x *= np.uint32(0x7FEB352D)
    x ^= x >> np.uint32(15)
    x *= np.uint32(0x846CA68B)
    return x ^ (x >> np.uint32(16))


def random_key(seed: int | None) -> np.ndarray:
    """The two uint32 words that key a random partition's rank keys, from its seed."""
    return np.random.SeedSequence(seed).generate_state(2, np.uint32)


def rank_keys(index: np.ndarray, key: np.ndarray) -> np.ndarray:
    """The rank key of each index (uint32): a bijection of 32-bit words, so distinct
    weights have distinct keys and the m largest name exactly m of them."""
    with np.errstate(over="ignore"):
        return _mix32(_mix32(np.asarray(index, np.uint32) + key[0]) ^ key[1])


def _values(bits: np.ndarray, key: np.ndarray | None, s: int, e: int) -> np.ndarray:
    if key is None:
        return bits[s:e] & np.uint32(0x7FFFFFFF)
    return rank_keys(np.arange(s, e, dtype=np.uint32), key)


def _key(key: np.ndarray | None):
    return None if key is None else np.ascontiguousarray(key, np.uint32)


Sums = tuple[list[int], list[int]]


def histogram(bits: np.ndarray, prev: np.ndarray | None, held: np.ndarray | None, sums: bool = False,
              key: np.ndarray | None = None) -> tuple[np.ndarray, int, int, int, Sums | None]:
    """(counts per bucket of the candidates' values, max magnitude, held count, candidate
    count, and with `sums` the half_octave_sums of all weights, else None).
    bits: 1-D contiguous uint32; prev, held: 1-D contiguous bool masks of its size, or None;
    key: random_key's words to bucket the candidates by rank key, or None (by magnitude)."""
    n = bits.size
    key = _key(key)
    if _lib is not None:
        hist = np.zeros(HIST_SIZE, np.uint64)
        stats = np.zeros(3, np.uint64)
        c, s1 = (np.zeros(KEYS, np.uint64), np.zeros(KEYS, np.uint64)) if sums else (None, None)
        _lib.inq_histogram(bits.ctypes.data, _ptr(prev), _ptr(held), _ptr(key), n, hist.ctypes.data,
                           stats.ctypes.data, _ptr(c), _ptr(s1))
        if stats[0] != 2**64 - 1:  # else its table could not be allocated
            return (hist.astype(np.int64), int(stats[0]), int(stats[1]), int(stats[2]),
                    ([int(x) for x in c], [int(x) for x in s1]) if sums else None)
    hist = np.zeros(HIST_SIZE + 1, np.int64)
    acc = np.zeros((2, KEYS), np.int64)
    top = 0
    shift = np.uint32(SHIFT[key is not None])
    for s, e in _chunks(n):
        mag = bits[s:e] & np.uint32(0x7FFFFFFF)
        top = max(top, int(mag.max()))
        if sums:
            half = (mag >> 22).astype(np.intp)
            m = (mag & np.uint32(0x7FFFFF)) | np.where(mag >> 23 > 0, np.uint32(0x800000), np.uint32(0))
            acc[0] += np.bincount(half, minlength=KEYS)
            acc[1] += np.bincount(half, m, minlength=KEYS).astype(np.int64)  # exact: below 2^41 a chunk
        b = (mag if key is None else _values(bits, key, s, e)) >> shift
        cand = _candidates(prev, held, s, e)
        if cand is not None:
            b[~cand] = HIST_SIZE  # a bucket of its own, dropped
        hist += np.bincount(b, minlength=HIST_SIZE + 1)
    n_held = 0 if held is None else int(np.count_nonzero(held))
    return (hist[:HIST_SIZE], top, n_held, int(hist[:HIST_SIZE].sum()),
            ([int(x) for x in acc[0]], [int(x) for x in acc[1]]) if sums else None)


def encode(bits: np.ndarray, frozen: np.ndarray) -> tuple[np.ndarray, int]:
    """The freezer's uint16 codes (the upper half of each frozen value's bits, 0xFFFF where
    still float) and how many frozen values have a non-zero lower half. 1-D contiguous."""
    codes = np.empty(bits.size, np.uint16)
    if _lib is not None:
        return codes, int(_lib.inq_encode(bits.ctypes.data, frozen.ctypes.data, bits.size, codes.ctypes.data))
    bad = 0
    for s, e in _chunks(bits.size):
        b, f = bits[s:e], frozen[s:e]
        bad += int(np.count_nonzero((b & np.uint32(0xFFFF)).astype(bool) & f))
        codes[s:e] = np.where(f, (b >> 16).astype(np.uint16), np.uint16(0xFFFF))
    return codes, bad


def half_octave_sums(bits: np.ndarray) -> Sums:
    """Per half-octave of the whole blob (key = magnitude bits >> 22): the count and the
    sum of M, the 24-bit significand (a subnormal's raw mantissa), so that
    |w| = M * 2^(max(E, 1) - 150) with E the exponent field. Exact Python integers."""
    return histogram(bits, None, None, sums=True)[4]


def collect(bits: np.ndarray, prev: np.ndarray | None, held: np.ndarray | None, bucket: int,
            count: int, key: np.ndarray | None = None) -> np.ndarray:
    """The indices (uint32, ascending) of the `count` candidates whose value is in `bucket`."""
    key = _key(key)
    if _lib is not None:
        out = np.empty(count + 1, np.uint32)
        got = _lib.inq_collect(bits.ctypes.data, _ptr(prev), _ptr(held), _ptr(key), bits.size, bucket,
                               out.ctypes.data)
        return out[:got]
    shift = np.uint32(SHIFT[key is not None])
    parts = [np.zeros(0, np.uint32)]
    for s, e in _chunks(bits.size):
        sel = (_values(bits, key, s, e) >> shift) == bucket
        cand = _candidates(prev, held, s, e)
        parts.append((np.flatnonzero(sel if cand is None else sel & cand) + s).astype(np.uint32))
    return np.concatenate(parts)


def write(bits: np.ndarray, prev: np.ndarray | None, held: np.ndarray | None, bucket: int, count: int,
          g: Grid, key: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(float32 output, frozen bool mask, the indices of the `count` candidates in
    `bucket`, ascending). Candidates valued above `bucket` (ALL: every one; NONE: none)
    take their level and are frozen; those in it stay w, unfrozen, for freeze_at. prev
    keep w, held read 0; both are frozen."""
    n = bits.size
    key = _key(key)
    out = np.empty(n, np.float32)
    frozen = np.empty(n, bool)
    cut = bucket + 1  # the first bucket chosen
    if _lib is not None:
        members = np.empty(count + 1, np.uint32)
        got = _lib.inq_write(bits.ctypes.data, _ptr(prev), _ptr(held), _ptr(key), n, cut, ctypes.byref(g),
                             out.ctypes.data, frozen.ctypes.data, members.ctypes.data)
        return out, frozen, members[:got]
    obits = out.view(np.uint32)
    w = bits.view(np.float32)
    shift = np.uint32(SHIFT[key is not None])
    parts = [np.zeros(0, np.uint32)]
    for s, e in _chunks(n):
        b = bits[s:e]
        v = _values(bits, key, s, e) >> shift
        chosen, inside = v >= np.uint32(cut), v + np.uint32(1) == np.uint32(cut)
        cand = _candidates(prev, held, s, e)
        if cand is not None:
            chosen &= cand
            inside &= cand
        q = nearest_level(w[s:e], g.n1, g.n2, original=bool(g.original)).view(np.uint32)
        keep = b if held is None else np.where(held[s:e], np.uint32(0), b)
        obits[s:e] = np.where(chosen, q, keep)
        frozen[s:e] = chosen if cand is None else chosen | ~cand
        parts.append((np.flatnonzero(inside) + s).astype(np.uint32))
    return out, frozen, np.concatenate(parts)


def bucket_of_rank(hist: np.ndarray, k: int) -> tuple[int, int]:
    """The bucket of the k-th smallest (0-based) candidate value, and how many lie below it."""
    cum = np.cumsum(hist)
    bucket = int(np.searchsorted(cum, k, side="right"))
    return bucket, int(cum[bucket - 1]) if bucket else 0


def cut(hist: np.ndarray, n_cand: int, m: int) -> tuple[int, int]:
    """The bucket of the m-th largest candidate value (ALL, NONE when m covers all or none),
    and how many of the m it holds."""
    if m <= 0:
        return NONE, 0
    if m >= n_cand:
        return ALL, 0
    bucket, below = bucket_of_rank(hist, n_cand - m)
    return bucket, m - (n_cand - below - int(hist[bucket]))


def first_by_value(members: np.ndarray, values: np.ndarray, need: int) -> np.ndarray:
    """The `need` members (ascending indices) of largest value, the lower index first
    among equal values: the tie rule that makes every count exact."""
    return members[np.argsort(~values, kind="stable")[:need]]


def largest(bits: np.ndarray, excluded: np.ndarray | None, m: int) -> np.ndarray:
    """Bool mask of the m candidates (not `excluded`) of largest magnitude bits, the lower
    index first among equal ones: exactly min(max(m, 0), candidates) of them. 1-D."""
    hist, _, _, n_cand, _ = histogram(bits, excluded, None)
    bucket, need = cut(hist, n_cand, m)
    sel = np.zeros(bits.size, bool)
    if bucket == NONE:
        return sel
    for s, e in _chunks(bits.size):
        above = _values(bits, None, s, e) >> np.uint32(SHIFT[False]) > np.int64(bucket)  # ALL is -1
        cand = _candidates(excluded, None, s, e)
        sel[s:e] = above if cand is None else above & cand
    if need:
        members = collect(bits, excluded, None, bucket, int(hist[bucket]))
        sel[first_by_value(members, bits[members] & np.uint32(0x7FFFFFFF), need)] = True
    return sel


def freeze_at(bits: np.ndarray, out: np.ndarray, frozen: np.ndarray, index: np.ndarray, g: Grid) -> None:
    """Snap and freeze the weights at `index` too (the cut bucket's chosen ones)."""
    w = bits[index].view(np.float32)
    out[index] = nearest_level(w, g.n1, g.n2, original=bool(g.original))
    frozen[index] = True
