"""What 8-bit activations cost in training: ResNet-8 (Fashion-MNIST's net, batch 64) ms per
training iteration (forward + backward) with and without its activation quantizers.

Both nets read the same synthetic batch (a DummyData layer in place of the LMDB layers: the
quantizers' cost does not depend on the values), one BLAS thread, interleaved rounds so
that they share the machine's load; the least disturbed round of each counts. The
quantizers are placed by net/act_placement.py and calibrated (mse, 2 batches) as a
campaign would. Goal: at most 1.25x.
"""
import os
import sys
import tempfile
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("GLOG_minloglevel", "2")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NET = os.path.join(ROOT, "prototxt", "fashion_resnet8_train_test.prototxt")
ITERATIONS, ROUNDS, GOAL = 20, 5, 1.25


def synthetic(net_param):
    """The TRAIN net of `net_param` with a DummyData layer for its data layers."""
    from inq_layer.net.act_placement import DATA_TYPES, TRAIN, active
    layers = [ly for ly in net_param.layer if active(ly, TRAIN)]
    data = next(ly for ly in layers if ly.type in DATA_TYPES)
    del net_param.layer[:]
    d = net_param.layer.add()
    d.name, d.type = data.name, "DummyData"
    d.top.extend(data.top)
    p = d.dummy_data_param
    p.shape.add().dim.extend([64, 1, 28, 28])
    p.shape.add().dim.extend([64])
    p.data_filler.add().type = "uniform"
    p.data_filler.add().type = "constant"
    net_param.layer.extend([ly for ly in layers if ly is not data and ly.type not in DATA_TYPES])
    for ly in net_param.layer:
        del ly.include[:]
    return net_param


def ms_per_iteration(net) -> float:
    t = time.perf_counter()
    for _ in range(ITERATIONS):
        net.forward()
        net.backward()
    return 1000 * (time.perf_counter() - t) / ITERATIONS


def main() -> int:
    import caffe
    from inq_layer.caffe_edge.caffe_io import read_net, write_text_proto
    from inq_layer.net import act_placement
    from inq_layer.net.act_calibration import calibrate
    caffe.set_mode_cpu()
    with tempfile.TemporaryDirectory() as tmp:
        plain, quant = os.path.join(tmp, "float.prototxt"), os.path.join(tmp, "a8.prototxt")
        write_text_proto(plain, synthetic(read_net(NET)))
        q_param = synthetic(read_net(NET))
        qs = act_placement.add_quantizers(q_param, 8)
        write_text_proto(quant, q_param)
        got = calibrate(lambda: caffe.Net(quant, caffe.TRAIN), qs, 8, 2, "mse")
        act_placement.set_quantizers(q_param, {n: (c.bits, c.f, c.signed) for n, c in got.items()})
        write_text_proto(quant, q_param)
        nets = {"float activations": caffe.Net(plain, caffe.TRAIN), "8-bit activations": caffe.Net(quant, caffe.TRAIN)}
        for net in nets.values():
            ms_per_iteration(net)  # warm up
        times = {k: [] for k in nets}
        for _ in range(ROUNDS):
            for k, net in nets.items():
                times[k].append(ms_per_iteration(net))
    best = {k: min(v) for k, v in times.items()}
    ratio = best["8-bit activations"] / best["float activations"]
    print(f"ResNet-8 training iteration (batch 64, 1 BLAS thread, best of {ROUNDS} x {ITERATIONS}): "
          f"float activations {best['float activations']:.1f} ms, 8-bit activations ({len(qs)} quantizers) "
          f"{best['8-bit activations']:.1f} ms: {ratio:.3f}x (goal <= {GOAL}x: {'met' if ratio <= GOAL else 'MISSED'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
