"""deploy/export.py as a library: export_model's sizes and lists, word for word, and each
defect load_model refuses in a .inq that does not fit the net (files made with caffe_pb2
and serialize alone; no Caffe net is built)."""
import os

import numpy as np
import pytest

from caffe_nets import pb2_files
from inq_layer.caffe_edge import caffe_io
from inq_layer.deploy.export import export_model, load_model, model_quantizers
from inq_layer.deploy.inq_format import Entry, Quantizer, serialize
from inq_layer.errors import InqError
from inq_layer.options import QuantOptions

W = np.array([[0.5, 0, -0.25, 0.25], [0.125, 0, 0, -0.5]], np.float32)  # 5-bit grid, n1 = -1; 3 of 8 at 0
B = np.array([0.1, -0.3], np.float32)


def test_export_reports_its_sizes_and_what_it_left_out(tmp_path):
    model, weights = pb2_files(tmp_path, {"a": ()}, {"a": [W, B], "head": [W]}, quantizer=True)
    out = str(tmp_path / "m.inq")
    r = export_model(model, weights, QuantOptions(bits=5), out)
    assert r["left_out"] == ["head"]
    assert r["float_bytes"] == 4 * (8 + 2) and r["quantized_weights"] == 8 and r["quantized_float_bytes"] == 32
    (ly,) = r["layers"]
    assert ly["layer"] == "a" and ly["index"] == 0 and ly["count"] == 8 and ly["bits"] == 5
    assert ly["sparsity"] == 0.375 and ly["bits_per_weight"] == 8 * ly["bytes"] / 8 and r["coded_bytes"] == ly["bytes"]
    assert r["file_bytes"] == len(open(out, "rb").read())
    assert model_quantizers(caffe_io.read_net(model), model) == [Quantizer("data_q", 8, 5, True)]
    back = str(tmp_path / "back.caffemodel")
    assert load_model(out, model, back) == 2
    got = caffe_io.model_arrays(caffe_io.read_caffemodel(back))
    assert list(got) == ["a"] and np.array_equal(got["a"][0], W) and np.array_equal(got["a"][1], B)


def test_a_blob_off_the_grid_is_named_with_its_first_bad_value(tmp_path):
    bad = W.copy()
    bad[0, 1] = 0.3
    model, weights = pb2_files(tmp_path, {"a": ()}, {"a": [bad, B]})
    with pytest.raises(InqError) as e:
        export_model(model, weights, QuantOptions(bits=5), str(tmp_path / "m.inq"))
    assert str(e.value) == (f"{weights}: layer 'a' fails the check (1 weights off the 5-bit grid, e.g. "
                            f"{float(np.float32(0.3))!r}); run the INQ campaign first")


def test_shared_blobs_are_stored_once_and_given_back_to_each_layer(tmp_path):
    layers = {"a": ("w", "ab"), "b": ("w", "bb")}
    model, weights = pb2_files(tmp_path, layers, {"a": [W, B], "b": [W, -B]})
    out, back = str(tmp_path / "m.inq"), str(tmp_path / "back.caffemodel")
    r = export_model(model, weights, QuantOptions(bits=5), out)
    assert [(ly["layer"], ly["index"]) for ly in r["layers"]] == [("a", 0)]
    assert load_model(out, model, back) == 3  # a's two blobs and b's bias; b's weights are a's
    got = caffe_io.model_arrays(caffe_io.read_caffemodel(back))
    assert np.array_equal(got["b"][0], W) and np.array_equal(got["b"][1], -B)


def _inq(tmp_path, entries):
    path = tmp_path / "x.inq"
    path.write_bytes(serialize(entries, 5))
    return str(path)


@pytest.mark.parametrize("case", ["stranger", "twice", "missing", "gap", "absent", "blobless", "unshared"])
def test_load_names_each_way_a_file_does_not_fit_the_net(tmp_path, case):
    shared = case == "unshared"
    model, _ = pb2_files(tmp_path, {"a": ("w", "ab") if shared else (), "b": ("w", "bb") if shared else ()}, {})
    a = [Entry("a", 0, W, True, -1), Entry("a", 1, B, False)]
    b = [Entry("b", 0, W, True, -1), Entry("b", 1, B, False)]
    entries, msg = {
        "stranger": (a + b + [Entry("c", 0, B, False)], "layer 'c' is not in {model}"),
        "twice": (a + b + [Entry("a", 1, B, False)], "layer 'a' has blob 1 twice"),
        "missing": (a + b[:1], "layer 'b' has blobs [0], {model} gives it [0, 1]: Caffe would not load the result"),
        "gap": (a + [b[1]], "layer 'b' has blobs [1], {model} gives it [0, 1]: Caffe would not load the result"),
        "absent": (a, "layer 'b' has blobs none, {model} gives it [0, 1]: Caffe would not load the result"),
        "blobless": (a + b + [Entry("data", 0, B, False)],
                     "layer 'data' has blobs [0], {model} gives it none: Caffe would not load the result"),
        "unshared": (b, "layer 'b' shares blob 0 with layer 'a', which the file lacks"),
    }[case]
    inq = _inq(tmp_path, entries)
    with pytest.raises(InqError) as e:
        load_model(inq, model, str(tmp_path / "back.caffemodel"))
    assert str(e.value) == f"{inq}: " + msg.format(model=model)
    assert not (tmp_path / "back.caffemodel").exists()


