"""net/act_placement.py: where the quantizers go (after the ReLU, after a residual sum and
its ReLU, on the data, before max pooling), one per value, never in place; the deploy net."""
import pytest
from google.protobuf import text_format

from inq_layer.caffe_edge.caffe_io import pb2
from inq_layer.errors import InqError
from inq_layer.net import act_placement as ap


def net_of(text: str):
    return text_format.Parse(text, pb2().NetParameter())


def layer(name, type_, bottoms, tops, extra=""):
    b = " ".join(f'bottom: "{x}"' for x in bottoms)
    t = " ".join(f'top: "{x}"' for x in tops)
    return f'layer {{ name: "{name}" type: "{type_}" {b} {t} {extra} }}\n'


DATA = (layer("train", "Data", [], ["data", "label"], "include { phase: TRAIN }")
        + layer("test", "Data", [], ["data", "label"], "include { phase: TEST }"))
LOSS = layer("loss", "SoftmaxWithLoss", ["ip", "label"], ["loss"]) + \
    layer("acc", "Accuracy", ["ip", "label"], ["accuracy"], "include { phase: TEST }")


def reads(net):
    return {ly.name: list(ly.bottom) for ly in net.layer}


def test_quantizers_go_after_the_relu_and_before_max_pooling():
    net = net_of(DATA + layer("conv1", "Convolution", ["data"], ["conv1"])
                 + layer("relu1", "ReLU", ["conv1"], ["conv1"])
                 + layer("pool1", "Pooling", ["conv1"], ["pool1"], "pooling_param { pool: MAX }")
                 + layer("drop", "Dropout", ["pool1"], ["pool1"])
                 + layer("ip", "InnerProduct", ["pool1"], ["ip"]) + LOSS)
    qs = ap.add_quantizers(net, 8)
    assert [(q.name, q.bottom) for q in qs] == [("data_q", "data"), ("conv1_q", "conv1")]
    names = [ly.name for ly in net.layer]
    assert names.index("data_q") == 2 and names.index("conv1_q") == names.index("relu1") + 1
    r = reads(net)
    assert r["conv1"] == ["data_q"] and r["pool1"] == ["conv1_q"] and r["ip"] == ["pool1"]
    assert all(not ly.include for ly in net.layer if ly.name.endswith("_q"))  # both phases read them
    assert ap.add_quantizers(net, 8) == qs  # a second rewrite finds them in place


def test_residual_block_gets_one_quantizer_after_the_sum_and_its_relu():
    net = net_of(layer("in", "Input", [], ["data"], "input_param { shape { dim: 1 dim: 2 dim: 4 dim: 4 } }")
                 + layer("conv1", "Convolution", ["data"], ["c1"])
                 + layer("r1", "ReLU", ["c1"], ["c1"])
                 + layer("conv2", "Convolution", ["c1"], ["c2"])
                 + layer("bn2", "BatchNorm", ["c2"], ["c2"])
                 + layer("sum", "Eltwise", ["c1", "c2"], ["s"])
                 + layer("r2", "ReLU", ["s"], ["s"])
                 + layer("conv3", "Convolution", ["s"], ["c3"])
                 + layer("pool", "Pooling", ["s"], ["p"], "pooling_param { pool: AVE }"))
    qs = ap.add_quantizers(net, 4)
    assert [(q.name, q.bottom) for q in qs] == [("data_q", "data"), ("c1_q", "c1"), ("s_q", "s")]
    r = reads(net)
    assert r["conv2"] == ["c1_q"] and r["sum"] == ["c1_q", "c2"]  # the shortcut carries the quantized value
    assert r["conv3"] == ["s_q"] and r["pool"] == ["s_q"]
    names = [ly.name for ly in net.layer]
    assert names.index("s_q") == names.index("r2") + 1


def test_a_quantizer_in_place_gets_a_top_of_its_own():
    q = ('python_param { module: "inq_layer.net.fixed_point_layer" layer: "FixedPoint" '
         'param_str: "{\\"bits\\": 8}" }')
    net = net_of(layer("in", "Input", [], ["data"], "input_param { shape { dim: 1 dim: 4 } }")
                 + layer("q", "Python", ["data"], ["data"], q) + layer("ip", "InnerProduct", ["data"], ["ip"]))
    qs = ap.add_quantizers(net, 8)
    assert [(x.name, x.bottom) for x in qs] == [("q", "data")]
    assert list(net.layer[1].top) == ["data_q"] and reads(net)["ip"] == ["data_q"]


def test_a_phase_only_consumer_gets_a_phase_only_quantizer():
    net = net_of(DATA + layer("ip", "InnerProduct", ["data"], ["ip"]) + LOSS
                 + layer("branch", "ReLU", ["ip"], ["a"], "include { phase: TEST }")
                 + layer("aux", "InnerProduct", ["a"], ["aux"], "include { phase: TEST }")
                 + layer("branch2", "ReLU", ["ip"], ["b"], "include { phase: TRAIN }")
                 + layer("aux2", "InnerProduct", ["b"], ["aux2"], "include { phase: TRAIN }"))
    ap.add_quantizers(net, 8)
    assert not next(ly for ly in net.layer if ly.name == "data_q").include
    for name, phase in (("a_q", ap.TEST), ("b_q", ap.TRAIN)):
        q = next(ly for ly in net.layer if ly.name == name)
        assert [r.phase for r in q.include] == [phase]


