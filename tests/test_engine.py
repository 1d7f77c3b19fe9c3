"""deploy/engine.py against Caffe: the same deploy net with power-of-two weights and
calibrated quantizers, run by Caffe in float32 and by the engine in integers. Where Caffe's
float sums are exact (no BatchNorm) every quantizer output is the same integer and the
logits agree to float32 rounding; with BatchNorm, Scale, average pooling and a residual
sum, the integers differ only at float32 ties, by one step."""
import numpy as np
import pytest
from google.protobuf import text_format

from inq_layer.caffe_edge.caffe_io import pb2
from inq_layer.deploy.engine import Engine, float_lrn

Q = ('type: "Python" python_param {{ module: "inq_layer.net.fixed_point_layer" layer: "FixedPoint" '
     "param_str: '{{\"bits\": {b}, \"f\": {f}, \"signed\": {s}}}' }}")


def q(name, bottom, b, f, signed=False):
    return (f'layer {{ name: "{name}" bottom: "{bottom}" top: "{name}" '
            + Q.format(b=b, f=f, s="true" if signed else "false") + " }\n")


PLAIN = ('layer { name: "in" type: "Input" top: "data" input_param { shape { dim: 4 dim: 4 dim: 11 dim: 10 } } }\n'
         + q("data_q", "data", 8, 5, True)
         + 'layer { name: "conv1" type: "Convolution" bottom: "data_q" top: "conv1" convolution_param { '
           'num_output: 6 kernel_size: 3 stride: 2 pad: 1 group: 2 } }\n'
         'layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }\n'
         + q("conv1_q", "conv1", 6, 3)
         + 'layer { name: "pool1" type: "Pooling" bottom: "conv1_q" top: "pool1" pooling_param { pool: MAX '
           'kernel_size: 3 stride: 2 pad: 1 } }\n'
         'layer { name: "conv2" type: "Convolution" bottom: "pool1" top: "conv2" convolution_param { '
         'num_output: 5 kernel_size: 2 dilation: 2 pad: 1 } }\n'
         + q("conv2_q", "conv2", 4, 1, True)
         + 'layer { name: "ip" type: "InnerProduct" bottom: "conv2_q" top: "ip" inner_product_param { '
           'num_output: 7 } }\n'
         'layer { name: "prob" type: "Softmax" bottom: "ip" top: "prob" }\n')

RESIDUAL = ('layer { name: "in" type: "Input" top: "data" input_param { shape { dim: 8 dim: 3 dim: 8 dim: 8 } } }\n'
            + q("data_q", "data", 8, 4, True)
            + 'layer { name: "c1" type: "Convolution" bottom: "data_q" top: "c1" convolution_param { '
              'num_output: 4 kernel_size: 3 pad: 1 bias_term: false } }\n'
            'layer { name: "bn1" type: "BatchNorm" bottom: "c1" top: "c1" }\n'
            'layer { name: "sc1" type: "Scale" bottom: "c1" top: "c1" scale_param { bias_term: true } }\n'
            'layer { name: "r1" type: "ReLU" bottom: "c1" top: "c1" }\n'
            + q("c1_q", "c1", 8, 4)
            + 'layer { name: "c2" type: "Convolution" bottom: "c1_q" top: "c2" convolution_param { '
              'num_output: 4 kernel_size: 3 pad: 1 } }\n'
            'layer { name: "sum" type: "Eltwise" bottom: "c1_q" bottom: "c2" top: "s" }\n'
            'layer { name: "r2" type: "ReLU" bottom: "s" top: "s" }\n'
            + q("s_q", "s", 8, 3)
            + 'layer { name: "gap" type: "Pooling" bottom: "s_q" top: "gap" pooling_param { pool: AVE '
              'global_pooling: true } }\n'
            + q("gap_q", "gap", 8, 5)
            + 'layer { name: "ip" type: "InnerProduct" bottom: "gap_q" top: "ip" inner_product_param { '
              'num_output: 5 } }\n')


