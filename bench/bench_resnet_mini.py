"""ResNet-8 against LeNet on Fashion-MNIST: milliseconds a training iteration.

Times one training iteration (forward + backward, batch 64, one BLAS thread as the
replicate runs) of prototxt/fashion_resnet8_train_test.prototxt and of the Fashion LeNet
with `caffe time`, the two interleaved so that they share the machine's load, and scales
the LeNet runs that make replicate measured (docs/replication/) by the ratio. Run it on a
quiet machine: it keeps what it measured, with the load average before it started, in
docs/replication/resnet8_timing.json, from which docs/REPLICATION.md estimates how long
the ResNet-8 rows take.
"""
import json
import os
import re
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NETS = {"lenet": "prototxt/fashion_lenet_train_test.prototxt",
        "resnet8": "prototxt/fashion_resnet8_train_test.prototxt"}
ITERATIONS, ROUNDS = 30, 3
QUIET_LOAD = 0.5  # one-minute load average below which a core counts as quiet


def forward_backward_ms(model: str) -> float:
    from inq_layer.caffe_edge.caffe_io import caffe_tool, caffe_tool_env
    env = caffe_tool_env(OPENBLAS_NUM_THREADS="1", GLOG_minloglevel="0")  # the timings are INFO lines
    r = subprocess.run([caffe_tool(), "time", f"-model={model}", f"-iterations={ITERATIONS}"], cwd=ROOT,
                       capture_output=True, text=True, env=env)
    m = re.search(r"Average Forward-Backward: ([0-9.]+) ms", r.stderr + r.stdout)
    if r.returncode != 0 or not m:
        sys.exit(f"caffe time failed for {model}:\n{(r.stderr or r.stdout)[-2000:]}")
    return float(m.group(1))


def lenet_minutes(name: str) -> float | None:
    """Mean compute minutes over the seeds of a finished replicate run (campaign or float)."""
    runs = []
    for seed in (1, 2, 3):
        path = os.path.join(ROOT, "docs", "replication", f"{name}_s{seed}.json")
        if not os.path.exists(path):
            return None
        with open(path) as f:
            rep = json.load(f)
        runs.append(rep["seconds"] if "seconds" in rep else sum(p["seconds"] for p in rep["phases"]))
    return statistics.mean(runs) / 60


def main() -> None:
    from inq_layer.atomic import write_text_atomic
    load = os.getloadavg()[0]
    times = {n: [] for n in NETS}
    for _ in range(ROUNDS):
        for name, model in NETS.items():
            times[name].append(forward_backward_ms(model))
    ms = {n: min(t) for n, t in times.items()}  # the least disturbed round
    ratio = ms["resnet8"] / ms["lenet"]
    print(f"forward + backward, batch 64, 1 BLAS thread, best of {ROUNDS} x {ITERATIONS} iterations: "
          f"LeNet {ms['lenet']:.1f} ms, ResNet-8 {ms['resnet8']:.1f} ms: {ratio:.1f}x LeNet")
    result = {"ms_per_iteration": ms, "ratio": round(ratio, 2), "load_average": round(load, 2)}
    campaign, float_train = lenet_minutes("b5"), lenet_minutes("float_lenet")
    if campaign is not None and float_train is not None:
        result["estimate_minutes"] = {"campaign_5_bits": round(ratio * campaign, 1),
                                      "float_model": round(ratio * float_train, 1)}
        print(f"LeNet's 5-bit campaign took {campaign:.1f} min and its float model {float_train:.1f} min in make "
              f"replicate: ResNet-8 would take about {ratio * campaign:.0f} and {ratio * float_train:.0f} min")
    if load > QUIET_LOAD:  # the doc's row estimates want a quiet core
        print(f"not kept: the load average was {load:.2f} when it started (above {QUIET_LOAD}); "
              f"docs/replication/resnet8_timing.json keeps its quiet-core timing")
        return
    write_text_atomic(os.path.join(ROOT, "docs", "replication", "resnet8_timing.json"),
                      json.dumps(result, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