def test_names_never_collide():
    net = net_of(layer("in", "Input", [], ["data"], "input_param { shape { dim: 1 dim: 4 } }")
                 + layer("data_q", "ReLU", ["data"], ["x"]) + layer("ip", "InnerProduct", ["data"], ["ip"]))
    assert [q.name for q in ap.add_quantizers(net, 8)] == ["data_q2"]
    net = net_of(layer("in", "Input", [], ["data"], "input_param { shape { dim: 1 dim: 4 } }")
                 + layer("data_q", "ReLU", ["data"], ["data_q2"]) + layer("ip", "InnerProduct", ["data"], ["ip"]))
    assert [q.name for q in ap.add_quantizers(net, 8)] == ["data_q3"]  # a layer's name and a blob's taken


def test_what_cannot_get_a_quantizer_is_said_in_one_line():
    with pytest.raises(InqError) as e:
        ap.add_quantizers(net_of(layer("in", "Input", [], ["data"], "input_param { shape { dim: 1 } }")
                                 + layer("r", "ReLU", ["data"], ["r"])), 8)
    assert str(e.value) == ("the net has no quantizable layer (Convolution, Deconvolution, InnerProduct): there is "
                            "nothing to quantize activations for")
    for late in ("", layer("later", "ReLU", ["ip"], ["nowhere"])):  # made only after it: not its input
        with pytest.raises(InqError) as e:
            ap.add_quantizers(net_of(layer("ip", "InnerProduct", ["nowhere"], ["ip"]) + late), 8)
        assert str(e.value) == ("layer 'ip' reads blob 'nowhere', which no layer before it produces: it cannot "
                                "get an activation quantizer")
    with pytest.raises(InqError) as e:
        ap.add_quantizers(net_of('input: "data" input_dim: 1 input_dim: 4\n' + layer("ip", "InnerProduct",
                                                                                   ["data"], ["ip"])), 8)
    assert str(e.value) == "the net declares its inputs with the legacy `input:` fields: use an Input layer"


def test_deploy_net_has_inputs_no_loss_and_the_same_blob_names():
    net = net_of(DATA.replace('top: "label"', 'top: "label" transform_param { scale: 0.5 }')
                 + layer("ip", "InnerProduct", ["data"], ["ip"]) + LOSS)
    ap.add_quantizers(net, 8)
    ap.set_quantizers(net, {"data_q": (8, 4, False)})
    d = ap.deploy_net(net, {"data": (64, 3, 5, 5), "ip": (64, 10)})
    assert [(ly.name, ly.type) for ly in d.layer] == [("data", "Input"), ("data_q", "Python"),
                                                      ("ip", "InnerProduct"), ("prob", "Softmax")]
    assert list(d.layer[0].input_param.shape[0].dim) == [1, 3, 5, 5]
    assert d.layer[0].transform_param.scale == 0.5
    assert '"f": 4' in d.layer[1].python_param.param_str and list(d.layer[3].bottom) == ["ip"]


def test_deploy_net_of_a_net_with_auxiliary_classifiers_builds(tmp_path):
    """GoogLeNet's three losses: one Softmax each, the last one's output "prob", the
    others named after their loss, a name already taken skipped; Caffe builds it."""
    import caffe
    net = net_of(layer("d", "DummyData", [], ["data", "label"], "dummy_data_param { shape { dim: 2 dim: 3 } "
                                                                  "shape { dim: 2 } }")
                 + layer("ip1", "InnerProduct", ["data"], ["ip1"], "inner_product_param { num_output: 4 }")
                 + layer("loss1", "SoftmaxWithLoss", ["ip1", "label"], ["loss1"])
                 + layer("acc1", "Accuracy", ["ip1", "label"], ["acc1"])
                 + layer("loss1_prob", "ReLU", ["ip1"], ["r"])
                 + layer("ip2", "InnerProduct", ["r"], ["ip2"], "inner_product_param { num_output: 4 }")
                 + layer("loss2", "SoftmaxWithLoss", ["ip2", "label"], ["loss2"])
                 + layer("near", "EuclideanLoss", ["ip1", "ip2"], ["near"]))  # a loss of blobs that stay
    d = ap.deploy_net(net, {"data": (2, 3)})
    assert [ly.name for ly in d.layer] == ["data", "ip1", "loss1_prob2", "loss1_prob", "ip2", "prob"]
    assert [(ly.name, list(ly.bottom), list(ly.top)) for ly in d.layer if ly.type == "Softmax"] == [
        ("loss1_prob2", ["ip1"], ["loss1_prob2"]), ("prob", ["ip2"], ["prob"])]
    path = tmp_path / "deploy.prototxt"
    path.write_text(str(d))
    assert list(caffe.Net(str(path), caffe.TEST).outputs) == ["loss1_prob2", "prob"]


