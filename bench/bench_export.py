"""Export size and round trip on an AlexNet-shaped model (about 61M weights, 5 bits).

Weights drawn from N(0, 0.01) and quantized with quantize_blob (portion 1, paper rule);
biases float. Prints float and coded sizes, the ratio, times, and checks that reading the
file back gives every weight bit for bit.
"""
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from inq_layer import quantize_blob  # noqa: E402
from inq_layer.inq_format import Entry, deserialize, serialize  # noqa: E402

ALEXNET = [("conv1", (96, 3, 11, 11)), ("conv2", (256, 48, 5, 5)), ("conv3", (384, 256, 3, 3)),
           ("conv4", (384, 192, 3, 3)), ("conv5", (256, 192, 3, 3)), ("fc6", (4096, 9216)),
           ("fc7", (4096, 4096)), ("fc8", (1000, 4096))]


def main(bits=5):
    rng = np.random.default_rng(0)
    entries = []
    for name, shape in ALEXNET:
        w = quantize_blob(rng.normal(0, 0.01, shape).astype(np.float32), 1.0, bits).quantized
        entries.append(Entry(name, 0, w, True, int(np.log2(np.abs(w).max()))))
        entries.append(Entry(name, 1, rng.normal(0, 0.01, shape[0]).astype(np.float32), False))
    nw = sum(e.array.size for e in entries if e.coded)
    fbytes = sum(e.array.size * 4 for e in entries)
    t = time.perf_counter()
    data = serialize(entries, bits)
    t_write = time.perf_counter() - t
    t = time.perf_counter()
    _, back = deserialize(data)
    t_read = time.perf_counter() - t
    same = all(np.array_equal(a.array.view(np.uint32), b.array.view(np.uint32)) for a, b in zip(entries, back))
    print(f"AlexNet-shaped, {bits} bits: {nw:,} quantized weights -> {(nw * bits + 7) // 8:,} bytes coded "
          f"(float32 {nw * 4:,} bytes); whole model float32 {fbytes:,} bytes, .inq {len(data):,} bytes, "
          f"ratio {fbytes / len(data):.2f}x; write {t_write:.2f} s, read {t_read:.2f} s; round trip identical: {same}")
    if not same:
        sys.exit("round trip differs")


if __name__ == "__main__":
    main()
