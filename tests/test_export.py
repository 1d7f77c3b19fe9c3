"""export: caffemodel -> .inq -> caffemodel, bit-identical weights and network outputs."""
import os

import numpy as np

from driver_util import bits, run_tool, same_models

DEPLOY = """name: "tiny"
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 4 dim: 1 dim: 8 dim: 8 } } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
  convolution_param { num_output: 6 kernel_size: 3 weight_filler { type: "xavier" }
    bias_filler { type: "constant" value: 0.1 } } }
layer { name: "bn1" type: "BatchNorm" bottom: "conv1" top: "conv1" }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "ip1" type: "InnerProduct" bottom: "conv1" top: "ip1"
  inner_product_param { num_output: 5 weight_filler { type: "xavier" } bias_filler { type: "constant" value: 0.2 } } }
layer { name: "prob" type: "Softmax" bottom: "ip1" top: "prob" }
"""


def export(*args):
    return run_tool("export", *args, check=False)


def make_model(tmp_path, quantized=True):
    import caffe
    from inq_layer import quantize_blob
    caffe.set_mode_cpu()
    proto = tmp_path / "deploy.prototxt"
    proto.write_text(DEPLOY)
    net = caffe.Net(str(proto), caffe.TEST)
    rng = np.random.default_rng(0)
    for blobs in net.params.values():
        for b in blobs:
            b.data[...] = rng.normal(0, 0.3, b.data.shape)
    net.params["bn1"][2].data[...] = 1.0  # BatchNorm's scale factor
    if quantized:
        for n in ("conv1", "ip1"):
            net.params[n][0].data[...] = quantize_blob(net.params[n][0].data, 1.0, 4).quantized
    w = tmp_path / "w.caffemodel"
    net.save(str(w))
    return str(proto), str(w)


def test_round_trip_weights_and_outputs_identical(tmp_path):
    import caffe
    proto, w = make_model(tmp_path)
    inq, back = str(tmp_path / "m.inq"), str(tmp_path / "back.caffemodel")
    r = export("--model", proto, "--weights", w, "--bits", "4", "--out", inq)
    assert r.returncode == 0, r.stderr
    assert "ratio" in r.stdout and "at 4 bits, packed or entropy-coded" in r.stdout and "bits/weight" in r.stdout
    r = export("--load", inq, "--model", proto, "--out", back)
    assert r.returncode == 0, r.stderr
    assert same_models(w, back)
    x = np.random.default_rng(1).normal(size=(4, 1, 8, 8)).astype(np.float32)
    outs = []
    for weights in (w, back):
        net = caffe.Net(proto, caffe.TEST, weights=weights)
        net.blobs["data"].data[...] = x
        outs.append(net.forward()["prob"].copy())
    assert np.array_equal(bits(outs[0]), bits(outs[1]))
    # 6*1*3*3 + 5*6*6*6 = 1134 weights; each blob packed (bits, n1, ceil(count*4/8) bytes) or smaller
    out = export("--model", proto, "--weights", w, "--bits", "4", "--out", inq).stdout
    rows = {ln.split()[0]: ln.split() for ln in out.splitlines() if ln.startswith(("conv1 ", "ip1 ", "conv2 "))}
    sizes = {name: int(r[-1].replace(",", "")) for name, r in rows.items()}
    counts = {name: int(r[1].replace(",", "")) for name, r in rows.items()}
    assert sum(counts.values()) == 1134
    assert all(sizes[n] <= 1 + 2 + (counts[n] * 4 + 7) // 8 for n in sizes)
    assert f"1,134 -> {sum(sizes.values()):,} bytes" in out


def test_export_refuses_a_model_that_fails_the_check(tmp_path):
    proto, w = make_model(tmp_path, quantized=False)
    out = tmp_path / "m.inq"
    r = export("--model", proto, "--weights", w, "--bits", "4", "--out", str(out))
    assert r.returncode == 2 and "conv1" in r.stderr and "fails the check" in r.stderr
    assert "Traceback" not in r.stderr and not out.exists()


def test_load_rejects_corrupt_file_without_writing(tmp_path):
    proto, w = make_model(tmp_path)
    inq = tmp_path / "m.inq"
    assert export("--model", proto, "--weights", w, "--bits", "4", "--out", str(inq)).returncode == 0
    data = bytearray(inq.read_bytes())
    data[-3] ^= 0x10
    inq.write_bytes(bytes(data))
    out = tmp_path / "x.caffemodel"
    r = export("--load", str(inq), "--model", proto, "--out", str(out))
    assert r.returncode == 2 and "checksum" in r.stderr and not out.exists()


def test_lenet_shaped_round_trip(tmp_path):
    """The shipped LeNet definition (read with caffe_pb2 only; no data needed)."""
    from inq_layer import quantize_blob
    from inq_layer.caffe_edge.caffe_io import pb2
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proto = os.path.join(root, "prototxt", "lenet_train_test.prototxt")
    shapes = {"conv1": [(20, 1, 5, 5), (20,)], "conv2": [(50, 20, 5, 5), (50,)],
              "ip1": [(500, 800), (500,)], "ip2": [(10, 500), (10,)]}
    rng = np.random.default_rng(3)
    m = pb2().NetParameter(name="LeNet")
    for name, (ws, bs) in shapes.items():
        layer = m.layer.add(name=name, type="InnerProduct" if name.startswith("ip") else "Convolution")
        for i, shape in enumerate((ws, bs)):
            a = rng.normal(0, 0.05, shape).astype(np.float32)
            if i == 0:
                a = quantize_blob(a, 1.0, 5).quantized
            b = layer.blobs.add()
            b.shape.dim.extend(shape)
            b.data.extend(a.reshape(-1).tolist())
    w = tmp_path / "lenet.caffemodel"
    w.write_bytes(m.SerializeToString())
    inq, back = str(tmp_path / "lenet.inq"), str(tmp_path / "back.caffemodel")
    r = export("--model", proto, "--weights", str(w), "--bits", "5", "--out", inq)
    assert r.returncode == 0, r.stderr
    import re
    m = re.search(r"430,500 -> ([\d,]+) bytes at 5 bits", r.stdout)
    assert m and int(m.group(1).replace(",", "")) < 269_063  # below 5-bit packing: entropy-coded
    assert export("--load", inq, "--model", proto, "--out", back).returncode == 0
    assert same_models(str(w), back)
