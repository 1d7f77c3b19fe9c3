"""The passes over a blob's float32 bits that one quantization makes (quantize.py).

1. `histogram`: the candidates (neither frozen before nor held at zero) counted per bucket
   of magnitude bits >> 15, the largest magnitude of all, how many are held, candidates;
   for the mse n1 rule also exact counts and sums per half-octave (`half_octave_sums`).
2. `collect`: the magnitudes of the candidates in one bucket, the one that holds the cut.
3. `write`: the level of each chosen candidate, w elsewhere (0 where held), the frozen mask.
`encode` then makes the freezer's codes in one more pass, and `choice_positions` draws the
random partition.

Each runs the compiled loop of quantize_kernel.c (built by scripts/setup.sh) when it is
loaded, else numpy chunk by chunk with the same results; INQ_QUANTIZE=numpy forces numpy.
A magnitude is |w|'s bit pattern, whose integer order is the order of |w|.
"""
from __future__ import annotations

import ctypes

import numpy as np

from . import native
from .levels import exact_path_from, grid_bits, nearest_level

HIST_SHIFT = 15  # 65536 buckets: the exponent and 8 mantissa bits
HIST_SIZE = 1 << (31 - HIST_SHIFT)
KEYS = 512  # half-octaves: magnitude bits >> 22
VERSION = 1  # must equal INQ_QUANTIZE_VERSION in quantize_kernel.c
LIBRARY = native.library_path("quantize_kernel")
_CHUNK = 1 << 17  # numpy: temporaries stay in cache
_DRAWS = 1 << 20  # choice_positions: random indices drawn at a time
_P = ctypes.c_void_p
ALL = 2**64 - 1  # write's `ties`: every candidate equal to the cut


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
    lib.inq_histogram.argtypes = [_P, _P, _P, ctypes.c_size_t, _P, _P, _P, _P]
    lib.inq_collect.argtypes = [_P, _P, _P, ctypes.c_size_t, ctypes.c_uint32, _P]
    lib.inq_collect.restype = ctypes.c_size_t
    lib.inq_write.argtypes = [_P, _P, _P, _P, ctypes.c_size_t, ctypes.c_uint32, ctypes.c_uint64,
                              ctypes.POINTER(Grid), _P, _P]
    lib.inq_tail_swaps.argtypes = [_P, _P, ctypes.c_size_t, ctypes.c_uint64]
    lib.inq_pick_ranks.argtypes = [_P, _P, ctypes.c_size_t, _P, ctypes.c_size_t, _P, _P]
    lib.inq_encode.argtypes = [_P, _P, ctypes.c_size_t, _P]
    lib.inq_encode.restype = ctypes.c_size_t
    for fn in (lib.inq_histogram, lib.inq_write, lib.inq_tail_swaps, lib.inq_pick_ranks):
        fn.restype = None
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


Sums = tuple[list[int], list[int]]


def histogram(bits: np.ndarray, prev: np.ndarray | None, held: np.ndarray | None, sums: bool = False
              ) -> tuple[np.ndarray, int, int, int, Sums | None]:
    """(counts per bucket of the candidates, max magnitude, held count, candidate count,
    and with `sums` the half_octave_sums of all weights, else None).
    bits: 1-D contiguous uint32; prev, held: 1-D contiguous bool masks of its size, or None."""
    n = bits.size
    if _lib is not None:
        hist = np.zeros(HIST_SIZE, np.uint64)
        stats = np.zeros(3, np.uint64)
        c, s1 = (np.zeros(KEYS, np.uint64), np.zeros(KEYS, np.uint64)) if sums else (None, None)
        _lib.inq_histogram(bits.ctypes.data, _ptr(prev), _ptr(held), n, hist.ctypes.data, stats.ctypes.data,
                           _ptr(c), _ptr(s1))
        if stats[0] != 2**64 - 1:  # else its table could not be allocated
            return (hist.astype(np.int64), int(stats[0]), int(stats[1]), int(stats[2]),
                    ([int(x) for x in c], [int(x) for x in s1]) if sums else None)
    hist = np.zeros(HIST_SIZE + 1, np.int64)
    acc = np.zeros((2, KEYS), np.int64)
    top = 0
    for s, e in _chunks(n):
        mag = bits[s:e] & np.uint32(0x7FFFFFFF)
        top = max(top, int(mag.max()))
        if sums:
            key = (mag >> 22).astype(np.intp)
            m = (mag & np.uint32(0x7FFFFF)) | np.where(mag >> 23 > 0, np.uint32(0x800000), np.uint32(0))
            acc[0] += np.bincount(key, minlength=KEYS)
            acc[1] += np.bincount(key, m, minlength=KEYS).astype(np.int64)  # exact: below 2^41 a chunk
        key = mag >> HIST_SHIFT
        cand = _candidates(prev, held, s, e)
        if cand is not None:
            key[~cand] = HIST_SIZE  # a bucket of its own, dropped
        hist += np.bincount(key, minlength=HIST_SIZE + 1)
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
            count: int) -> np.ndarray:
    """The magnitudes (uint32) of the `count` candidates in `bucket`, in index order."""
    if _lib is not None:
        out = np.empty(count + 1, np.uint32)
        got = _lib.inq_collect(bits.ctypes.data, _ptr(prev), _ptr(held), bits.size, bucket, out.ctypes.data)
        return out[:got]
    parts = []
    for s, e in _chunks(bits.size):
        mag = bits[s:e] & np.uint32(0x7FFFFFFF)
        sel = (mag >> HIST_SHIFT) == bucket
        cand = _candidates(prev, held, s, e)
        parts.append(mag[sel if cand is None else sel & cand])
    return np.concatenate(parts) if parts else np.zeros(0, np.uint32)


