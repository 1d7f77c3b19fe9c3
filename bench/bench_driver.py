"""Driver overhead per training iteration against `caffe train`, LeNet on the digits.

Both sides are the real programs on the same solver: Caffe's `caffe train` tool and
`solver_driver.py` (campaign 0.5,1.0: its first phase trains with half the weights frozen
and written back every iteration). Each side's time per iteration is read from its own
log, between consecutive "Iteration N, loss" display lines (glog's microsecond
timestamps), so process start, net setup, quantization, tests and snapshots stay out of
it; the median interval of a run is that run's time per iteration.

Why it looks like this: this 2-core machine's speed drifts by tens of percent between and
within runs, so timing whole processes gave ratios from 0.63 to 1.13 for the same code.
The runs are alternated (C D D C ...) so drift hits both sides alike, the median interval
ignores hiccups, and the headline uses one BLAS thread on both sides: with two, OpenBLAS's
threads spin on both cores and a 600-iteration run moved between 18 and 24 ms/iteration;
with one it stays within a few percent. Two pairs with two threads are printed too, for
reference, and two with the numpy write-back (INQ_WRITEBACK=numpy), the fallback when
setup could not compile writeback.c.
"""
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ITERS, DISPLAY, PAIRS = 400, 20, 5
_LINE = re.compile(r"^I\d+ (\d\d):(\d\d):(\d\d\.\d+) .*\] Iteration (\d+)(?: \([^)]*\))?, loss = ")


def per_iteration(log_text: str) -> float:
    """Median seconds per iteration between consecutive display lines (the first interval,
    which holds warm-up, is dropped)."""
    stamps = []
    for line in log_text.splitlines():
        m = _LINE.match(line)
        if m:
            h, mi, s, it = m.groups()
            stamps.append((int(it), int(h) * 3600 + int(mi) * 60 + float(s)))
    gaps = []  # the driver's last phase restarts at iteration 0: no gap across it
    for (i0, t0), (i1, t1) in zip(stamps[1:], stamps[2:]):
        if i1 > i0:
            gaps.append(((t1 - t0) % 86400) / (i1 - i0))  # % 86400: a run across midnight
    if len(gaps) < 3:
        raise SystemExit(f"error: bench_driver: only {len(stamps)} display lines in a log")
    return statistics.median(gaps)


def main() -> None:
    os.chdir(ROOT)
    if not os.path.exists("build/digits/.complete"):
        subprocess.run([sys.executable, "-m", "inq_layer.tools.digits_data"], check=True)
    from inq_layer.caffe_edge.caffe_io import caffe_tool, caffe_tool_env, write_text_proto
    from inq_layer.caffe_edge.solver_config import load_solver
    tool = caffe_tool()
    tmp = tempfile.mkdtemp(prefix="bench_driver.")
    cfg = load_solver("prototxt/lenet_solver.prototxt")
    p = cfg.param
    p.display, p.max_iter, p.test_interval, p.snapshot = DISPLAY, ITERS, 10 * ITERS, 0
    p.snapshot_prefix = os.path.join(tmp, "caffe")
    p.net = os.path.abspath(p.net)
    solver = os.path.join(tmp, "solver.prototxt")
    write_text_proto(solver, p)

    def run(side: str, threads: str, n: int, kernel: str) -> float:
        env = caffe_tool_env(OPENBLAS_NUM_THREADS=threads, GLOG_minloglevel="0", INQ_WRITEBACK=kernel)
        if side == "caffe":
            r = subprocess.run([tool, "train", f"--solver={solver}"], env=env,
                               capture_output=True, text=True)
            text = r.stderr
        else:
            out = os.path.join(tmp, f"driver{threads}{kernel}_{n}")
            r = subprocess.run([sys.executable, "solver_driver.py", "--solver", solver,
                                "--init-from-fillers", "--campaign", "0.5,1.0", "--out", out],
                               env=env, capture_output=True, text=True)
            text = open(os.path.join(out, "train.log")).read() if r.returncode == 0 else ""
        if r.returncode != 0:
            raise SystemExit(f"error: bench_driver: {side} failed:\n{r.stderr[-2000:]}")
        return per_iteration(text)

    def pairs(threads: str, count: int, kernel: str = "") -> tuple[list[float], list[float]]:
        caffe_t, driver_t = [], []
        for k in range(count):
            order = ("caffe", "driver") if k % 2 == 0 else ("driver", "caffe")
            for side in order:
                (caffe_t if side == "caffe" else driver_t).append(run(side, threads, k, kernel))
        return caffe_t, driver_t

    def show(label: str, caffe_t: list[float], driver_t: list[float]) -> None:
        c, d = statistics.median(caffe_t), statistics.median(driver_t)
        each = ", ".join(f"{b / a:.3f}" for a, b in zip(caffe_t, driver_t))
        print(f"{label}: caffe train {c * 1e3:.2f} ms/iter, driver {d * 1e3:.2f} ms/iter, "
              f"ratio driver/caffe = {d / c:.3f} (per pair: {each})")

    from inq_layer.core import codes as writeback
    print(f"write-back kernel: {writeback.KERNEL}")
    print(f"LeNet, batch 64, {ITERS} iterations a run, display every {DISPLAY}; driver phase 1 "
          f"with 50% of weights frozen; medians over {PAIRS} alternated pairs; goal <= 1.03", flush=True)
    try:
        show("1 BLAS thread ", *pairs("1", PAIRS))
        show("2 BLAS threads (noisy, for reference)", *pairs("2", 2))
        show("1 BLAS thread, numpy write-back", *pairs("1", 2, "numpy"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