def test_a_layer_of_unknown_blob_count_must_number_its_blobs_from_0(tmp_path):
    """A Python layer with blobs: any count, but 0..n-1."""
    from caffe.proto import caffe_pb2
    from google.protobuf import text_format
    net = caffe_pb2.NetParameter(name="n")
    net.layer.add(name="p", type="Python", top=["p"])
    model = tmp_path / "net.prototxt"
    model.write_text(text_format.MessageToString(net))
    ok = _inq(tmp_path, [Entry("p", 0, B, False), Entry("p", 1, B, False)])
    assert load_model(ok, str(model), str(tmp_path / "back.caffemodel")) == 2
    inq = _inq(tmp_path, [Entry("p", 0, B, False), Entry("p", 2, B, False)])
    with pytest.raises(InqError) as e:
        load_model(inq, str(model), str(tmp_path / "back2.caffemodel"))
    assert str(e.value) == f"{inq}: layer 'p' has blobs [0, 2], not 0..1"


def _conv_net(tmp_path, side, name):
    """Input 1x1xSIDExSIDE, conv1 3x3 (2 outputs), ip1 (2 outputs): ip1's fan-in is
    2 * (SIDE - 2)^2, which the prototxt never states."""
    path = tmp_path / name
    path.write_text(
        f'layer {{ name: "data" type: "Input" top: "data" input_param {{ shape {{ dim: 1 dim: 1 dim: {side} '
        f'dim: {side} }} }} }}\n'
        'layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1" '
        'convolution_param { num_output: 2 kernel_size: 3 } }\n'
        'layer { name: "ip1" type: "InnerProduct" bottom: "conv1" top: "ip1" inner_product_param { num_output: 2 } }\n')
    return str(path)


def test_shapes_are_compared_as_caffe_computes_them(tmp_path):
    """Weights of the 8x8 net against a prototxt alike in every stated number but its input
    (10x10): check, export and export --load refuse them, naming ip1 and both shapes."""
    from caffe.proto import caffe_pb2
    from inq_layer.deploy.check import check_model
    small, large = _conv_net(tmp_path, 8, "small.prototxt"), _conv_net(tmp_path, 10, "large.prototxt")
    rng = np.random.default_rng(0)
    grid = lambda *s: (rng.choice([-1, 1], s) * 2.0 ** rng.integers(-6, -1, s)).astype(np.float32)  # noqa: E731
    m = caffe_pb2.NetParameter()
    for name, arrays in (("conv1", [grid(2, 1, 3, 3), np.zeros(2, np.float32)]),
                         ("ip1", [grid(2, 72), np.zeros(2, np.float32)])):
        ly = m.layer.add(name=name)
        for a in arrays:
            ly.blobs.add(shape=caffe_pb2.BlobShape(dim=list(a.shape)), data=a.reshape(-1).tolist())
    weights = tmp_path / "w.caffemodel"
    weights.write_bytes(m.SerializeToString())
    opts = QuantOptions(bits=5)
    assert all(r.violations == 0 for r in check_model(small, str(weights), opts))
    msg = ("layer 'ip1' blob 0 has shape (2, 72), but Caffe makes it (2, 128) for {model} (from its input through "
           "its layers): these weights belong to another net or another input size")
    with pytest.raises(InqError) as e:
        check_model(large, str(weights), opts)
    assert str(e.value) == f"{weights}: " + msg.format(model=large)
    with pytest.raises(InqError):
        export_model(large, str(weights), opts, str(tmp_path / "large.inq"))
    assert not (tmp_path / "large.inq").exists()
    inq = str(tmp_path / "small.inq")
    export_model(small, str(weights), opts, inq)
    with pytest.raises(InqError) as e:
        load_model(inq, large, str(tmp_path / "back.caffemodel"))
    assert str(e.value) == f"{inq}: " + msg.format(model=large)
    assert not (tmp_path / "back.caffemodel").exists()
    assert load_model(inq, small, str(tmp_path / "back.caffemodel")) == 4


