"""Export size, speed and round trip on an AlexNet-shaped model (about 61M weights, 5 bits).

Two models: weights drawn from N(0, 0.01) and quantized with quantize_blob (portion 1),
and the same pruned to 90 % by magnitude first (as INQ after pruning leaves it); biases
float. Prints per model the .inq size against float32, how many blobs went entropy-coded,
and the write (code) and read (decode) speed in MB of float32 weights per second; checks
that reading the file back gives every weight bit for bit.
"""
import sys
import time

import numpy as np

from inq_layer import quantize_blob
from inq_layer.deploy.inq_format import Entry, deserialize, serialize

ALEXNET = [("conv1", (96, 3, 11, 11)), ("conv2", (256, 48, 5, 5)), ("conv3", (384, 256, 3, 3)),
           ("conv4", (384, 192, 3, 3)), ("conv5", (256, 192, 3, 3)), ("fc6", (4096, 9216)),
           ("fc7", (4096, 4096)), ("fc8", (1000, 4096))]


def model(bits: int, pruned: float) -> list[Entry]:
    rng = np.random.default_rng(0)
    entries = []
    for name, shape in ALEXNET:
        w = rng.normal(0, 0.01, shape).astype(np.float32)
        if pruned:
            w[np.abs(w) < np.quantile(np.abs(w), pruned)] = 0
        w = quantize_blob(w, 1.0, bits).quantized
        entries.append(Entry(name, 0, w, True, int(np.log2(np.abs(w).max()))))
        entries.append(Entry(name, 1, rng.normal(0, 0.01, shape[0]).astype(np.float32), False))
    return entries


def main(bits: int = 5) -> None:
    for pruned in (0.0, 0.9):
        entries = model(bits, pruned)
        nw = sum(e.array.size for e in entries if e.coded)
        fbytes = sum(e.array.size * 4 for e in entries)
        t = time.perf_counter()
        data = serialize(entries, bits)
        t_write = time.perf_counter() - t
        t = time.perf_counter()
        _, back = deserialize(data)
        t_read = time.perf_counter() - t
        same = all(np.array_equal(a.array.view(np.uint32), b.array.view(np.uint32)) for a, b in zip(entries, back))
        coded = sum(e.stored == "entropy" for e in entries)
        mb = nw * 4 / 1e6
        print(f"AlexNet-shaped, {bits} bits, {pruned:.0%} pruned: {nw:,} quantized weights; float32 {fbytes:,} "
              f"bytes, .inq {len(data):,} bytes, ratio {fbytes / len(data):.2f}x; {coded} of 8 weight blobs "
              f"entropy-coded; write {t_write:.2f} s ({mb / t_write:.0f} MB/s), read {t_read:.2f} s "
              f"({mb / t_read:.0f} MB/s); round trip identical: {same}")
        if not same:
            sys.exit("round trip differs")


if __name__ == "__main__":
    main()
