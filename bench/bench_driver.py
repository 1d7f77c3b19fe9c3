"""Driver overhead per training iteration against `caffe train`, LeNet on the digits.

caffe train's per-iteration time is taken from two runs (short and long) so that net
setup cancels out; the driver's loop (write-back of 50% frozen weights every iteration) is timed
in-process over the same number of iterations (blocks of step(n) with the write-back in
Caffe's on_start callback, as in a campaign). The two are measured alternately, REPS
times: this 2-core machine's speed drifts by tens of percent between runs, so the best
(least disturbed) time of each side gives the ratio; the medians are printed beside it.
"""
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHORT, LONG, REPS = 20, 220, 7


def solver_text(cfg, max_iter, prefix):
    from inq_layer.solver_config import caffe_solver_text
    return caffe_solver_text(cfg, prefix, max_iter)


def main():
    os.chdir(ROOT)
    if not os.path.exists("build/digits/.complete"):
        subprocess.run([sys.executable, "-m", "inq_layer.digits_data"], check=True)
    import caffe
    import numpy as np
    from inq_layer import quantize_blob
    from inq_layer.caffe_log import CaffeLog
    from inq_layer.freezer import Freezer, encode
    from inq_layer.solver_config import load_solver
    from inq_layer.trainer import train_phase
    cfg = load_solver("prototxt/lenet_solver.prototxt")
    tool = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(caffe.__file__))), "build", "tools", "caffe")
    tmp = tempfile.mkdtemp()

    def caffe_train(n):
        path = os.path.join(tmp, f"s{n}.prototxt")
        open(path, "w").write(solver_text(cfg, n, os.path.join(tmp, "x")))
        t = time.perf_counter()
        subprocess.run([tool, "train", f"--solver={path}"], check=True, capture_output=True)
        return time.perf_counter() - t

    caffe.set_mode_cpu()
    path = os.path.join(tmp, "d.prototxt")
    open(path, "w").write(solver_text(cfg, 10 ** 8, os.path.join(tmp, "y")))
    solver = caffe.get_solver(path)
    codes = {}
    for name in ("conv1", "conv2", "ip1", "ip2"):
        data = solver.net.params[name][0].data
        r = quantize_blob(data, 0.5, 5, rule="paper")
        data[...] = r.quantized
        codes[(name, 0)] = encode(r.quantized, r.frozen, name)
    cfg.param.display = 0
    cfg.param.test_interval = 0
    cfg.param.snapshot = 0
    freezer, log = Freezer(codes), CaffeLog(open(os.devnull, "w"))
    solver.step(10)  # warm up
    per_caffe, per_driver = [], []
    for _ in range(REPS):
        per_caffe.append((caffe_train(LONG) - caffe_train(SHORT)) / (LONG - SHORT))
        t = time.perf_counter()
        train_phase(solver, cfg, freezer, solver.iter + LONG - SHORT, log, lambda it: None, {})
        per_driver.append((time.perf_counter() - t) / (LONG - SHORT))
    med = float(np.median(per_driver)) / float(np.median(per_caffe))
    per_caffe, per_driver = min(per_caffe), min(per_driver)
    print(f"LeNet, batch 64, {REPS} x {LONG - SHORT} iterations, best of each: caffe train "
          f"{per_caffe * 1e3:.2f} ms/iter, driver {per_driver * 1e3:.2f} ms/iter (50% of weights frozen), "
          f"ratio driver/caffe = {per_driver / per_caffe:.3f} (goal <= 1.03; ratio of medians {med:.3f})")


if __name__ == "__main__":
    main()