def test_leading_1s_pass_as_caffe_copies_them_old_4d_fields_only(tmp_path):
    """ip1 as 1x1x2x72 and its bias as 1x1x1x2: in the old 4-D fields (as old model-zoo files
    keep them) Caffe copies them into 2x72 and 2, so check passes and export stores the net's
    shapes (--load then writes what Caffe copies); as new-style dims Caffe's copy_from
    aborts on them, so check, export and export --load refuse them by name."""
    import caffe
    from caffe.proto import caffe_pb2
    from inq_layer.deploy.check import check_model
    small = _conv_net(tmp_path, 8, "small.prototxt")
    rng = np.random.default_rng(1)
    grid = lambda *s: (rng.choice([-1, 1], s) * 2.0 ** rng.integers(-6, -1, s)).astype(np.float32)  # noqa: E731
    conv, ip = [grid(2, 1, 3, 3), np.zeros(2, np.float32)], [grid(2, 72), np.full(2, 0.5, np.float32)]
    opts = QuantOptions(bits=5)
    for old_fields in (True, False):
        m = caffe_pb2.NetParameter()
        for name, arrays in (("conv1", conv), ("ip1", ip)):
            ly = m.layer.add(name=name)
            for a in arrays:
                dims = (1,) * (4 - a.ndim) + a.shape
                b = ly.blobs.add(data=a.reshape(-1).tolist())
                if old_fields:
                    b.num, b.channels, b.height, b.width = dims
                else:
                    b.shape.dim.extend(dims)
        weights = str(tmp_path / f"w{old_fields}.caffemodel")
        open(weights, "wb").write(m.SerializeToString())
        inq = str(tmp_path / f"m{old_fields}.inq")
        if old_fields:
            for name, blobs, msg in (
                    ("ip1", [(2, 50), (2,)], "blob 0 has shape (1, 1, 2, 50), but Caffe makes it (2, 72)"),
                    ("conv1", [(2, 1, 3, 3), (2,), (2,)], "has 3 blobs, but Caffe makes 2")):
                other = caffe_pb2.NetParameter()
                other.CopyFrom(m)
                ly = next(ly for ly in other.layer if ly.name == name)
                del ly.blobs[:]
                for shape in blobs:  # another net's blobs, of the same counts where one is there
                    b = ly.blobs.add(data=[0.25] * int(np.prod(shape)))
                    b.num, b.channels, b.height, b.width = (1,) * (4 - len(shape)) + shape
                wrong = str(tmp_path / "other.caffemodel")
                open(wrong, "wb").write(other.SerializeToString())
                with pytest.raises(InqError) as e:
                    export_model(small, wrong, opts, inq)
                assert str(e.value).startswith(f"{wrong}: layer {name!r} {msg}")
                assert not os.path.exists(inq)
            assert all(r.violations == 0 for r in check_model(small, weights, opts))
            export_model(small, weights, opts, inq)
            back = str(tmp_path / "back.caffemodel")
            assert load_model(inq, small, back) == 4
            caffe.set_mode_cpu()
            net = caffe.Net(small, caffe.TEST)
            net.copy_from(back)
            assert all(np.array_equal(net.params[n][i].data, a) for n, arrs in (("conv1", conv), ("ip1", ip))
                       for i, a in enumerate(arrs))
            continue
        msg = (f"{weights}: layer 'conv1' blob 1 has shape (1, 1, 1, 2), but Caffe makes it (2,) for {small} (from "
               f"its input through its layers): these weights belong to another net or another input size")
        for call, args in ((check_model, (small, weights, opts)), (export_model, (small, weights, opts, inq))):
            with pytest.raises(InqError) as e:
                call(*args)
            assert str(e.value) == msg
        assert not os.path.exists(inq)


def test_a_one_weight_blob_counts_its_bits_per_weight(tmp_path):
    """bits_per_weight is the blob's stored bits over its weights, one weight included."""
    from caffe.proto import caffe_pb2
    model = tmp_path / "one.prototxt"
    model.write_text('layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 1 } } }\n'
                     'layer { name: "a" type: "InnerProduct" bottom: "data" top: "a" '
                     'inner_product_param { num_output: 1 bias_term: false } }\n')
    m = caffe_pb2.NetParameter()
    m.layer.add(name="a").blobs.add(shape=caffe_pb2.BlobShape(dim=[1, 1]), data=[0.5])
    weights = tmp_path / "one.caffemodel"
    weights.write_bytes(m.SerializeToString())
    (ly,) = export_model(str(model), str(weights), QuantOptions(bits=5), str(tmp_path / "one.inq"))["layers"]
    assert ly["count"] == 1 and ly["bits_per_weight"] == 8 * ly["bytes"]


def test_load_refuses_a_folder_and_a_file_beyond_memory_by_name(tmp_path, monkeypatch):
    from inq_layer import files
    model, weights = pb2_files(tmp_path, {"a": ()}, {"a": [W, B]})
    with pytest.raises(InqError) as e:
        load_model(str(tmp_path), model, str(tmp_path / "back.caffemodel"))
    assert str(e.value) == f"{tmp_path}: is a directory, expected a regular .inq file"
    inq = str(tmp_path / "m.inq")
    export_model(model, weights, QuantOptions(bits=5), inq)
    monkeypatch.setattr(files, "available_memory", lambda: 9 * 10)  # 10 values decoded: 9 bytes each
    assert load_model(inq, model, str(tmp_path / "back.caffemodel")) == 2
    monkeypatch.setattr(files, "available_memory", lambda: 9 * 10 - 1)
    with pytest.raises(InqError) as e:
        load_model(inq, model, str(tmp_path / "back2.caffemodel"))
    assert str(e.value).startswith(f"{inq}: 10 values would take 0.0 GiB to decode, more than the 0.0 GiB")
