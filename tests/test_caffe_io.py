"""caffe_io: Caffe's files read with caffe_pb2 only, every problem one line."""
import pytest

from inq_layer.caffe_edge import caffe_io
from inq_layer.errors import InqError


def test_prototxt_errors_carry_line_and_column(tmp_path):
    p = tmp_path / "net.prototxt"
    p.write_text('name: "n"\nlayer { name: "a" typo: 1 }\n')
    with pytest.raises(InqError, match=rf"^{p}:2:"):
        caffe_io.read_net(str(p))
    p.write_bytes(b"\x00\xff binary")
    with pytest.raises(InqError, match="not a text net prototxt"):
        caffe_io.read_net(str(p))


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
