"""quantize_net on a VGG-16-shaped net (138M weights, an Input layer, no data): seconds a
phase and peak memory, with the compiled kernel and with the numpy fallback.

The net is built by Caffe from a generated prototxt (gaussian weights and biases); the
four phases of the paper's 5-bit schedule run on it with the paper rule, as the driver
runs them at each phase boundary. Peak memory is the resident set's high-water mark
(VmHWM) above the resident set with the net built, each kernel in a process of its own.
"""
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from inq_layer.core import passes

SCHEDULE = ("0.5", "0.75", "0.875", "1")
CONVS = [(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)]  # (channels, layers) per stage
FILLER = 'weight_filler { type: "gaussian" std: 0.01 } bias_filler { type: "gaussian" std: 0.01 }'


def vgg16_prototxt() -> str:
    lines = ['name: "VGG16"', 'layer { name: "data" type: "Input" top: "data" '
             'input_param { shape { dim: 1 dim: 3 dim: 224 dim: 224 } } }']
    bottom = "data"
    for stage, (ch, n) in enumerate(CONVS, 1):
        for k in range(1, n + 1):
            name = f"conv{stage}_{k}"
            lines.append(f'layer {{ name: "{name}" type: "Convolution" bottom: "{bottom}" top: "{name}" '
                         f'convolution_param {{ num_output: {ch} pad: 1 kernel_size: 3 {FILLER} }} }}')
            lines.append(f'layer {{ name: "relu{stage}_{k}" type: "ReLU" bottom: "{name}" top: "{name}" }}')
            bottom = name
        lines.append(f'layer {{ name: "pool{stage}" type: "Pooling" bottom: "{bottom}" top: "pool{stage}" '
                     f'pooling_param {{ pool: MAX kernel_size: 2 stride: 2 }} }}')
        bottom = f"pool{stage}"
    for name, out in (("fc6", 4096), ("fc7", 4096), ("fc8", 1000)):
        lines.append(f'layer {{ name: "{name}" type: "InnerProduct" bottom: "{bottom}" top: "{name}" '
                     f'inner_product_param {{ num_output: {out} {FILLER} }} }}')
        bottom = name
    return "\n".join(lines) + "\n"


def rss_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as f:  # "5" resets VmHWM to the current RSS
        f.write("5")


def warm_memory(gib: int = 4) -> None:
    """Touch memory once: on a virtual machine the first touch of a page since boot can cost
    ten times a later one, which would land on whichever phase allocates it first."""
    a = np.ones(gib << 28, np.float32)
    del a


def campaign(kernel: str) -> None:
    """The four phases in this process, with one kernel; prints one line."""
    warm_memory()
    import caffe
    from inq_layer.net.quantize_net import quantize_net
    from inq_layer.options import QuantOptions
    caffe.set_mode_cpu()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "vgg16.prototxt")
        with open(path, "w") as f:
            f.write(vgg16_prototxt())
        net = caffe.Net(path, caffe.TEST)
    weights = sum(b.data.size for blobs in net.params.values() for b in blobs)
    largest = max(b.data.nbytes for blobs in net.params.values() for b in blobs)
    if kernel == "compiled":
        print(f"VGG-16-shaped net: {weights:,} weights in {len(net.params)} layers, largest blob "
              f"{largest / 2**20:.0f} MiB (fc6)")
    if passes.KERNEL != kernel:
        sys.exit(f"asked for the {kernel} kernel, got {passes.KERNEL}")
    base = rss_kb("VmRSS")
    reset_peak()
    prev, times = None, []
    for portion in SCHEDULE:
        t = time.perf_counter()
        prev = quantize_net(net, portion, QuantOptions(bits=5), prev)
        times.append(time.perf_counter() - t)
    extra = (rss_kb("VmHWM") - base) * 1024
    print(f"{kernel:8s} quantize_net, 5 bits, paper rule: " + ", ".join(
        f"{p}: {t:.2f} s" for p, t in zip(SCHEDULE, times)) +
          f"; {sum(times) / len(times):.2f} s a phase; peak RSS {extra / 2**20:.0f} MiB above the net "
          f"({extra / largest:.2f}x its largest blob; the frozen state of the phase before and of this "
          f"one, 2 bytes a weight each, are {2 * 2 * weights / 2**20:.0f} MiB of it)", flush=True)


def main() -> None:
    """Each kernel in a fresh process, so that neither inherits the other's heap."""
    if sys.argv[1:2] == ["--kernel"]:
        campaign(sys.argv[2])
        return
    for kernel in (["compiled"] if passes.KERNEL == "compiled" else []) + ["numpy"]:
        env = dict(os.environ, INQ_QUANTIZE="numpy") if kernel == "numpy" else os.environ
        r = subprocess.run([sys.executable, os.path.abspath(__file__), "--kernel", kernel], env=env)
        if r.returncode:
            sys.exit(r.returncode)


if __name__ == "__main__":
    main()