# Negative f (a step of 2) and saturation at both ends on the input; AVE pooling over 2x2
# windows (exact in float32), MAX pooling whose last window Caffe's ceil leaves short, an
# Eltwise sum and a Concat of blobs at different f, Dropout, Reshape and Flatten.
LAYERS = ('layer { name: "in" type: "Input" top: "data" input_param { shape { dim: 3 dim: 2 dim: 10 dim: 8 } } }\n'
          + q("data_q", "data", 6, -1, True)
          + 'layer { name: "a" type: "Convolution" bottom: "data_q" top: "a" convolution_param { '
            'num_output: 4 kernel_size: 3 group: 2 } }\n'
          + q("a_q", "a", 8, 0, True)
          + 'layer { name: "ave" type: "Pooling" bottom: "a_q" top: "ave" pooling_param { pool: AVE '
            'kernel_size: 2 stride: 2 } }\n'
          + q("ave_q", "ave", 8, 2, True)
          + 'layer { name: "b" type: "Convolution" bottom: "a_q" top: "b" convolution_param { '
            'num_output: 4 kernel_size: 1 } }\n'
            'layer { name: "sum" type: "Eltwise" bottom: "a_q" bottom: "b" top: "sum" }\n'
          + q("sum_q", "sum", 5, 1, True)
          + 'layer { name: "mx" type: "Pooling" bottom: "sum_q" top: "mx" pooling_param { pool: MAX '
            'kernel_size: 3 stride: 2 } }\n'
            'layer { name: "cat" type: "Concat" bottom: "mx" bottom: "ave_q" top: "cat" }\n'
            'layer { name: "drop" type: "Dropout" bottom: "cat" top: "cat" }\n'
            'layer { name: "rs" type: "Reshape" bottom: "cat" top: "rs" reshape_param { shape { dim: 0 dim: 4 '
            'dim: -1 } } }\n'
            'layer { name: "fl" type: "Flatten" bottom: "rs" top: "fl" }\n'
            'layer { name: "ip" type: "InnerProduct" bottom: "fl" top: "ip" inner_product_param { '
            'num_output: 6 } }\n'
          + q("ip_q", "ip", 10, 3, True))


def build(tmp_path, text, seed=0):
    """The Caffe net with power-of-two weights (exponents -7..-1, a third at 0), float
    biases and BatchNorm statistics; its weights as the engine takes them."""
    import caffe
    caffe.set_mode_cpu()
    path = tmp_path / "deploy.prototxt"
    path.write_text('name: "t"\n' + text)
    net = caffe.Net(str(path), caffe.TEST)
    rng = np.random.default_rng(seed)
    for name, blobs in net.params.items():
        kind = net.layers[list(net._layer_names).index(name)].type
        if kind in ("Convolution", "InnerProduct"):
            w = blobs[0].data
            w[...] = rng.choice([-1, 0, 1], w.shape, p=[0.35, 0.3, 0.35]) * 2.0 ** rng.integers(-7, 0, w.shape)
            if len(blobs) > 1:  # multiples of 2^-6: exact at every accumulator scale here
                blobs[1].data[...] = np.round(rng.normal(0, 0.3, blobs[1].data.shape) * 64) / 64
        elif kind == "BatchNorm":
            blobs[0].data[...] = rng.normal(0, 0.5, blobs[0].data.shape) * 2
            blobs[1].data[...] = rng.uniform(0.5, 2, blobs[1].data.shape) * 2
            blobs[2].data[...] = 2
        elif kind == "Scale":
            blobs[0].data[...] = rng.uniform(0.5, 1.5, blobs[0].data.shape)
            blobs[1].data[...] = rng.normal(0, 0.2, blobs[1].data.shape)
    weights = {name: [b.data.copy() for b in blobs] for name, blobs in net.params.items()}
    return net, text_format.Parse('name: "t"\n' + text, pb2().NetParameter()), weights


def quantizers(param):
    return [ly.name for ly in param.layer if ly.type == "Python"]


def test_where_caffes_sums_are_exact_every_quantizer_gives_the_same_integers(tmp_path):
    net, param, weights = build(tmp_path, PLAIN)
    x = np.random.default_rng(1).normal(0, 1.5, net.blobs["data"].data.shape).astype(np.float32)
    net.blobs["data"].data[...] = x
    net.forward()
    eng = Engine(param, weights)
    got = eng.run({"data": x})
    for name in quantizers(param):
        v = got[name]
        assert np.array_equal(v.q * 2.0 ** -v.f, net.blobs[name].data), name
    ip = got["ip"].exact()
    logits = ip.q * 2.0 ** -ip.f
    assert np.allclose(logits, net.blobs["ip"].data, rtol=2**-22, atol=2**-22 * np.abs(logits).max())
    assert (logits.argmax(1) == net.blobs["prob"].data.argmax(1)).all()
    assert eng.counts.shift_adds > 0 and eng.counts.multiplies == 0 and eng.counts.int64_layers == []


