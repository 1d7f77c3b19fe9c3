"""The integer engine against Caffe: agreement and speed, measured in one run.

Speed, on two W5/A8 models made here once (kept under build/bench_engine/): the digits
LeNet of `make run` (INQ at 5 bits, 8-bit activations, one short phase a portion) and the
Fashion ResNet-8 (the replication's float model when build/replicate_fashion has it, else
its fillers; two short phases: a speed model, not a trained one). Batch 100, one thread,
best of 3 interleaved rounds: images per second of the engine with its C kernel and with
its numpy fallback, of Caffe's float forward pass on the same net without quantizers, and
of Caffe's forward pass with them (Python layers); the .inq size and the activation
memory per image.

Agreement, on the same two models and on every W/A model of the replication found in
build/replicate_fashion (or $INQ_REPLICATION_DIR), over its whole test set: every
quantizer's integers and every top-1 prediction of the engine against Caffe's forward
pass on inq_deploy.prototxt, and the two accuracies.
"""
import glob
import os
import subprocess
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("GLOG_minloglevel", "2")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "build", "bench_engine")
REPLICATION = os.environ.get("INQ_REPLICATION_DIR", os.path.join(ROOT, "build", "replicate_fashion"))
DIGITS_TEST = os.path.join(ROOT, "build", "digits", "digits_test_lmdb")
FASHION_TEST = os.path.join(ROOT, "build", "fashion", "fashion_test_lmdb")
ROUNDS, BATCH, SPEED_IMAGES = 3, 100, 1000


def campaign(name: str, solver: str, start: list[str], extra: list[str]) -> str:
    """A W5/A8 campaign's folder, made once."""
    out = os.path.join(OUT, name)
    if not os.path.exists(os.path.join(out, "final_inq.caffemodel")):
        cmd = [sys.executable, os.path.join(ROOT, "solver_driver.py"), "--solver", os.path.join(ROOT, solver), *start,
               "--bits", "5", "--act-bits", "8", *extra, "--out", out]
        r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if r.returncode:
            sys.exit(f"bench_engine: the {name} campaign failed:\n{r.stderr[-2000:]}")
    return out


def models() -> dict[str, tuple[str, str]]:
    """name -> (campaign folder, test database)."""
    lenet = campaign("lenet_w5a8", "prototxt/lenet_inq_solver.prototxt",
                     ["--weights", os.path.join(ROOT, "build", "lenet", "lenet_float.caffemodel")],
                     ["--campaign", "0.5,0.75,0.875,1", "--max-iter", "200"])
    float_resnet = os.path.join(REPLICATION, "float_resnet8_s1.caffemodel")
    start = ["--weights", float_resnet] if os.path.exists(float_resnet) else ["--init-from-fillers"]
    resnet = campaign("resnet8_w5a8", "prototxt/fashion_resnet8_solver.prototxt", start,
                      ["--campaign", "0.5,1", "--max-iter", "40"])
    return {"digits LeNet": (lenet, DIGITS_TEST), "Fashion ResNet-8": (resnet, FASHION_TEST)}


def float_net(deploy: str) -> str:
    """The deploy net without its quantizers: what Caffe runs for a float model."""
    from inq_layer.caffe_edge.caffe_io import read_net, write_text_proto
    from inq_layer.net.act_placement import without_quantizers
    path = deploy.replace(".prototxt", "_float.prototxt")
    write_text_proto(path, without_quantizers(read_net(deploy)))
    return path


def caffe_net(model: str, weights: str):
    import caffe
    caffe.set_mode_cpu()
    net = caffe.Net(model, caffe.TEST)
    net.copy_from(weights)
    return net


def caffe_forward(net, name: str, x):
    net.blobs[name].reshape(*x.shape)
    net.blobs[name].data[...] = x
    net.forward()
    return net.blobs


