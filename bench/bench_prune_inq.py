"""INQ after pruning on the digits LeNet of `make run`: how small, at what accuracy.

The float LeNet (build/lenet/lenet_float.caffemodel, `make run` trains it) is pruned per
layer with retraining (python -m inq_layer.tools.prune, conv1 0.6, conv2 0.85, ip1 0.95, ip2 0.8,
four steps of prototxt/lenet_inq_solver.prototxt), then quantized to 5 bits with
--keep-zeros and the INQ author's finer schedule, then exported to .inq. Prints the
accuracy of each model, the sparsity, the .inq size and its ratio to the float32
caffemodel's blobs (the goal: 50x within 0.5 points; Deep Compression: 39x on LeNet-5).
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLOAT = os.path.join(ROOT, "build", "lenet", "lenet_float.caffemodel")
SOLVER = os.path.join(ROOT, "prototxt", "lenet_inq_solver.prototxt")
NET = os.path.join(ROOT, "prototxt", "lenet_train_test.prototxt")
FINE = "0.05,0.1,0.15,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,0.95,1"
ENV = dict(os.environ, GLOG_minloglevel="1", OPENBLAS_NUM_THREADS="1")


def run(*args: str) -> str:
    r = subprocess.run([sys.executable, *args], capture_output=True, text=True, env=ENV, cwd=ROOT)
    if r.returncode != 0:
        sys.exit(f"failed: {' '.join(args)}\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    return r.stdout


def main() -> None:
    if not os.path.exists(FLOAT):
        sys.exit(f"{FLOAT} is missing: run `make run` first")
    folder = tempfile.mkdtemp(prefix="prune_inq.")
    try:
        pruned = os.path.join(folder, "pruned")
        run("-m", "inq_layer.tools.prune", "--solver", SOLVER, "--weights", FLOAT, "--out", pruned,
            "--sparsity", "conv1=0.6,conv2=0.85,ip1=0.95,ip2=0.8", "--steps", "0.5,0.75,0.9,1")
        prep = json.load(open(os.path.join(pruned, "report.json")))
        inq = os.path.join(folder, "inq")
        run("solver_driver.py", "--solver", SOLVER, "--weights", os.path.join(pruned, "pruned.caffemodel"),
            "--keep-zeros", "--bits", "5", "--campaign", FINE, "--out", inq)
        rep = json.load(open(os.path.join(inq, "report.json")))
        from inq_layer.deploy.export import export_model
        from inq_layer.options import QuantOptions
        size = export_model(NET, rep["final_model"], QuantOptions(bits=5), os.path.join(folder, "lenet.inq"))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    fl = 100 * prep["test_float"]["accuracy"]
    pr = 100 * prep["phases"][-1]["test_after_training"]["accuracy"]
    q = 100 * rep["phases"][-1]["test_after_training"]["accuracy"]
    sp = sum(ly["sparsity"] * ly["count"] for ly in size["layers"]) / sum(ly["count"] for ly in size["layers"])
    ratio = size["float_bytes"] / size["file_bytes"]
    print(f"digits LeNet, pruned per layer then 5-bit INQ (--keep-zeros, finer schedule): accuracy float "
          f"{fl:.2f} %, pruned {pr:.2f} %, INQ {q:.2f} % ({q - fl:+.2f} points); {sp:.1%} of the weights are 0; "
          f".inq {size['file_bytes']:,} bytes against {size['float_bytes']:,} float32: {ratio:.1f}x "
          f"(goal 50x within 0.5 points: {'met' if ratio >= 50 and q - fl >= -0.5 else 'MISSED'})")


if __name__ == "__main__":
    main()