def test_every_integer_layer_type_gives_caffes_integers_where_its_sums_are_exact(tmp_path):
    net, param, weights = build(tmp_path, LAYERS, seed=4)
    x = np.random.default_rng(7).normal(0, 40, net.blobs["data"].data.shape).astype(np.float32)
    net.blobs["data"].data[...] = x
    net.forward()
    got = Engine(param, weights).run({"data": x})
    for name in quantizers(param) + ["mx", "cat", "rs", "fl"]:
        v = got[name].exact()
        assert v.q.shape == net.blobs[name].data.shape, name
        assert np.array_equal(v.q * 2.0 ** -v.f, net.blobs[name].data), name
    d = got["data_q"].q
    assert d.min() == -32 and d.max() == 31  # both ends saturate at a step of 2
    assert got["sum_q"].q.min() == -16 and got["sum_q"].q.max() == 15


@pytest.mark.parametrize("region", ["", " norm_region: WITHIN_CHANNEL"])
def test_lrn_runs_in_float_only_when_asked_and_is_named(tmp_path, region):
    text = (PLAIN.replace('bottom: "conv1_q" top: "pool1"', 'bottom: "n1" top: "pool1"')
            .replace(q("conv1_q", "conv1", 6, 3), 'layer { name: "norm1" type: "LRN" bottom: "conv1" top: "n1" '
                     'lrn_param { local_size: 3 alpha: 0.5 beta: 0.75' + region + ' } }\n' + q("conv1_q", "n1", 6, 3)))
    text = text.replace('bottom: "n1" top: "pool1"', 'bottom: "conv1_q" top: "pool1"')
    net, param, weights = build(tmp_path, text)
    x = np.random.default_rng(1).normal(0, 1.5, net.blobs["data"].data.shape).astype(np.float32)
    with pytest.raises(ValueError, match="layer 'norm1' \\(LRN\\) is not integer.*--float-layers LRN"):
        Engine(param, weights).run({"data": x})
    net.blobs["data"].data[...] = x
    net.forward()
    eng = Engine(param, weights, ("LRN",))
    got = eng.run({"data": x})
    assert eng.counts.float_layers == ["norm1"]
    lrn = float_lrn(next(ly for ly in param.layer if ly.name == "norm1"), got["conv1"])
    assert np.allclose(lrn, net.blobs["n1"].data, rtol=1e-5, atol=1e-6)
    v = got["conv1_q"]
    diff = np.abs(v.q - np.round(net.blobs["conv1_q"].data * 2.0 ** v.f))
    assert diff.max() <= 1 and (diff == 0).mean() > 0.99


# The average of the residual sum itself (as ResNet-8's deploy net has it): a folded
# BatchNorm's wide integers, aligned, then summed over the window.
WIDE_AVERAGE = (RESIDUAL.replace(q("s_q", "s", 8, 3), "").replace('bottom: "s_q" top: "gap"', 'bottom: "s" top: "gap"')
                .replace('layer { name: "sum"', 'layer { name: "bn2" type: "BatchNorm" bottom: "c2" top: "c2" }\n'
                         'layer { name: "sc2" type: "Scale" bottom: "c2" top: "c2" scale_param { bias_term: true } }\n'
                         'layer { name: "sum"'))


@pytest.mark.parametrize("text", [RESIDUAL, WIDE_AVERAGE], ids=["quantized_average", "wide_average"])
def test_batchnorm_scale_average_and_a_residual_sum_differ_only_at_ties(tmp_path, text):
    net, param, weights = build(tmp_path, text, seed=3)
    x = np.random.default_rng(2).normal(0, 1, net.blobs["data"].data.shape).astype(np.float32)
    net.blobs["data"].data[...] = x
    net.forward()
    got = Engine(param, weights).run({"data": x})
    total = same = 0
    for name in quantizers(param):
        v = got[name]
        eng, caffe_q = v.q, np.round(net.blobs[name].data.astype(np.float64) * 2.0 ** v.f)
        assert np.abs(eng - caffe_q).max() <= 1, name
        total, same = total + eng.size, same + int((eng == caffe_q).sum())
    assert same / total >= 0.999, (same, total)


