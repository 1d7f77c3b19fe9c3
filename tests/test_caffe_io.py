"""caffe_io: Caffe's files read with caffe_pb2 only, every problem one line."""
import numpy as np
import pytest

from inq_layer.caffe_edge import caffe_io
from inq_layer.errors import InqError


def test_prototxt_errors_carry_line_and_column(tmp_path):
    p = tmp_path / "net.prototxt"
    p.write_text('name: "n"\nlayer { name: "a" typo: 1 }\n')
    with pytest.raises(InqError, match=rf"^{p}:2:"):
        caffe_io.read_net(str(p))
    p.write_bytes(b"\x00\xff binary")
    with pytest.raises(InqError) as e:
        caffe_io.read_net(str(p))
    assert str(e.value) == f"{p}: not a text net prototxt (binary data)"
    with pytest.raises(InqError) as e:
        caffe_io.read_solver(str(p))
    assert str(e.value) == f"{p}: not a text solver prototxt (binary data)"


def test_a_caffemodel_must_hold_layers(tmp_path):
    p = tmp_path / "w.caffemodel"
    p.write_bytes(b"")
    with pytest.raises(InqError, match="not a caffemodel \\(no layers in it\\)"):
        caffe_io.read_caffemodel(str(p))
    p.write_bytes(b"\xff\xff\xff")
    with pytest.raises(InqError, match="not a valid caffemodel"):
        caffe_io.read_caffemodel(str(p))


NET = """name: "n"
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 2 } } }
layer { name: "a" type: "InnerProduct" bottom: "data" top: "a" param { name: "w" } param { name: "b" }
  inner_product_param { num_output: 2 } }
layer { name: "b" type: "InnerProduct" bottom: "a" top: "b" param { name: "w" } param { name: "b" }
  inner_product_param { num_output: 2 } }
layer { name: "c" type: "InnerProduct" bottom: "b" top: "c" inner_product_param { num_output: 2 bias_term: false } }
layer { name: "bn" type: "BatchNorm" bottom: "c" top: "c" }
layer { name: "s" type: "Scale" bottom: "c" top: "c" }
layer { name: "r" type: "ReLU" bottom: "c" top: "c" }
layer { name: "p" type: "Python" bottom: "c" top: "d" }
layer { name: "x" type: "SomeFork" bottom: "d" top: "e" }
"""


def test_shared_names_and_expected_blobs(tmp_path):
    p = tmp_path / "net.prototxt"
    p.write_text(NET)
    net = caffe_io.read_net(str(p))
    assert caffe_io.param_names(net) == {("a", 0): "w", ("a", 1): "b", ("b", 0): "w", ("b", 1): "b"}
    own, alias = caffe_io.shared_in_prototxt(net, [("a", 0), ("b", 0), ("c", 0)])
    assert own == [("a", 0), ("c", 0)] and alias == {("b", 0): ("a", 0)}
    blobs = {ly.name: caffe_io.expected_blobs(ly) for ly in caffe_io.model_layers(net)}
    # a Python layer may add blobs of its own, a fork's type is unknown: neither is checked
    assert blobs == {"data": 0, "a": 2, "b": 2, "c": 1, "bn": 3, "s": 1, "r": 0, "p": None, "x": None}


def test_an_hdf5_caffemodel_is_named_as_one(tmp_path):
    import pytest
    from inq_layer.caffe_edge.caffe_io import read_caffemodel
    from inq_layer.errors import InqError
    p = tmp_path / "w.caffemodel.h5"
    p.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
    with pytest.raises(InqError, match="an HDF5 caffemodel .* which this tool does not read"):
        read_caffemodel(str(p))


def _pb():
    from caffe.proto import caffe_pb2
    return caffe_pb2


def _blob(shape=None, legacy=None, n=None, double=False):
    b = _pb().BlobProto()
    if shape is not None:
        b.shape.dim.extend(shape)
    if legacy is not None:
        b.num, b.channels, b.height, b.width = legacy
    dims = shape if shape is not None else legacy or ()
    count = n if n is not None else int(np.prod(dims, dtype=np.int64))
    (b.double_data if double else b.data).extend(np.arange(count, dtype=np.float64) / 4)
    return b


