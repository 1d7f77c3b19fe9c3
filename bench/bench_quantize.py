"""Quantizer speed on an AlexNet fc6-sized blob: fast path vs the plain transcription.

Prints times measured in this one run, their ratio, the fast path relative to np.sort of
the same array (a yardstick for the machine), and peak extra memory per blob size. This
machine's speed drifts between calls, so the fast path and the sort are timed REPS times
and their best times compared (medians printed too); the slow plain path runs once.
"""
import os
import sys
import time
import tracemalloc

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from inq_layer.quantize import quantize_blob, quantize_blob_plain  # noqa: E402

SHAPE = (4096, 9216)
REPS = 5


def timed(fn, *args):
    t = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - t, out


def best_of(fn, *args):
    times = []
    for _ in range(REPS):
        t, out = timed(fn, *args)
        times.append(t)
    return min(times), float(np.median(times)), out


def peak_extra(fn, *args):
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    out = fn(*args)
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return peak, out


def main():
    w = np.random.default_rng(2017).normal(0, 0.005, SHAPE).astype(np.float32)
    print(f"blob {SHAPE[0]}x{SHAPE[1]} = {w.size:,} float32 ({w.nbytes / 2**20:.0f} MiB), N(0, 0.005)")
    t_sort, m_sort, _ = best_of(np.sort, w.reshape(-1))
    print(f"np.sort of the blob: {t_sort:.3f} s best, {m_sort:.3f} s median (yardstick)")
    for portion in ("0.3", "1.0"):
        t_fast, m_fast, a = best_of(quantize_blob, w, portion, 5)
        t_plain, b = timed(quantize_blob_plain, w, portion, 5)
        same = np.array_equal(a.quantized.view(np.uint32), b.quantized.view(np.uint32)) \
            and np.array_equal(a.frozen, b.frozen)
        peak, _ = peak_extra(quantize_blob, w, portion, 5)
        print(f"portion {portion}: fast {t_fast:.3f} s (median {m_fast:.3f}), plain {t_plain:.3f} s, "
              f"plain/fast = {t_plain / t_fast:.1f}x, fast/sort = {t_fast / t_sort:.2f} "
              f"(goal <= 4), peak extra memory {peak / w.nbytes:.2f}x blob (goal <= 3), "
              f"identical: {same}")
        if not same:
            sys.exit("fast path and plain transcription differ")


if __name__ == "__main__":
    main()