def test_layers_the_engine_does_not_run_are_named(tmp_path):
    text = PLAIN.replace('type: "ReLU"', 'type: "TanH"')
    net, param, weights = build(tmp_path, text)
    with pytest.raises(ValueError, match="layer 'relu1' has type 'TanH'"):
        Engine(param, weights).run({"data": np.zeros(net.blobs["data"].data.shape, np.float32)})
    weights["conv1"][0].reshape(-1)[0] = 0.3
    with pytest.raises(ValueError, match="layer 'conv1': weight 0.3.* is not 0 or \\+-2\\^e"):
        Engine(param, weights).run({"data": np.zeros(net.blobs["data"].data.shape, np.float32)})


def test_ties_round_half_up_as_the_quantizer_layer_does(tmp_path):
    """Weights +-1/2 on integer steps: half the sums land exactly between two steps; a ReLU
    before a signed quantizer."""
    text = ('layer { name: "in" type: "Input" top: "data" input_param { shape { dim: 2 dim: 3 dim: 4 dim: 4 } } }\n'
            + q("data_q", "data", 8, 2, True)
            + 'layer { name: "c" type: "Convolution" bottom: "data_q" top: "c" convolution_param { '
              'num_output: 4 kernel_size: 1 bias_term: false } }\n'
            + q("c_q", "c", 8, 2, True)
            + 'layer { name: "r" type: "ReLU" bottom: "c" top: "r" }\n'  # a signed quantizer keeps what it drops
            + q("r_q", "r", 8, 2, True))
    net, param, weights = build(tmp_path, text)
    w = net.params["c"][0].data
    w[...] = np.where(np.random.default_rng(5).random(w.shape) < 0.5, -0.5, 0.5)
    weights["c"][0][...] = w
    x = np.random.default_rng(6).integers(-40, 40, net.blobs["data"].data.shape) / 4.0
    net.blobs["data"].data[...] = x
    net.forward()
    got = Engine(param, weights).run({"data": x.astype(np.float32)})
    c = got["c"].exact()
    assert np.count_nonzero((c.q % 2) == 1) > c.q.size // 4  # many exact ties
    assert np.array_equal(got["c_q"].q * 0.25, net.blobs["c_q"].data)
    assert np.array_equal(got["r_q"].q * 0.25, net.blobs["r_q"].data) and got["r_q"].q.min() == 0


