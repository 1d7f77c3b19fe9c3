"""Quantizer speed and memory on an AlexNet fc6-sized blob (37.7M weights).

Times are counted in memory passes: one pass is `np.abs(w, out=buf)` over the blob,
timed in this same run (this machine's speed drifts between calls, so every time is the
best of REPS). Peak extra memory is tracemalloc's peak over the blob's size (the output
and its mask alone are 1.25). Each case runs with the compiled kernel (quantize_kernel.c)
and with the numpy fallback; the plain transcription of blob.cpp runs once, as the oracle.
The random partition cases cover both rules: the reference rule reads its magnitude cut
before it draws.
Goals (issue 25): at most 10 passes (5), peak at most 2x (1.25), the paper rule as fast as
the reference rule.
"""
import os
import sys
import time
import tracemalloc
from typing import Callable

import numpy as np

from inq_layer.core import passes
from inq_layer.core.quantize import quantize_blob

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "unit"))
from oracles import quantize_blob_plain  # noqa: E402  (the tests' transcription of blob.cpp)

SHAPE = (4096, 9216)
REPS = 7


def best(fn: Callable[[], object]) -> float:
    times = []
    for _ in range(REPS):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def peak_extra(fn: Callable[[], object]) -> int:
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    fn()
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return peak


def cases(w: np.ndarray) -> list[tuple[str, Callable[[], object]]]:
    """(name, call): the reference rule, the paper rule's first and second phase, the mse
    n1 rule's first phase at 2 bits, the random partition's second phase and the
    reference rule's random partition."""
    first = quantize_blob(w, "0.5", 5, rule="paper")
    rand = quantize_blob(w, "0.5", 5, rule="paper", strategy="random", seed=1)
    return [
        ("reference rule, 0.5", lambda: quantize_blob(w, "0.5", 5, rule="reference")),
        ("paper rule, phase 1 (0.5)", lambda: quantize_blob(w, "0.5", 5, rule="paper")),
        ("paper rule, phase 2 (0.75, frozen mask, kept n1)",
         lambda: quantize_blob(w, "0.75", 5, rule="paper", frozen=first.frozen, n1=first.n1)),
        ("paper rule, mse n1, 2 bits, phase 1", lambda: quantize_blob(w, "0.5", 2, rule="paper", n1_rule="mse")),
        ("paper rule, random partition, phase 2",
         lambda: quantize_blob(w, "0.75", 5, rule="paper", strategy="random", seed=2, frozen=rand.frozen, n1=rand.n1)),
        ("reference rule, random partition, 0.5", lambda: quantize_blob(w, "0.5", 5, strategy="random", seed=2)),
    ]


def main() -> None:
    a = np.ones(1 << 30, np.float32)  # first touches of memory since boot are slow on a VM
    del a
    w = np.random.default_rng(2017).normal(0, 0.005, SHAPE).astype(np.float32)
    buf = np.empty_like(w)
    one = best(lambda: np.abs(w, out=buf))
    print(f"blob {SHAPE[0]}x{SHAPE[1]} = {w.size:,} float32 ({w.nbytes / 2**20:.0f} MiB), N(0, 0.005); "
          f"one memory pass (np.abs(w, out=buf)): {one * 1e3:.1f} ms")
    kernels = ["compiled", "numpy"] if passes._lib is not None else ["numpy"]
    if passes._lib is None:
        print("quantize_kernel.c is not built (make setup): numpy only")
    lib = passes._lib
    results = {}
    for kernel in kernels:
        passes._lib = lib if kernel == "compiled" else None
        for name, fn in cases(w):
            t, peak = best(fn), peak_extra(fn)
            results[kernel, name] = t
            print(f"{kernel:8s} {name}: {t:.3f} s = {t / one:.1f} passes (goal <= 10, 5), "
                  f"peak extra memory {peak / w.nbytes:.2f}x blob (goal <= 2, 1.25)")
    passes._lib = lib
    k = kernels[0]
    ref, paper = results[k, "reference rule, 0.5"], results[k, "paper rule, phase 2 (0.75, frozen mask, kept n1)"]
    first = results[k, "paper rule, phase 1 (0.5)"]
    print(f"{k}: paper rule / reference rule = {first / ref:.2f} in phase 1, {paper / ref:.2f} in phase 2 "
          f"(which reads the frozen mask too) (goal <= 1)")
    t = time.perf_counter()
    plain = quantize_blob_plain(w, "0.5", 5)
    t_plain = time.perf_counter() - t
    fast = quantize_blob(w, "0.5", 5, rule="reference")
    same = np.array_equal(fast.quantized.view(np.uint32), plain.quantized.view(np.uint32)) \
        and np.array_equal(fast.frozen, plain.frozen)
    print(f"plain transcription of blob.cpp: {t_plain:.2f} s = {t_plain / one:.0f} passes, "
          f"{t_plain / ref:.0f}x the {k} kernel; identical: {same}")
    if not same:
        sys.exit("the fast path and the plain transcription differ")


if __name__ == "__main__":
    main()