INPUT = layer("in", "Input", [], ["data"], "input_param { shape { dim: 1 dim: 2 dim: 4 dim: 4 } }")


@pytest.mark.parametrize("type_, extra", [("Dropout", ""), ("Flatten", ""), ("Reshape", ""),
                                          ("Pooling", "pooling_param { pool: MAX }")])
def test_a_layer_that_keeps_values_on_the_grid_needs_no_second_quantizer(type_, extra):
    for top in ("k", "c1"):  # its own top, or in place
        net = net_of(INPUT + layer("conv1", "Convolution", ["data"], ["c1"]) + layer("r1", "ReLU", ["c1"], ["c1"])
                     + layer("keep", type_, ["c1"], [top], extra) + layer("ip", "InnerProduct", [top], ["ip"]))
        assert [(q.name, q.bottom) for q in ap.add_quantizers(net, 8)] == [("data_q", "data"), ("c1_q", "c1")]
        r = reads(net)
        assert r["keep"] == ["c1_q"] and r["ip"] == ["c1_q" if top == "c1" else "k"]


@pytest.mark.parametrize("type_, extra", [("Pooling", "pooling_param { pool: AVE }"), ("LRN", ""),
                                          ("Pooling", "pooling_param { pool: STOCHASTIC }"), ("ReLU", "")])
def test_a_layer_that_computes_new_values_gets_a_quantizer_after_it(type_, extra):
    net = net_of(INPUT + layer("conv1", "Convolution", ["data"], ["c1"])
                 + layer("other", type_, ["c1"], ["o"], extra) + layer("ip", "InnerProduct", ["o"], ["ip"]))
    assert [(q.name, q.bottom) for q in ap.add_quantizers(net, 8)] == [("data_q", "data"), ("o_q", "o")]
    assert reads(net)["ip"] == ["o_q"] and reads(net)["other"] == ["c1"]


@pytest.mark.parametrize("type_", ["Data", "ImageData", "HDF5Data", "MemoryData", "DummyData", "WindowData",
                                   "Input", "AnnotatedData"])
def test_every_kind_of_data_layer_becomes_an_input(type_):
    net = net_of(layer("d", type_, [], ["data", "label"]) + layer("ip", "InnerProduct", ["data"], ["ip"]) + LOSS)
    d = ap.deploy_net(net, {"data": (8, 3, 2, 2)})
    assert [(ly.name, ly.type, list(ly.top)) for ly in d.layer] == [
        ("data", "Input", ["data"]), ("ip", "InnerProduct", ["ip"]), ("prob", "Softmax", ["prob"])]


def test_a_quantizer_found_is_a_fixed_value():
    import dataclasses
    q = ap.Quantizer("data_q", "data")
    assert q == ap.Quantizer("data_q", "data") and len({q, ap.Quantizer("data_q", "data")}) == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        q.bottom = "other"


def test_a_users_own_python_layer_is_not_a_quantizer():
    own = 'python_param { module: "my_layers" layer: "FixedPoint" }'
    other_layer = 'python_param { module: "inq_layer.net.fixed_point_layer" layer: "Other" }'
    net = net_of(INPUT + layer("mine", "Python", ["data"], ["m"], own) + layer("other", "Python", ["m"], ["o"],
                                                                                other_layer)
                 + layer("ip", "InnerProduct", ["o"], ["ip"]))
    assert [(q.name, q.bottom) for q in ap.add_quantizers(net, 8)] == [("o_q", "o")]
    assert [ly.name for ly in ap.without_quantizers(net).layer] == ["in", "mine", "other", "ip"]
    ap.set_quantizers(net, {"o_q": (8, 2, False), "mine": (8, 1, False)})
    assert [(name, top) for name, top, _ in ap.calibrated(net, "n")] == [("o_q", "o_q")]
    assert next(ly for ly in net.layer if ly.name == "mine").python_param.param_str == ""


def test_what_cannot_be_deployed_or_is_not_calibrated_is_said_in_one_line():
    for net, shapes, msg in (
            (layer("in", "Input", [], ["data"]) + layer("ip", "InnerProduct", ["x"], ["ip"]), {},
             "the net has no data layer whose output the net reads: cannot make its deploy version"),
            (DATA + layer("ip", "InnerProduct", ["data"], ["ip"]), {}, "no shape known for the data blob 'data'")):
        with pytest.raises(InqError) as e:
            ap.deploy_net(net_of(net), shapes)
        assert str(e.value) == msg
    net = net_of(INPUT + layer("ip", "InnerProduct", ["data"], ["ip"]))
    ap.add_quantizers(net, 8)
    with pytest.raises(InqError) as e:
        ap.calibrated(net, "n.prototxt")
    assert str(e.value) == "n.prototxt: quantizer 'data_q' is not calibrated (its param_str has no f)"
    net.layer[1].python_param.param_str = '{"bits": 99}'
    with pytest.raises(InqError) as e:
        ap.calibrated(net, "n.prototxt")
    assert str(e.value) == "n.prototxt: quantizer 'data_q': activation bits must be an integer in 2..16, got 99"
