"""The integer engine against Caffe on a W5/A8 LeNet (the digits of `make run`): agreement
and speed, measured in one run on the same 1,000 test images.

The model: `make run`'s float LeNet, INQ at 5 bits with 8-bit activations (--act-bits 8),
one short phase per portion (kept in build/lenet/w5a8 once made). Agreement: every
quantizer's integers and every top-1 prediction of the engine against Caffe's forward pass
on inq_deploy.prototxt. Speed: images per second of the numpy engine and of Caffe's forward
pass on the same deploy net (its quantizers are Python layers), one BLAS thread, batch 100,
best of 3; the .inq size and the activation bytes per image.
"""
import os
import subprocess
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("GLOG_minloglevel", "2")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "build", "lenet", "w5a8")
FLOAT = os.path.join(ROOT, "build", "lenet", "lenet_float.caffemodel")
DB = os.path.join(ROOT, "build", "digits", "digits_test_lmdb")
ROUNDS = 3


def model() -> tuple[str, str]:
    deploy, final = os.path.join(OUT, "inq_deploy.prototxt"), os.path.join(OUT, "final_inq.caffemodel")
    if not os.path.exists(final):
        subprocess.run([sys.executable, os.path.join(ROOT, "solver_driver.py"), "--solver",
                        os.path.join(ROOT, "prototxt", "lenet_inq_solver.prototxt"), "--weights", FLOAT,
                        "--bits", "5", "--act-bits", "8", "--campaign", "0.5,0.75,0.875,1", "--max-iter", "200",
                        "--out", OUT], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return deploy, final


def main() -> int:
    import caffe
    import numpy as np
    from inq_layer.deploy.export import export_model
    from inq_layer.deploy.infer import batches, load
    from inq_layer.options import QuantOptions
    deploy, final = model()
    inq = os.path.join(OUT, "model.inq")
    size = export_model(deploy, final, QuantOptions(bits=5), inq)["file_bytes"]
    m = load(deploy, inq_path=inq)
    caffe.set_mode_cpu()
    net = caffe.Net(deploy, caffe.TEST)
    net.copy_from(final)
    quantizers = [ly.name for ly in m.engine.net.layer if ly.type == "Python"]
    data = list(batches(m, DB, 100))
    same = total = agree = right_engine = right_caffe = images = 0
    t_engine, t_caffe = [], []
    for r in range(ROUNDS):
        te = tc = 0.0
        for x, y in data:
            t = time.perf_counter()
            got = m.engine.run({m.input: x})
            te += time.perf_counter() - t
            net.blobs[m.input].reshape(*x.shape)
            net.blobs[m.input].data[...] = x
            t = time.perf_counter()
            net.forward()
            tc += time.perf_counter() - t
            if r == 0:
                for q in quantizers:
                    v = got[q]
                    same += int((v.q == np.round(net.blobs[q].data.astype(np.float64) * 2.0 ** v.f)).sum())
                    total += v.q.size
                pe, pc = got[m.output].q.argmax(1), net.blobs[m.output].data.argmax(1)
                agree += int((pe == pc).sum())
                right_engine += int((pe == y).sum())
                right_caffe += int((pc == y).sum())
                images += len(x)
        t_engine.append(te)
        t_caffe.append(tc)
    acts = sum(int(np.prod(v.q.shape[1:])) * (1 if k in quantizers else 4) for k, v in got.items())
    print(f"agreement on {images} images: quantizer outputs identical {same:,} of {total:,} "
          f"({100 * same / total:.5f} %); top-1 predictions identical {agree} of {images}; accuracy engine "
          f"{right_engine / images:.4f}, Caffe {right_caffe / images:.4f}")
    print(f"speed, batch 100, 1 BLAS thread, best of {ROUNDS}: numpy engine {images / min(t_engine):,.0f} images/s, "
          f"Caffe forward (float, quantizers as Python layers) {images / min(t_caffe):,.0f} images/s "
          f"({min(t_engine) / min(t_caffe):.1f}x Caffe's time)")
    print(f"per image: {m.engine.counts.shift_adds:,} shift-adds, {m.engine.counts.multiplies:,} multiplies; "
          f"model {size:,} bytes (.inq); activations {acts:,} bytes (8-bit quantizer outputs, 32-bit "
          f"accumulators)" + (f"; 64-bit: {', '.join(m.engine.counts.int64_layers)}" if m.engine.counts.int64_layers
                               else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
