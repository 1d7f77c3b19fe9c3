import os

import numpy as np

from caffe_nets import write_tiny
from driver_util import run_tool
from inq_layer.deploy.check import check_array

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_check_array():
    ok = np.array([0.5, -0.25, 0.0, 2 ** -7, -0.5], np.float32)
    n1, n2, exps, bad, first = check_array(ok, 5)
    assert (n1, n2, bad, exps) == (-1, -8, 0, [-7, -2, -1])
    n1, n2, exps, bad, first = check_array(np.array([0.5, 0.3, 2 ** -9], np.float32), 5)
    assert bad == 2 and first == np.float32(0.3)  # not a power; below n2
    assert check_array(np.array([0.5, np.nan], np.float32), 5)[3] == 1
    assert check_array(np.zeros(4, np.float32), 5)[3] == 0


def _save_net(tmp_path, fn):
    import caffe
    caffe.set_mode_cpu()
    solver = caffe.get_solver(write_tiny(str(tmp_path)))
    fn(solver.net)
    path = str(tmp_path / "w.caffemodel")
    solver.net.save(path)
    return str(tmp_path / "net.prototxt"), path


def test_check_cli_pass_and_fail(tmp_path):
    from inq_layer import quantize_blob

    def quantize_all(net):
        for n in ("conv1", "ip1"):
            net.params[n][0].data[...] = quantize_blob(net.params[n][0].data, 1.0, 5).quantized
    model, w = _save_net(tmp_path, quantize_all)
    r = run_tool("check", "--model", model, "--weights", w, "--bits", "5", check=False)
    assert r.returncode == 0 and "check passed" in r.stdout and "conv1" in r.stdout and "ip1" in r.stdout
    r = run_tool("check", "--model", model, "--weights", w, "--bits", "2", check=False)  # 5-bit values: not ternary
    assert r.returncode == 1 and "FAILED" in r.stdout
    model, w = _save_net(tmp_path, lambda net: None)
    r = run_tool("check", "--model", model, "--weights", w, "--bits", "5", check=False)
    assert r.returncode == 1 and "FAILED" in r.stdout


def test_check_cli_bad_input(tmp_path):
    r = run_tool("check", "--model", str(tmp_path / "nope.prototxt"), "--weights", "x", "--bits", "5", check=False)
    assert r.returncode == 2 and "not found" in r.stderr and "Traceback" not in r.stderr


def test_legacy_4d_shapes_compare_as_caffe_compares_them(tmp_path):
    """bvlc_alexnet.caffemodel stores its fully-connected weights as num/channels/height/width
    (1 x 1 x N x K) with no `shape`: Caffe loads them, and so do check and export."""
    from inq_layer import quantize_blob
    from inq_layer.caffe_edge import caffe_io

    def quantize_all(net):
        for n in ("conv1", "ip1"):
            net.params[n][0].data[...] = quantize_blob(net.params[n][0].data, 1.0, 5).quantized
    model, w = _save_net(tmp_path, quantize_all)
    m = caffe_io.read_caffemodel(w)
    for ly in m.layer:
        if ly.name == "ip1":
            for b in ly.blobs:
                dims = list(b.shape.dim)
                b.ClearField("shape")
                b.num, b.channels, b.height, b.width = [1] * (4 - len(dims)) + dims
    legacy = str(tmp_path / "legacy.caffemodel")
    open(legacy, "wb").write(m.SerializeToString())
    r = run_tool("check", "--model", model, "--weights", legacy, "--bits", "5", check=False)
    assert r.returncode == 0 and "check passed" in r.stdout, r.stderr
    r = run_tool("export", "--model", model, "--weights", legacy, "--bits", "5", "--out", str(tmp_path / "m.inq"),
                 check=False)
    assert r.returncode == 0, r.stderr


def test_export_for_a_prototxt_without_a_training_head_leaves_it_out(tmp_path):
    """Weights of a net with an extra head, exported for the prototxt without it: the head
    is left out and named, and --load with that prototxt reads the file back."""
    from inq_layer import quantize_blob

    def quantize_all(net):
        for n in ("conv1", "ip1"):
            net.params[n][0].data[...] = quantize_blob(net.params[n][0].data, 1.0, 5).quantized
    model, w = _save_net(tmp_path, quantize_all)
    text = open(model).read()
    bigger = tmp_path / "with_aux.prototxt"
    bigger.write_text(text + 'layer { name: "aux" type: "InnerProduct" bottom: "conv1" top: "aux" '
                             'inner_product_param { num_output: 2 weight_filler { type: "constant" value: 0.5 } } }\n')
    import caffe
    caffe.set_mode_cpu()
    net = caffe.Net(str(bigger), caffe.TEST)
    net.copy_from(w)
    with_aux = str(tmp_path / "with_aux.caffemodel")
    net.save(with_aux)
    inq = str(tmp_path / "m.inq")
    r = run_tool("export", "--model", model, "--weights", with_aux, "--bits", "5", "--out", inq)
    assert f"left out (not layers of {model}): aux" in r.stdout
    run_tool("export", "--load", inq, "--model", model, "--out", str(tmp_path / "back.caffemodel"))
