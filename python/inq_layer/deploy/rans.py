"""Entropy coding of INQ codes: interleaved rANS (range asymmetric numeral systems) with a
static order-0 model, vectorised over lanes with numpy.

Symbol i of a blob goes to lane i % K at step i // K; every lane is an ordinary rANS coder
with a 32-bit state in [2^16, 2^32) that emits or reads at most one 16-bit word per symbol.
The encoder runs the steps backwards, so the decoder runs them forwards; at each step the
lanes that renormalise take their words in lane order from one shared stream. Pruned and
quantized weights are very skewed (90 % zeros cost about 0.1 bit each), which b-bit packing
cannot use. docs/FORMAT.md gives the layout and the decoder step by step.
"""
from __future__ import annotations

import numpy as np

PROB_BITS = 15
M = 1 << PROB_BITS  # frequencies sum to M
LOW = 1 << 16  # states live in [LOW, LOW << 16)
MAX_LANES = 1 << 16
SYMBOLS_PER_LANE = 2048  # lanes cost 4 bytes of final state each: about 0.016 bit a symbol


class RansError(ValueError):
    """The coded data are inconsistent (corrupt or truncated)."""


def lanes_for(n: int) -> int:
    return max(1, min(MAX_LANES, n // SYMBOLS_PER_LANE))


def normalize(counts: np.ndarray) -> np.ndarray:
    """Frequencies (uint32) summing to M, at least 1 for every symbol that occurs."""
    counts = np.asarray(counts, np.int64)
    total = int(counts.sum())
    if total <= 0:
        raise ValueError("no symbols to model")
    f = counts * M // total
    f[(counts > 0) & (f == 0)] = 1
    diff = M - int(f.sum())
    order = np.argsort(-f, kind="stable")
    i = 0
    while diff != 0:  # give the rounding to the most frequent symbols, one unit at a time
        s = order[i % order.size]
        if diff > 0:
            f[s] += 1
            diff -= 1
        elif f[s] > 1:
            f[s] -= 1
            diff += 1
        i += 1
    return f.astype(np.uint32)


def encode(symbols: np.ndarray, freqs: np.ndarray, lanes: int) -> tuple[np.ndarray, np.ndarray]:
    """(final states uint32[lanes], words uint16[]) of `symbols` (uint8) under `freqs`."""
    sym = np.ascontiguousarray(symbols, np.uint8).reshape(-1)
    f_tab = np.asarray(freqs, np.uint64)
    if np.any(f_tab[np.unique(sym)] == 0):
        raise ValueError("a symbol has frequency 0")
    c_tab = np.concatenate([[0], np.cumsum(f_tab)[:-1]]).astype(np.uint64)
    n = sym.size
    steps = -(-n // lanes)
    x = np.full(lanes, LOW, np.uint64)
    chunks: list[np.ndarray] = [np.empty(0, np.uint16)] * steps
    shift = np.uint64(32 - PROB_BITS)
    p, sixteen, mask16 = np.uint64(PROB_BITS), np.uint64(16), np.uint64(0xFFFF)
    for t in range(steps - 1, -1, -1):
        s = sym[t * lanes:(t + 1) * lanes]
        a = s.size
        xa = x[:a]
        f, c = f_tab[s], c_tab[s]
        emit = xa >= (f << shift)
        chunks[t] = (xa[emit] & mask16).astype(np.uint16)
        xa = np.where(emit, xa >> sixteen, xa)
        q, r = np.divmod(xa, f)
        x[:a] = (q << p) + r + c
    words = np.concatenate(chunks) if chunks else np.empty(0, np.uint16)
    return x.astype(np.uint32), words


def decode(states: np.ndarray, words: np.ndarray, freqs: np.ndarray, n: int) -> np.ndarray:
    """The n symbols (uint8); RansError when the data do not decode exactly."""
    f_tab = np.asarray(freqs, np.uint64)
    if int(f_tab.sum()) != M:
        raise RansError(f"frequencies sum to {int(f_tab.sum())}, not {M}")
    lanes = states.size
    x = np.asarray(states, np.uint64).copy()
    if lanes < 1 or np.any(x < LOW):
        raise RansError("a lane's state is out of range")
    c_tab = np.concatenate([[0], np.cumsum(f_tab)[:-1]]).astype(np.uint64)
    slot_sym = np.repeat(np.arange(f_tab.size, dtype=np.uint8), f_tab.astype(np.int64))
    w = np.asarray(words, np.uint64)
    out = np.empty(n, np.uint8)
    p, sixteen, low = np.uint64(PROB_BITS), np.uint64(16), np.uint64(LOW)
    slot_mask = np.uint64(M - 1)
    pos = 0
    for t in range(-(-n // lanes)):
        a = min(lanes, n - t * lanes)
        xa = x[:a]
        slot = xa & slot_mask
        s = slot_sym[slot]
        out[t * lanes:t * lanes + a] = s
        xa = f_tab[s] * (xa >> p) + slot - c_tab[s]
        need = np.flatnonzero(xa < low)
        if pos + need.size > w.size:
            raise RansError("the coded stream ends early")
        xa[need] = (xa[need] << sixteen) | w[pos:pos + need.size]
        pos += need.size
        x[:a] = xa
    if pos != w.size or np.any(x != low):
        raise RansError("the coded stream does not end where it should")
    return out
