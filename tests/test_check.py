import os

import numpy as np
import pytest

from caffe_nets import pb2_files, write_tiny
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


def test_check_array_edges():
    """All values non-finite: no grid, each one a violation, the first one named; an
    exponent list holds the nonzero weights' exponents only."""
    n1, n2, exps, bad, first = check_array(np.array([np.inf, np.nan, 0], np.float32), 5)
    assert (n1, n2, exps, bad, first) == (None, None, [], 2, np.inf)
    assert check_array(np.array([4.0, 0, 2.0, -4.0], np.float32), 5)[:4] == (2, -5, [1, 2], 0)
    assert check_array(np.array([-np.inf, np.nan], np.float32), 5)[:4] == (None, None, [], 2)  # nothing finite


def test_check_model_names_missing_weights_and_counts_the_rest(tmp_path):
    import pytest
    from inq_layer.deploy.check import check_model
    from inq_layer.errors import InqError
    from inq_layer.options import QuantOptions
    w = [np.full((2, 4), 0.5, np.float32), np.zeros(2, np.float32)]
    layers = {n: () for n in ("a", "b", "c", "d")}
    for present, missing, tail in ((["a", "b", "c"], "d", ""), (["a", "b"], "c", " (and 1 more)"),
                                   (["a"], "b", " (and 2 more)")):
        model, weights = pb2_files(tmp_path, layers, {n: w for n in present})
        with pytest.raises(InqError) as e:
            check_model(model, weights, QuantOptions(bits=5))
        assert str(e.value) == f"{weights}: has no weights for layer {missing!r} of {model}{tail}"


def test_check_model_reports_a_shared_blob_once_and_its_copies_disagreeing(tmp_path):
    """Two layers sharing one weight blob: checked once; each value the sharer's copy holds
    differently is a violation."""
    from inq_layer.deploy.check import check_model, passed, verdict
    from inq_layer.options import QuantOptions
    w = np.array([[0.5, -0.25, 0, 0.125], [0, 0, 0.5, -0.5]], np.float32)
    other = w.copy()
    other[1, 3] = 0.25
    b = np.zeros(2, np.float32)
    layers = {"a": ("shared_w", "a_b"), "b": ("shared_w", "b_b")}
    model, weights = pb2_files(tmp_path, layers, {"a": [w, b], "b": [w, b]})
    rows = check_model(model, weights, QuantOptions(bits=5))
    assert [(r.layer, r.index, r.count, r.zeros, r.violations) for r in rows] == [("a", 0, 8, 3, 0)]
    assert passed(rows)
    model, weights = pb2_files(tmp_path, layers, {"a": [w, b], "b": [other, b]})
    rows = check_model(model, weights, QuantOptions(bits=5))
    assert [(r.layer, r.violations) for r in rows] == [("a", 1)] and not passed(rows)
    assert verdict(rows) == "check FAILED: 1 blobs, 1 violations, sparsity 37.50% (3 of 8 weights are 0)"
    off = w.copy()
    off[0, 0] = 0.3  # off the grid in the blob itself, and a copy that differs elsewhere: both count
    other[0, 0] = 0.3
    model, weights = pb2_files(tmp_path, layers, {"a": [off, b], "b": [other, b]})
    assert [(r.layer, r.violations) for r in check_model(model, weights, QuantOptions(bits=5))] == [("a", 2)]


def test_the_table_and_the_verdict_word_for_word():
    from inq_layer.deploy.check import BlobCheck, format_table, verdict
    rows = [BlobCheck("conv1", 0, 1200, 300, [-3, -2, -1], -1, -8, 0, None, 5),
            BlobCheck("ip1", 0, 10, 0, [], None, None, 2, float("nan"), 3)]
    assert format_table(rows).splitlines() == [
        "layer                      count      zeros sparsity bits    n1    n2 exponents violations",
        "conv1                      1,200        300   25.00%    5    -1    -8         3          0",
        "ip1                           10          0    0.00%    3  None  None         0          2"
        "  first bad value nan",
    ]
    assert verdict(rows) == "check FAILED: 2 blobs, 2 violations, sparsity 24.79% (300 of 1,210 weights are 0)"
    assert verdict(rows[:1]) == "check passed: 1 blobs, 0 violations, sparsity 25.00% (300 of 1,200 weights are 0)"
    assert verdict([]) == "check passed: 0 blobs, 0 violations, sparsity 0.00% (0 of 0 weights are 0)"
    one = [BlobCheck("b", 0, 1, 1, [], None, None, 0, None, 5)]
    assert verdict(one) == "check passed: 1 blobs, 0 violations, sparsity 100.00% (1 of 1 weights are 0)"
    assert "100.00%" in format_table(one)