def test_blob_shapes_and_arrays_new_legacy_and_double():
    assert caffe_io.blob_shape(_blob([2, 3])) == (2, 3)
    assert caffe_io.blob_shape(_blob(legacy=(1, 1, 4, 5))) == (1, 1, 4, 5)
    assert caffe_io.blob_shape(_pb().BlobProto()) == ()
    only_width = _pb().BlobProto(width=5)  # Caffe reads the old fields whenever one is set
    only_width.shape.dim.extend([5])
    assert caffe_io.blob_shape(only_width) == (0, 0, 0, 5)
    a = caffe_io.blob_array(_blob([2, 3], double=True))
    assert a.dtype == np.float32 and a.shape == (2, 3) and a[1, 2] == 1.25
    assert caffe_io.blob_array(_blob([3])).tolist() == [0.0, 0.25, 0.5]
    with pytest.raises(InqError) as e:
        caffe_io.blob_array(_blob([2, 3], n=5))
    assert str(e.value) == "blob of shape (2, 3) holds 5 values"


def _layer(name, ltype, include=(), exclude=()):
    ly = _pb().LayerParameter(name=name, type=ltype)
    for rules, field in ((include, ly.include), (exclude, ly.exclude)):
        for r in rules:
            field.add().CopyFrom(_pb().NetStateRule(**r))
    return ly


def test_in_phase_reads_include_and_exclude_rules():
    TRAIN, TEST = caffe_io.TRAIN, caffe_io.TEST
    assert (TRAIN, TEST) == (0, 1)
    cases = [  # include, exclude, in TRAIN, in TEST
        ((), (), True, True),
        (({"phase": TEST},), (), False, True),
        (({"phase": TRAIN},), (), True, False),
        (({"phase": TEST}, {"phase": TRAIN}), (), True, True),
        (({"stage": ["deploy"]},), (), True, True),  # a rule without a phase is met in both
        ((), ({"phase": TEST},), True, False),
        ((), ({"phase": TRAIN},), False, True),
        ((), ({"phase": TEST, "stage": ["x"]},), True, True),  # a rule on stages does not rule it out
        ((), ({"phase": TEST, "not_stage": ["x"]},), True, True),
        ((), ({"phase": TEST, "min_level": 1},), True, True),
        ((), ({"phase": TEST, "max_level": 1},), True, True),
        ((), ({"stage": ["x"]},), True, True),
    ]
    for inc, exc, train, test in cases:
        ly = _layer("l", "ReLU", inc, exc)
        assert (caffe_io.in_phase(ly, TRAIN), caffe_io.in_phase(ly, TEST)) == (train, test), (inc, exc)


def _v1_net():
    net = _pb().NetParameter(name="v1")
    conv = net.layers.add(name="conv", type=_pb().V1LayerParameter.CONVOLUTION)
    conv.param.extend(["w", "b"])
    conv.blobs.add().CopyFrom(_blob(legacy=(2, 1, 3, 3)))
    relu = net.layers.add(name="relu", type=_pb().V1LayerParameter.RELU)
    relu.param.extend(["", "x"])
    return net


def test_old_v1_nets_read_like_new_ones():
    net = _v1_net()
    layers = caffe_io.model_layers(net)
    assert [ly.name for ly in layers] == ["conv", "relu"]
    assert [caffe_io.layer_type(ly) for ly in layers] == ["CONVOLUTION", "RELU"]
    assert [caffe_io.expected_blobs(ly) for ly in layers] == [2, 0]
    assert caffe_io.param_names(net) == {("conv", 0): "w", ("conv", 1): "b", ("relu", 1): "x"}
    assert list(caffe_io.model_blobs(net)) == ["conv"]
    assert caffe_io.legacy_blobs(net) == {("conv", 0)}
    net.layers[0].blobs.add().shape.dim.extend([2])
    assert caffe_io.legacy_blobs(net) == {("conv", 0)}
    del net.layers[0].blobs[1]
    arrays = caffe_io.model_arrays(net)
    assert list(arrays) == ["conv"] and arrays["conv"][0].shape == (2, 1, 3, 3)
    net.layer.add(name="new", type="ReLU")  # a net with new-style layers is read by those alone
    assert [ly.name for ly in caffe_io.model_layers(net)] == ["new"]