def test_a_bias_below_float32_precision_rounds_as_caffes_bias_add(tmp_path):
    """Sums k/4 plus a bias 1/8 - 2^-27: exactly, just below a quantizer's tie; in float32
    (24 bits) at |sum| >= 1, on it, and Caffe rounds it up. The engine rounds the bias
    add as float32 does, so it gives Caffe's integers, not the exact ones."""
    text = ('layer { name: "in" type: "Input" top: "data" input_param { shape { dim: 2 dim: 1 dim: 4 dim: 4 } } }\n'
            + q("data_q", "data", 8, 2, True)
            + 'layer { name: "c" type: "Convolution" bottom: "data_q" top: "c" convolution_param { '
              'num_output: 2 kernel_size: 1 } }\n'
            + q("c_q", "c", 8, 2, True))
    net, param, weights = build(tmp_path, text)
    net.params["c"][0].data[...] = 1.0
    net.params["c"][1].data[...] = np.float32(2.0 ** -3 - 2.0 ** -27)
    weights["c"] = [net.params["c"][0].data.copy(), net.params["c"][1].data.copy()]
    x = np.random.default_rng(3).integers(8, 100, net.blobs["data"].data.shape) / 4.0  # |sum| >= 2
    net.blobs["data"].data[...] = x
    net.forward()
    got = Engine(param, weights).run({"data": x.astype(np.float32)})
    assert np.array_equal(got["c_q"].q * 0.25, net.blobs["c_q"].data)
    assert (got["c_q"].q == x * 4 + 1).all()  # every one a tie Caffe rounded up


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A campaign with --act-bits 8 on the tiny LMDB net: (folder, its tmp, test database)."""
    from caffe_nets import lmdb_tiny
    from driver_util import run_driver
    tmp = tmp_path_factory.mktemp("trained")
    solver = lmdb_tiny(tmp, max_iter=20, snapshot=0)
    out = str(tmp / "o")
    run_driver("--solver", solver, "--init-from-fillers", "--campaign", "0.5,1", "--act-bits", "8", "--out", out)
    return out, tmp, str(tmp / "db_TEST")


def test_inq_infer_agrees_with_caffe_on_a_trained_campaign(trained, tmp_path):
    """`inq-infer` over the campaign's test database: every prediction is Caffe's on
    inq_deploy.prototxt, the dump holds every blob as integers with its f, and what it
    cannot run is one error line."""
    import json
    import os

    import caffe
    from driver_util import assert_clean_error, run_tool
    from inq_layer.deploy.infer import batches, load
    out, made, db = trained
    deploy, final = os.path.join(out, "inq_deploy.prototxt"), os.path.join(out, "final_inq.caffemodel")
    pred = tmp_path / "pred.txt"
    r = run_tool("infer", "--model", deploy, "--weights", final, "--data", db, "--predictions", str(pred),
                 "--dump", str(tmp_path / "dump"), "--images", "3", "--batch", "16")
    assert "top-1 accuracy" in r.stdout and "every accumulator proven to fit 32 bits" in r.stdout
    caffe.set_mode_cpu()
    net = caffe.Net(deploy, caffe.TEST)
    net.copy_from(final)
    want = []
    for x, _ in batches(load(deploy, final), db, 16):
        net.blobs["data"].reshape(*x.shape)
        net.blobs["data"].data[...] = x
        net.forward()
        want += net.blobs["ip1"].data.argmax(1).tolist()
    assert [int(v) for v in pred.read_text().split()] == want and len(want) == 64
    index = json.load(open(tmp_path / "dump" / "blobs.json"))
    assert {"data_q", "conv1_q", "ip1"} <= set(index)
    q = np.load(tmp_path / "dump" / index["conv1_q"]["file"])
    assert q.shape[0] == 3 and q.dtype == np.int64 and q.min() >= 0 and q.max() <= 255
    mine = tmp_path / "mine"  # a folder of the user's files is no --dump folder
    mine.mkdir()
    (mine / "conv1_q.npy").write_text("my file")
    assert_clean_error(run_tool("infer", "--model", deploy, "--weights", final, "--data", db, "--dump", str(mine),
                                check=False), f"--dump {mine}: holds files of no dump")
    assert (mine / "conv1_q.npy").read_text() == "my file"
    run_tool("infer", "--model", deploy, "--weights", final, "--data", db, "--dump", str(tmp_path / "dump"))
    inq = str(tmp_path / "model.inq")  # format 4: the weights and the quantizers in one file
    run_tool("export", "--model", deploy, "--weights", final, "--bits", "5", "--out", inq)
    pred_inq = tmp_path / "pred_inq.txt"
    run_tool("infer", "--model", deploy, "--inq", inq, "--data", db, "--predictions", str(pred_inq))
    assert pred_inq.read_text() == pred.read_text()
    other = tmp_path / "other.prototxt"
    other.write_text(open(deploy).read().replace('\\"bits\\": 8', '\\"bits\\": 7', 1))
    assert_clean_error(run_tool("infer", "--model", str(other), "--inq", inq, "--data", db, check=False),
                       "does not match", "quantizers data_q differ")
    from inq_layer.caffe_edge.caffe_io import read_net, write_text_proto
    wider = read_net(deploy)  # every stated number alike, a larger input: ip1's fan-in differs
    dims = wider.layer[0].input_param.shape[0].dim
    dims[2], dims[3] = dims[2] + 2, dims[3] + 2
    write_text_proto(str(tmp_path / "wider.prototxt"), wider)
    for source in (["--inq", inq], ["--weights", final]):
        assert_clean_error(run_tool("infer", "--model", str(tmp_path / "wider.prototxt"), *source, "--data", db,
                                    check=False), "layer 'ip1' blob 0 has shape", "another input size")
    weight_only = str(tmp_path / "w.inq")  # exported from the net without quantizers
    run_tool("export", "--model", str(made / "net.prototxt"), "--weights", final, "--bits", "5",
             "--out", weight_only)
    assert_clean_error(run_tool("infer", "--model", deploy, "--inq", weight_only, "--data", db, check=False),
                       "holds no activation quantizers", "give --act-bits")
    bad = tmp_path / "bad.prototxt"
    bad.write_text(open(deploy).read().replace('type: "ReLU"', 'type: "TanH"'))
    assert_clean_error(run_tool("infer", "--model", str(bad), "--weights", final, "--data", db, check=False),
                       "has type 'TanH', which the integer engine does not run")


def test_a_weight_only_model_runs_with_act_bits_calibrated_at_inference(trained, tmp_path):
    """The campaign's model without its quantizers: `--act-bits 8` adds and calibrates them
    on the database, says so, writes the net it made (--save-model), which then runs to the
    same predictions; from a caffemodel or a weight-only .inq alike."""
    import os

    from caffe_nets import write_without_quantizers
    from driver_util import assert_clean_error, run_tool
    out, made, db = trained
    deploy, final = os.path.join(out, "inq_deploy.prototxt"), os.path.join(out, "final_inq.caffemodel")
    plain = write_without_quantizers(deploy, tmp_path / "plain.prototxt")
    saved, pred = tmp_path / "calibrated.prototxt", tmp_path / "pred.txt"
    r = run_tool("infer", "--model", plain, "--weights", final, "--data", db, "--act-bits", "8",
                 "--act-calibration", "max", "--calibration-images", "32", "--save-model", str(saved),
                 "--predictions", str(pred))
    assert "activations: 8 bits, calibrated now (max) on the first 32 images of" in r.stdout
    assert "the model was not trained with them (2 quantizers)" in r.stdout and "top-1 accuracy" in r.stdout
    again = tmp_path / "again.txt"
    run_tool("infer", "--model", str(saved), "--weights", final, "--data", db, "--predictions", str(again))
    assert again.read_text() == pred.read_text() and len(pred.read_text().split()) == 64
    inq = str(tmp_path / "w.inq")
    run_tool("export", "--model", plain, "--weights", final, "--bits", "5", "--out", inq)
    from_inq = tmp_path / "from_inq.txt"
    run_tool("infer", "--model", plain, "--inq", inq, "--data", db, "--act-bits", "8", "--act-calibration", "max",
             "--calibration-images", "32", "--predictions", str(from_inq))
    assert from_inq.read_text() == pred.read_text()
    for args, msg in [((deploy, "--weights", final, "--act-bits", "8"), "has activation quantizers already"),
                      ((plain, "--weights", final), "has no activation quantizers: a weight-only model runs with"),
                      ((plain, "--weights", final, "--save-model", str(saved)), "go with --act-bits"),
                      ((plain, "--weights", final, "--act-bits", "1"), "--act-bits: activation bits must be"),
                      ((plain, "--weights", final, "--act-bits", "8", "--calibration-images", "0"),
                       "--calibration-images must be at least 1")]:
        assert_clean_error(run_tool("infer", "--model", *args, "--data", db, check=False), msg)


def test_inq_infer_checks_every_output_before_the_engine_runs(trained, tmp_path):
    """A folder given as --predictions, the model as --save-model, a file as --dump, an
    output inside the database: one error line naming the option, before any inference;
    the paths are untouched."""
    import os

    from driver_util import assert_clean_error, run_tool
    out, _, db = trained
    deploy, final = os.path.join(out, "inq_deploy.prototxt"), os.path.join(out, "final_inq.caffemodel")
    model = open(deploy).read()
    mine = tmp_path / "mine.txt"
    mine.write_text("my file")
    for args, msg in [(("--predictions", str(tmp_path)), f"--predictions {tmp_path} is a directory; give a file"),
                      (("--predictions", os.path.join(db, "p.txt")), f"--predictions {db}/p.txt lies inside the "
                                                                       f"input folder {db}"),
                      (("--dump", str(mine)), f"--dump {mine} is a file; give a folder (nothing was changed)"),
                      (("--act-bits", "8", "--save-model", deploy), f"--save-model {deploy} is also an input")]:
        r = run_tool("infer", "--model", deploy, "--weights", final, "--data", db, *args, check=False)
        assert_clean_error(r, msg)
        assert "top-1" not in r.stdout
    assert mine.read_text() == "my file" and open(deploy).read() == model
    from inq_layer.datasets.datum_db import DatumWriter
    junk = DatumWriter(str(tmp_path / "junk_db"), "lmdb")  # a damaged record: named, not a traceback
    junk.put(b"00000000", b"\xff\xfe not a Datum")
    junk.close()
    assert_clean_error(run_tool("infer", "--model", deploy, "--weights", final, "--data", str(tmp_path / "junk_db"),
                                check=False), f"{tmp_path}/junk_db: record '00000000' is not a Caffe Datum")
