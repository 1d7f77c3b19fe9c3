"""AlexNet as the original, on this CPU: a smoke campaign of the real net definition.

prototxt/alexnet_train_val.prototxt with its two LMDB Data layers swapped for DummyData
(ImageNet is not here; batch 4), prototxt/alexnet_solver.prototxt (the original's values,
solver_mode GPU: the driver falls back to the CPU) through solver_driver.py with the
original campaign 0.3,0.6,0.8,1.0 and 2 iterations per phase. Then the check, the .inq
export and its round trip. Prints what it measured; exits non-zero on any failure.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python"))


def smoke_files(folder: str, batch: int = 4) -> tuple[str, str]:
    from inq_layer.caffe_io import read_net, read_solver, write_text_proto
    net = read_net(os.path.join(ROOT, "prototxt", "alexnet_train_val.prototxt"))
    keep = [ly for ly in net.layer if ly.type != "Data"]
    del net.layer[:]
    dummy = net.layer.add(name="data", type="DummyData")
    dummy.top.extend(["data", "label"])
    p = dummy.dummy_data_param
    for dims in ((batch, 3, 227, 227), (batch,)):
        p.shape.add().dim.extend(dims)
    p.data_filler.add(type="gaussian", std=50)
    p.data_filler.add(type="constant", value=7)
    net.layer.extend(keep)
    net_path = os.path.join(folder, "alexnet_smoke.prototxt")
    write_text_proto(net_path, net)
    s = read_solver(os.path.join(ROOT, "prototxt", "alexnet_solver.prototxt"))
    s.net = net_path
    s.test_iter[0] = 1
    s.snapshot_prefix = os.path.join(folder, "alexnet")
    solver_path = os.path.join(folder, "alexnet_smoke_solver.prototxt")
    write_text_proto(solver_path, s)
    return net_path, solver_path


def main() -> None:
    folder = tempfile.mkdtemp(prefix="alexnet_smoke.")
    net, solver = smoke_files(folder)
    out = os.path.join(folder, "out")
    t = time.time()
    r = subprocess.run([sys.executable, os.path.join(ROOT, "solver_driver.py"), "--solver", solver,
                        "--init-from-fillers", "--max-iter", "2", "--out", out],
                       capture_output=True, text=True, env=dict(os.environ, GLOG_minloglevel="1"))
    secs = time.time() - t
    if r.returncode != 0:
        sys.exit(f"AlexNet smoke campaign failed:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    rep = json.load(open(os.path.join(out, "report.json")))
    layers = rep["phases"][-1]["layers"]
    n = sum(v["count"] for v in layers.values())
    print(f"AlexNet smoke campaign: {len(layers)} weight layers, {n:,} weights, phases "
          + ", ".join(f"{p['portion']:g}->{p['frozen_fraction']:.3f}" for p in rep["phases"])
          + f", check {'passed' if rep['check_passed'] else 'FAILED'}, {secs:.0f} s")
    if not rep["check_passed"] or len(layers) != 8 or rep["phases"][-1]["frozen_fraction"] != 1.0:
        sys.exit("AlexNet smoke: unexpected result")
    inq, back = os.path.join(folder, "alexnet.inq"), os.path.join(folder, "back.caffemodel")
    for args in (["--model", net, "--weights", rep["final_model"], "--bits", "5", "--out", inq],
                 ["--load", inq, "--model", net, "--out", back]):
        e = subprocess.run([sys.executable, "-m", "inq_layer.export", *args], capture_output=True, text=True)
        if e.returncode != 0:
            sys.exit(e.stderr)
        print(e.stdout.strip())
    from inq_layer import caffe_io
    a = caffe_io.model_arrays(caffe_io.read_caffemodel(rep["final_model"]))
    b = caffe_io.model_arrays(caffe_io.read_caffemodel(back))
    same = sorted(a) == sorted(b) and all(np.array_equal(x.view(np.uint32), y.view(np.uint32))
                                          for k in a for x, y in zip(a[k], b[k]))
    print(f"AlexNet .inq round trip bit-identical: {same}")
    if not same:
        sys.exit(1)
    import shutil
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