def test_expected_blobs_follow_bias_terms():
    pb = _pb()
    cases = [(pb.LayerParameter(type="Convolution"), 2),
             (pb.LayerParameter(type="Convolution", convolution_param={"bias_term": False}), 1),
             (pb.LayerParameter(type="Deconvolution"), 2),
             (pb.LayerParameter(type="Deconvolution", convolution_param={"bias_term": False}), 1),
             (pb.LayerParameter(type="InnerProduct"), 2),
             (pb.LayerParameter(type="InnerProduct", inner_product_param={"bias_term": False}), 1),
             (pb.LayerParameter(type="Scale", scale_param={"bias_term": True}), 2),
             (pb.LayerParameter(type="Scale"), 1), (pb.LayerParameter(type="BatchNorm"), 3),
             (pb.LayerParameter(type="SoftmaxWithLoss"), 0), (pb.LayerParameter(type="Tile"), 0),
             (pb.LayerParameter(type="Data"), 0), (pb.LayerParameter(type="Python"), None),
             (pb.V1LayerParameter(type=pb.V1LayerParameter.DECONVOLUTION,
                                  convolution_param={"bias_term": False}), 1),
             (pb.V1LayerParameter(type=pb.V1LayerParameter.INNER_PRODUCT), 2),
             (pb.V1LayerParameter(type=pb.V1LayerParameter.SOFTMAX), 0)]
    assert [caffe_io.expected_blobs(ly) for ly, _ in cases] == [n for _, n in cases]


def _model(*layers):
    """A caffemodel NetParameter: (name, [blob, ...]) per layer."""
    net = _pb().NetParameter()
    for name, blobs in layers:
        ly = net.layer.add(name=name, type="InnerProduct")
        for b in blobs:
            ly.blobs.add().CopyFrom(b)
    return net


def test_weights_that_caffe_would_not_copy_are_refused_by_name():
    shapes = {"data": [], "ip": [(2, 3), (2,)], "relu": []}
    fit = lambda *layers: caffe_io.check_weights_fit("w.caffemodel", _model(*layers), shapes)  # noqa: E731
    fit(("ip", [_blob([2, 3]), _blob([2])]), ("other", [_blob([7])]))  # a layer the net lacks is skipped
    fit(("ip", [_blob(legacy=(1, 1, 2, 3)), _blob(legacy=(1, 1, 1, 2))]))  # legacy 4-D, as Caffe reads it
    fit(("ip", [_blob([2, 3]), _blob([2], double=True)]), ("relu", []))
    cases = [
        ((("ip", [_blob([2, 3]), _blob([2])]), ("ip", [_blob([2, 3]), _blob([2])])),
         "w.caffemodel: layer 'ip' appears twice in the file (which copy would Caffe keep?); "
         "save the model again with Caffe"),
        ((("x", [_blob([2, 3])]), ("ip", [])),
         "w.caffemodel: belongs to another net: none of its layers matches the net's parameter layers "
         "(first: 'ip')"),
        ((("ip", [_blob([2, 3]), _blob([2])]), ("relu", [_blob([1])])),
         "w.caffemodel: layer 'relu' has 1 blobs in the file, but it has no parameters in the net; "
         "these weights belong to another net"),
        ((("ip", [_blob([2, 3])]),), "w.caffemodel: layer 'ip' has 1 blobs, the net expects 2"),
        ((("ip", [_blob([3, 2]), _blob([2])]),),
         "w.caffemodel: layer 'ip' blob 0 has shape (3, 2), the net expects (2, 3)"),
        # leading 1s pass only in the old 4-D fields: Caffe's copy_from aborts on new-style dims
        ((("ip", [_blob([1, 1, 2, 3]), _blob([2])]),),
         "w.caffemodel: layer 'ip' blob 0 has shape (1, 1, 2, 3), the net expects (2, 3)"),
        ((("ip", [_blob([2, 3]), _blob(legacy=(1, 1, 2, 1))]),),
         "w.caffemodel: layer 'ip' blob 1 has shape (1, 1, 2, 1), the net expects (2,)"),
        ((("ip", [_blob([2, 3]), _blob([2], n=3)]),),
         "w.caffemodel: layer 'ip' blob 1 holds 3 values, shape (2,) needs 2"),
        ((("ip", [_blob([2, 3], n=5, double=True), _blob([2])]),),
         "w.caffemodel: layer 'ip' blob 0 holds 5 values, shape (2, 3) needs 6"),
    ]
    for layers, msg in cases:
        with pytest.raises(InqError) as e:
            fit(*layers)
        assert str(e.value) == msg
    # a twice-named layer the net does not have is Caffe's to skip; a net without parameters takes any file
    fit(("other", []), ("other", []), ("ip", [_blob([2, 3]), _blob([2])]))
    caffe_io.check_weights_fit("w.caffemodel", _model(("x", [_blob([1])])), {"data": []})