def agreement(folder: str, db: str) -> str:
    """Engine against Caffe over every image of db, as one line."""
    import numpy as np
    from inq_layer.deploy.infer import batches, load
    deploy, final = os.path.join(folder, "inq_deploy.prototxt"), os.path.join(folder, "final_inq.caffemodel")
    m = load(deploy, final)
    net = caffe_net(deploy, final)
    quantizers = [ly.name for ly in m.engine.net.layer if ly.type == "Python"]
    same = total = worst = agree = right_e = right_c = images = 0
    for x, y in batches(m, db, BATCH):
        got = m.engine.run({m.input: x})
        blobs = caffe_forward(net, m.input, x)
        for q in quantizers:
            v = got[q]
            diff = np.abs(v.q - np.round(blobs[q].data.astype(np.float64) * 2.0 ** v.f))
            same += int((diff == 0).sum())
            total += diff.size
            worst = max(worst, int(diff.max()))
        pe, pc = got[m.output].exact().q.argmax(1), blobs[m.output].data.argmax(1)
        agree += int((pe == pc).sum())
        right_e += int((pe == y).sum())
        right_c += int((pc == y).sum())
        images += len(x)
    differ = (f"{total - same:,} differ, by {worst} step{'s' if worst > 1 else ''} at most" if same < total
              else "all")
    return (f"{images:,} images: quantizer outputs identical {same:,} of {total:,} ({100 * same / total:.6f} %; "
            f"{differ}); top-1 identical {agree:,} of {images:,}; "
            f"accuracy engine {right_e / images:.4f}, Caffe {right_c / images:.4f}")


def speed(folder: str, db: str) -> str:
    """Images per second: the engine (C, numpy) and Caffe (float, with quantizers), one line."""
    import numpy as np
    from inq_layer.core import shift_conv
    from inq_layer.deploy.export import export_model
    from inq_layer.deploy.infer import batches, load
    from inq_layer.options import QuantOptions
    deploy, final = os.path.join(folder, "inq_deploy.prototxt"), os.path.join(folder, "final_inq.caffemodel")
    inq = os.path.join(folder, "model.inq")
    size = export_model(deploy, final, QuantOptions(bits=5), inq)["file_bytes"]
    m = load(deploy, inq_path=inq)
    sim, flt = caffe_net(deploy, final), caffe_net(float_net(deploy), final)
    data = []
    for x, _ in batches(m, db, BATCH):
        data.append(x)
        if len(data) * BATCH >= SPEED_IMAGES:
            break
    images = sum(len(x) for x in data)
    kernel = shift_conv._lib
    runs = {"C engine": lambda x: m.engine.run({m.input: x}), "numpy engine": None,
            "Caffe float": lambda x: caffe_forward(flt, m.input, x),
            "Caffe with quantizers": lambda x: caffe_forward(sim, m.input, x)}
    best = {k: float("inf") for k in runs}
    for _ in range(ROUNDS):
        for name, fn in runs.items():
            if name == "numpy engine":
                shift_conv._lib, fn = None, runs["C engine"]
            t = time.perf_counter()
            for x in data:
                fn(x)
            best[name] = min(best[name], time.perf_counter() - t)
            shift_conv._lib = kernel
    got = m.engine.run({m.input: data[0][:1]})
    quantizers = {ly.name for ly in m.engine.net.layer if ly.type == "Python"}
    acts = sum(int(np.prod(v.q.shape[1:])) * (1 if k in quantizers else 4) for k, v in got.items())
    rates = {k: images / t for k, t in best.items()}
    c = m.engine.counts
    return ("; ".join(f"{k} {r:,.0f} images/s" for k, r in rates.items())
            + f" (C engine / Caffe float: {rates['C engine'] / rates['Caffe float']:.2f}x)\n  per image: "
            f"{c.shift_adds:,} shift-adds, {c.multiplies:,} multiplies; model {size:,} bytes (.inq); activations "
            f"{acts:,} bytes (8-bit quantizer outputs, 32-bit accumulators)"
            + (f"; 64-bit accumulators in {', '.join(c.int64_layers)}" if c.int64_layers else ""))


def main() -> int:
    from inq_layer.core import shift_conv
    print(f"C kernel: {shift_conv.KERNEL}; batch {BATCH}, one thread, best of {ROUNDS} over {SPEED_IMAGES} images")
    for name, (folder, db) in models().items():
        print(f"{name} W5/A8 ({os.path.relpath(folder, ROOT)}):\n  speed: {speed(folder, db)}")
        print(f"  agreement over {os.path.basename(db)}: {agreement(folder, db)}")
    runs = sorted(d for d in glob.glob(os.path.join(REPLICATION, "*_a[0-9]*_s[0-9]"))
                  if os.path.exists(os.path.join(d, "final_inq.caffemodel")))
    print(f"replication W/A models in {REPLICATION}: {len(runs)}")
    for d in runs:
        print(f"  {os.path.basename(d)}: {agreement(d, FASHION_TEST)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