def test_a_net_without_quantizable_layers_is_refused_by_name(tmp_path):
    import pytest
    from inq_layer.deploy.check import check_model
    from inq_layer.errors import InqError
    from inq_layer.options import QuantOptions
    model, weights = pb2_files(tmp_path, {}, {"other": [np.ones(2, np.float32)]})
    with pytest.raises(InqError) as e:
        check_model(model, weights, QuantOptions(bits=5))
    assert str(e.value) == f"{weights}: no quantizable layer of {model} has weights in it"


def test_non_ascii_names_on_an_ascii_terminal_are_escaped_not_fatal(tmp_path):
    """PYTHONIOENCODING=ascii: the table and the error line show a layer named côté as
    c\\xf4t\\xe9; the command does its work and exits as it would anywhere."""
    env = {**os.environ, "PYTHONIOENCODING": "ascii"}
    w = [np.full((2, 4), 0.5, np.float32), np.zeros(2, np.float32)]
    model, weights = pb2_files(tmp_path, {"côté": ()}, {"côté": w})
    r = run_tool("check", "--model", model, "--weights", weights, "--bits", "5", check=False, env=env)
    assert r.returncode == 0 and "c\\xf4t\\xe9" in r.stdout and "check passed" in r.stdout, r.stderr
    model, weights = pb2_files(tmp_path, {"côté": (), "ünter": ()}, {"côté": w})
    r = run_tool("check", "--model", model, "--weights", weights, "--bits", "5", check=False, env=env)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.startswith("error: ") and "layer '\\xfcnter'" in r.stderr and len(r.stderr.splitlines()) == 1


def test_the_phase_given_keeps_the_layers_of_that_net_only(tmp_path):
    """A TEST-only layer with no weights in the caffemodel: the campaign's check (phase
    TRAIN) passes; a check of the whole prototxt names it."""
    import pytest
    from caffe.proto import caffe_pb2
    from google.protobuf import text_format
    from inq_layer.deploy.check import check_model
    from inq_layer.errors import InqError
    from inq_layer.options import QuantOptions
    w = [np.full((2, 4), 0.5, np.float32), np.zeros(2, np.float32)]
    model, weights = pb2_files(tmp_path, {"a": (), "aux": ()}, {"a": w})
    net = text_format.Parse(open(model).read(), caffe_pb2.NetParameter())
    net.layer[2].include.add(phase=caffe_pb2.TEST)
    open(model, "w").write(text_format.MessageToString(net))
    assert [r.layer for r in check_model(model, weights, QuantOptions(bits=5), phase=caffe_pb2.TRAIN)] == ["a"]
    with pytest.raises(InqError, match="has no weights for layer 'aux'"):
        check_model(model, weights, QuantOptions(bits=5))


def test_a_data_layer_without_a_batch_is_refused_and_a_build_that_never_ends_is_stopped(tmp_path, monkeypatch):
    """Caffe's Data layer with batch_size 0 (its default) waits forever for its first batch:
    inq-check refuses it by name; and a child still building a net after BUILD_TIMEOUT is
    stopped with one line rather than waited for."""
    from caffe_nets import read_from_lmdb
    from driver_util import assert_clean_error
    from inq_layer.caffe_edge import probe
    from inq_layer.errors import InqError
    _, w = _save_net(tmp_path, lambda net: None)
    model = read_from_lmdb(str(tmp_path), 'source: "{db}" backend: LMDB')
    assert_clean_error(run_tool("check", "--model", model, "--weights", w, check=False),
                       f"{model}: layer 'data' has batch_size 0 (data_param; 0 when not given); give it at least 1")
    monkeypatch.setattr(probe, "BUILD_TIMEOUT", 5)
    with pytest.raises(InqError) as e:
        probe.try_net(model, "net.prototxt")
    assert str(e.value) == ("net.prototxt: Caffe cannot build this net: Caffe was still building it after 5 s "
                            "(a data layer waiting for data?)")
    assert probe.param_shapes(model) is None