def test_computed_shapes_compare_as_caffe_does():
    computed = {"ip": [(2, 3), (2,)], "conv": [(4, 1, 3, 3)]}
    ok = {"ip": [(1, 1, 2, 3), (1, 1, 1, 2)], "conv": [(4, 1, 3, 3)], "extra": [(9,)]}
    old = frozenset({("ip", 0), ("ip", 1), ("conv", 0)})  # stored in the old 4-D fields
    caffe_io.check_computed_shapes("net.prototxt", computed, ok, "w.caffemodel", old)
    caffe_io.check_computed_shapes("net.prototxt", computed, {"ip": [(2, 3), (2,)], "conv": [(4, 1, 3, 3)]},
                                   "w.caffemodel")
    for shapes, i, got, want in (({"ip": [(2, 3), (3,)]}, 1, (3,), (2,)), ({"ip": [(3, 2), (2,)]}, 0, (3, 2), (2, 3)),
                                 ({"ip": [(1, 2, 2, 3), (2,)]}, 0, (1, 2, 2, 3), (2, 3)),
                                 ({"ip": [(2, 3), (1, 1, 1, 2)]}, 1, (1, 1, 1, 2), (2,)),  # new-style dims
                                 ({"conv": [(1, 4, 1, 3, 3)]}, 0, (1, 4, 1, 3, 3), (4, 1, 3, 3))):
        with pytest.raises(InqError) as e:
            caffe_io.check_computed_shapes("net.prototxt", computed, shapes, "w.caffemodel",
                                           frozenset({("ip", 0), ("conv", 0)}))
        name = next(iter(shapes))
        assert str(e.value) == (f"w.caffemodel: layer {name!r} blob {i} has shape {got}, but Caffe makes it {want} "
                                f"for net.prototxt (from its input through its layers): these weights belong to "
                                f"another net or another input size")
    for blobs in ([(2, 3)], [(2, 3), (2,), (2,)]):  # Caffe's copy_from aborts on another number of blobs
        with pytest.raises(InqError) as e:
            caffe_io.check_computed_shapes("net.prototxt", computed, {"ip": blobs}, "w.caffemodel")
        assert str(e.value) == (f"w.caffemodel: layer 'ip' has {len(blobs)} blobs, but Caffe makes 2 for "
                                f"net.prototxt: these weights belong to another net")


STATED = """
layer { name: "c" type: "Convolution" convolution_param { num_output: 4 kernel_size: 3 } }
layer { name: "hw" type: "Convolution" convolution_param { num_output: 4 kernel_h: 1 kernel_w: 5 bias_term: false } }
layer { name: "d" type: "Deconvolution" convolution_param { num_output: 6 kernel_size: 2 group: 2 } }
layer { name: "ip" type: "InnerProduct" inner_product_param { num_output: 5 } }
layer { name: "t" type: "InnerProduct" inner_product_param { num_output: 5 transpose: true } }
layer { name: "r" type: "ReLU" }
"""


def _stated_net():
    from google.protobuf import text_format
    return text_format.Parse(STATED, _pb().NetParameter())