def write(bits: np.ndarray, prev: np.ndarray | None, held: np.ndarray | None, pick: np.ndarray | None,
          t: int, ties: int, g: Grid) -> tuple[np.ndarray, np.ndarray]:
    """(float32 output, frozen bool mask). A candidate is chosen when pick says so, or
    without pick when its magnitude is above t, and the first `ties` (index order) equal
    to t (every one: ALL). Chosen ones take their level, prev keep w, held read 0; all three are frozen."""
    n = bits.size
    out = np.empty(n, np.float32)
    frozen = np.empty(n, bool)
    if _lib is not None:
        _lib.inq_write(bits.ctypes.data, _ptr(prev), _ptr(held), _ptr(pick), n, t, min(ties, ALL),
                       ctypes.byref(g), out.ctypes.data, frozen.ctypes.data)
        return out, frozen
    obits = out.view(np.uint32)
    w = bits.view(np.float32)
    taken = 0
    for s, e in _chunks(n):
        b = bits[s:e]
        cand = _candidates(prev, held, s, e)
        if pick is not None:
            chosen = pick[s:e] if cand is None else pick[s:e] & cand
        else:
            mag = b & np.uint32(0x7FFFFFFF)
            chosen = mag > t
            eq = mag == t
            if cand is not None:
                chosen &= cand
                eq &= cand
            if taken < ties:
                first = np.flatnonzero(eq)[:ties - taken]
                chosen[first] = True
                taken += first.size
        q = nearest_level(w[s:e], g.n1, g.n2, original=bool(g.original)).view(np.uint32)
        keep = b if held is None else np.where(held[s:e], np.uint32(0), b)
        obits[s:e] = np.where(chosen, q, keep)
        frozen[s:e] = chosen if cand is None else chosen | ~cand
    return out, frozen


def choice_positions(pop: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """rng.choice(pop, k, replace=False): the same numbers, drawn the same way. Where numpy
    would shuffle the tail of an int64 arange of the population (k > pop / 50, pop > 10000),
    the shuffle runs here on a uint32 one, half the memory: numpy draws the swap partners
    (integers with per-element bounds take one draw each, as its shuffle does)."""
    if _lib is None or not (pop > 10000 and k > pop // 50) or pop >= 2**32:
        return rng.choice(pop, k, replace=False)
    idx = np.arange(pop, dtype=np.uint32)
    first = max(pop - k, 1)
    for top in range(pop - 1, first - 1, -_DRAWS):
        j = rng.integers(0, np.arange(top + 1, max(first, top - _DRAWS + 1), -1))  # j <= i for i = top, ...
        _lib.inq_tail_swaps(idx.ctypes.data, j.ctypes.data, j.size, top)
    return idx[pop - k:]


def random_pick(prev: np.ndarray | None, held: np.ndarray | None, n: int, pop: int, m: int,
                rng: np.random.Generator) -> np.ndarray:
    """Bool mask (n) of m of the pop candidates, drawn uniformly without replacement (the
    paper's Table 2): those whose rank among the candidates, in index order,
    rng.choice(pop, m, replace=False) names."""
    pick = np.zeros(n, bool)
    k = min(m, pop)
    if k <= 0:
        return pick
    pos = choice_positions(pop, k, rng)
    if _lib is not None:
        pos = np.ascontiguousarray(pos, np.uint32)
        hit = np.zeros(pop + 1, np.uint8)
        _lib.inq_pick_ranks(_ptr(prev), _ptr(held), n, pos.ctypes.data, k, hit.ctypes.data, pick.ctypes.data)
        return pick
    hit = np.zeros(pop, bool)
    hit[pos] = True
    cand = _candidates(prev, held, 0, n)
    pick[slice(None) if cand is None else cand] = hit
    return pick
