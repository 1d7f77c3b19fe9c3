"""The paper's AlexNet path on real photographs, on this CPU.

Debian's opencv-doc photos (26, two classes; tests/sample_images.py) go through the README's
commands: imageset (256x256; shuffled for training, in order for validation) -> LMDBs,
image_mean -> mean file, then
prototxt/alexnet_train_val.prototxt with its real Data layers (crop 227, mirror, mean file)
in a generated copy that changes only the sources, the mean file and the batch sizes (8 and
4), and prototxt/alexnet_solver.prototxt (the original's values; solver_mode GPU falls back
to the CPU) through solver_driver.py: the original campaign 0.3,0.6,0.8,1.0, 2 iterations a
phase, from the fillers. Then the check and the .inq round trip. Then, at the real batch of
256: the time of one training iteration, and of fast-forwarding the data layer by one batch
(what --resume pays per batch the interrupted run had read). Prints what it measured; exits
non-zero on any failure.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, GLOG_minloglevel="1")


def run(*args: str) -> str:
    r = subprocess.run([sys.executable, *args], capture_output=True, text=True, env=ENV, cwd=ROOT)
    if r.returncode != 0:
        sys.exit(f"failed: {' '.join(args)}\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    return r.stdout


def real_files(folder: str, train_batch: int, test_batch: int) -> tuple[str, str]:
    """The data (once), and copies of the shipped AlexNet prototxts pointing at it."""
    from inq_layer.caffe_edge.caffe_io import read_net, read_solver, write_text_proto
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    from sample_images import sample_imageset  # the tests' photographs
    images, listing = sample_imageset(os.path.join(ROOT, "build", "downloads"), os.path.join(folder, "photos"))
    db, val = os.path.join(folder, "train_lmdb"), os.path.join(folder, "val_lmdb")
    mean = os.path.join(folder, "mean.binaryproto")
    if not os.path.exists(mean):
        print(run("-m", "inq_layer.tools.imageset", "--root", images, "--list", listing, "--out", db, "--resize", "256",
                  "256", "--shuffle", "--seed", "1").strip())
        run("-m", "inq_layer.tools.imageset", "--root", images, "--list", listing, "--out", val,
            "--resize", "256", "256")
        print(run("-m", "inq_layer.tools.image_mean", db, mean).strip())
    net = read_net(os.path.join(ROOT, "prototxt", "alexnet_train_val.prototxt"))
    for ly in net.layer:
        if ly.type == "Data":  # one source per phase: Caffe 1.0 cannot share it between them
            ly.data_param.source = db if ly.include[0].phase == 0 else val
            ly.transform_param.mean_file = mean
            ly.data_param.batch_size = train_batch if ly.include[0].phase == 0 else test_batch
    net_path = os.path.join(folder, f"alexnet_real_{train_batch}.prototxt")
    write_text_proto(net_path, net)
    s = read_solver(os.path.join(ROOT, "prototxt", "alexnet_solver.prototxt"))
    s.net, s.test_iter[0], s.snapshot_prefix = net_path, 2, os.path.join(folder, "alexnet")
    solver_path = os.path.join(folder, f"alexnet_real_{train_batch}_solver.prototxt")
    write_text_proto(solver_path, s)
    return net_path, solver_path


def campaign(folder: str) -> None:
    net, solver = real_files(folder, 8, 4)
    out = os.path.join(folder, "out")
    t = time.time()
    run("solver_driver.py", "--solver", solver, "--init-from-fillers", "--max-iter", "2", "--out", out)
    secs = time.time() - t
    rep = json.load(open(os.path.join(out, "report.json")))
    layers = rep["phases"][-1]["layers"]
    n = sum(v["count"] for v in layers.values())
    print(f"AlexNet on real photos (batch 8): {len(layers)} weight layers, {n:,} weights, phases "
          + ", ".join(f"{p['portion']:g}->{p['frozen_fraction']:.3f}" for p in rep["phases"])
          + f", check {'passed' if rep['check_passed'] else 'FAILED'}, {secs:.0f} s")
    if not rep["check_passed"] or len(layers) != 8 or rep["phases"][-1]["frozen_fraction"] != 1.0:
        sys.exit("AlexNet real-image smoke: unexpected result")
    inq, back = os.path.join(folder, "alexnet.inq"), os.path.join(folder, "back.caffemodel")
    print(run("-m", "inq_layer.tools.export", "--model", net, "--weights", rep["final_model"], "--bits", "5",
              "--out", inq).strip().splitlines()[-1])
    run("-m", "inq_layer.tools.export", "--load", inq, "--model", net, "--out", back)
    from inq_layer.caffe_edge import caffe_io
    a = caffe_io.model_arrays(caffe_io.read_caffemodel(rep["final_model"]))
    b = caffe_io.model_arrays(caffe_io.read_caffemodel(back))
    same = sorted(a) == sorted(b) and all(np.array_equal(x.view(np.uint32), y.view(np.uint32))
                                          for k in a for x, y in zip(a[k], b[k]))
    print(f"AlexNet .inq round trip bit-identical: {same}")
    if not same:
        sys.exit(1)


def full_batch(folder: str, iters: int = 2, batches: int = 5) -> None:
    """One training iteration and one data-layer fast-forward at batch 256, in this process."""
    import caffe

    from inq_layer.campaign.trainer import fast_forward_data
    _, solver_path = real_files(folder, 256, 50)
    caffe.set_mode_cpu()
    s = caffe.get_solver(solver_path)
    s.step(1)  # warm-up
    t = time.perf_counter()
    s.step(iters)
    it_s = (time.perf_counter() - t) / iters
    t = time.perf_counter()
    fast_forward_data(s.net, batches)
    ff_s = (time.perf_counter() - t) / batches
    print(f"AlexNet at batch 256 on this CPU ({os.cpu_count()} cores): {it_s:.1f} s per training iteration "
          f"(63000 a phase: {63000 * it_s / 86400:.0f} days); fast-forwarding the data layer costs "
          f"{ff_s * 1000:.0f} ms a batch ({ff_s / it_s:.1%} of an iteration)")
    del s


def main() -> None:
    folder = tempfile.mkdtemp(prefix="alexnet_real.")
    try:
        campaign(folder)
        full_batch(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