def test_stated_shapes_pass_weights_of_this_net():
    net = _stated_net()
    good = {"c": [(4, 2, 3, 3), (4,)], "hw": [(4, 2, 1, 5)], "d": [(8, 3, 2, 2), (6,)], "ip": [(5, 7), (5,)],
            "t": [(7, 5), (1, 1, 1, 5)], "r": [], "other": [(1,)]}
    caffe_io.check_stated_shapes("net.prototxt", net, good, "w.caffemodel")
    caffe_io.check_stated_shapes("net.prototxt", net, {"ip": [(1, 1, 5, 7)], "c": [(4, 2, 3)]}, "w.caffemodel")
    caffe_io.check_stated_shapes("net.prototxt", net, {"c": [(4, 2, 3, 3, 3)]}, "w.caffemodel")  # 1-D, 3-D
    caffe_io.check_stated_shapes("net.prototxt", net, {}, "w.caffemodel")


def test_stated_shapes_refuse_weights_of_another_net():
    net = _stated_net()
    cases = [
        ({"c": [(5, 2, 3, 3)]}, "'c' weights have shape (5, 2, 3, 3)", "4 outputs, kernel 3x3"),
        ({"c": [(4, 2, 3, 2)]}, "'c' weights have shape (4, 2, 3, 2)", "4 outputs, kernel 3x3"),
        ({"c": [(4, 2, 3, 3, 2)]}, "'c' weights have shape (4, 2, 3, 3, 2)", "4 outputs, kernel 3x3x3"),
        ({"c": [()]}, "'c' weights have shape ()", "4 outputs, kernel 3"),
        ({"hw": [(4, 2, 5, 1)]}, "'hw' weights have shape (4, 2, 5, 1)", "4 outputs, kernel 1x5"),
        ({"d": [(8, 2, 2, 2)]}, "'d' weights have shape (8, 2, 2, 2)", "6 outputs, kernel 2x2"),
        ({"ip": [(7, 5)]}, "'ip' weights have shape (7, 5)", "5 outputs"),
        ({"ip": [(5,)]}, "'ip' weights have shape (5,)", "5 outputs"),
        ({"ip": [(2, 1, 5, 7)]}, "'ip' weights have shape (2, 1, 5, 7)", "5 outputs"),
        ({"t": [(5, 7)]}, "'t' weights have shape (5, 7)", "5 outputs"),
    ]
    for shapes, got, want in cases:
        with pytest.raises(InqError) as e:
            caffe_io.check_stated_shapes("net.prototxt", net, shapes, "w.caffemodel")
        assert str(e.value) == (f"w.caffemodel: layer {got}, but net.prototxt says {want}: "
                                "these weights belong to another net")
    for shapes, name, bias, n in (({"c": [(4, 2, 3, 3), (5,)]}, "c", (5,), 4),
                                  ({"ip": [(5, 7), (1, 5)]}, "ip", (1, 5), 5),
                                  ({"d": [(8, 3, 2, 2), (8,)]}, "d", (8,), 6)):
        with pytest.raises(InqError) as e:
            caffe_io.check_stated_shapes("net.prototxt", net, shapes, "w.caffemodel")
        assert str(e.value) == f"w.caffemodel: layer {name!r} bias has shape {bias}, but net.prototxt says {n} outputs"
    caffe_io.check_stated_shapes("net.prototxt", net, {"hw": [(4, 2, 1, 5), (3,)]}, "w.caffemodel")  # no bias_term


def test_batch_size_zero_is_refused_in_every_batched_data_layer():
    pb = _pb()
    for ltype, field in (("Data", "data_param"), ("ImageData", "image_data_param"), ("HDF5Data", "hdf5_data_param"),
                         ("MemoryData", "memory_data_param"), ("WindowData", "window_data_param")):
        net = pb.NetParameter()
        net.layer.add(name="in", type=ltype)
        getattr(net.layer[0], field).batch_size = 0  # ImageData's default is 1, the others' 0
        with pytest.raises(InqError) as e:
            caffe_io.check_batch_sizes("n.prototxt", net)
        assert str(e.value) == (f"n.prototxt: layer 'in' has batch_size 0 ({field}; 0 when not given); "
                                "give it at least 1")
        getattr(net.layer[0], field).batch_size = 1
        caffe_io.check_batch_sizes("n.prototxt", net)
    v1 = pb.NetParameter()
    v1.layers.add(name="old", type=pb.V1LayerParameter.IMAGE_DATA).image_data_param.batch_size = 0
    with pytest.raises(InqError, match="^n.prototxt: layer 'old' has batch_size 0 \\(image_data_param"):
        caffe_io.check_batch_sizes("n.prototxt", v1)
    ok = pb.NetParameter()
    ok.layer.add(name="in", type="Input")
    caffe_io.check_batch_sizes("n.prototxt", ok)


def test_what_caffe_would_abort_on_is_refused_before_it_builds(tmp_path):
    from google.protobuf import text_format
    known = ["Data", "Input", "InnerProduct", "Convolution", "Deconvolution", "ReLU"]
    db, mean = tmp_path / "db", tmp_path / "mean.binaryproto"
    db.mkdir()
    mean.write_bytes(b"")

    def check(text):
        caffe_io.check_net_for_caffe("n.prototxt", text_format.Parse(text, _pb().NetParameter()), known)

    check(f'layer {{ name: "d" type: "Data" data_param {{ source: "{db}" batch_size: 1 }} '
          f'transform_param {{ mean_file: "{mean}" }} }} '
          'layer { name: "ip" type: "InnerProduct" inner_product_param { num_output: 1 } }')
    check('layer { name: "d" type: "Data" data_param { batch_size: 1 } }')  # no source: Caffe names it
    cases = [
        ('layer { name: "x" type: "Fork" }', "layer 'x' has type 'Fork', which this Caffe does not know"),
        ('layer { name: "d" type: "Data" }', "layer 'd' has batch_size 0 (data_param; 0 when not given); "
                                             "give it at least 1"),
        ('layer { name: "ip" type: "InnerProduct" }',
         "layer 'ip' has num_output 0 (inner_product_param); give it at least one output"),
        ('layer { name: "c" type: "Convolution" }',
         "layer 'c' has num_output 0 (convolution_param); give it at least one output"),
        ('layer { name: "dc" type: "Deconvolution" }',
         "layer 'dc' has num_output 0 (convolution_param); give it at least one output"),
        (f'layer {{ name: "d" type: "Data" data_param {{ source: "{tmp_path}/no" batch_size: 1 }} }}',
         f"layer 'd' reads '{tmp_path}/no', which does not exist (create the database, e.g. `make data`, "
         f"or fix data_param.source)"),
        (f'layer {{ name: "r" type: "ReLU" transform_param {{ mean_file: "{tmp_path}/m" }} }}',
         f"layer 'r' reads the mean file '{tmp_path}/m', which does not exist "
         f"(make it with `python -m inq_layer.tools.image_mean TRAIN_DB {tmp_path}/m`)"),
    ]
    for text, msg in cases:
        with pytest.raises(InqError) as e:
            check(text)
        assert str(e.value) == f"n.prototxt: {msg}"
    v1 = _v1_net()  # V1 types are upgraded by Caffe, not looked up among the new ones
    caffe_io.check_net_for_caffe("n.prototxt", v1, known)


def test_text_protos_round_trip_and_the_tool_logs_to_stderr(tmp_path):
    import os
    net = _stated_net()
    caffe_io.write_text_proto(str(tmp_path / "n.prototxt"), net)
    assert caffe_io.read_net(str(tmp_path / "n.prototxt")) == net
    (tmp_path / "s.prototxt").write_text('net: "n.prototxt"\nbase_lr: 0.5\n')
    assert caffe_io.read_solver(str(tmp_path / "s.prototxt")).base_lr == 0.5
    assert os.path.isfile(os.path.join(caffe_io.caffe_root(), "python", "caffe", "__init__.py"))
    assert caffe_io.caffe_tool() == os.path.join(caffe_io.caffe_root(), "build", "tools", "caffe")
    assert caffe_io.caffe_tool_env({"A": "1"}, B="2") == {"A": "1", "GLOG_logtostderr": "1", "B": "2"}
    assert caffe_io.caffe_tool_env()["PATH"] == os.environ["PATH"]


def test_without_pycaffe_the_error_says_what_to_run(monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "caffe.proto", None)
    with pytest.raises(InqError) as e:
        caffe_io.pb2()
    assert str(e.value).startswith("cannot import pycaffe (") and str(e.value).endswith(
        "); run `make setup` and use build/venv/bin/python")
