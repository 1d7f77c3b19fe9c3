"""The quantizer as a Caffe Python layer: forward is core.fixed_point exactly, backward the
clipped straight-through gradient (checked against finite differences of the identity
inside the range), never in place, configured by param_str alone."""
import json

import numpy as np
import pytest

from inq_layer.net.fixed_point_params import parse_param_str

NET = """name: "q" force_backward: true
layer {{ name: "in" type: "Input" top: "x" input_param {{ shape {{ dim: 2 dim: 3 dim: 4 dim: 5 }} }} }}
layer {{ name: "q" type: "Python" bottom: "x" top: "{top}"
  python_param {{ module: "inq_layer.net.fixed_point_layer" layer: "FixedPoint" param_str: '{p}' }} }}
"""


def make(tmp_path, p, top="y", phase=None):
    import caffe
    caffe.set_mode_cpu()
    path = tmp_path / "net.prototxt"
    path.write_text(NET.format(top=top, p=json.dumps(p)))
    return caffe.Net(str(path), caffe.TEST if phase is None else phase)


def test_forward_is_the_core_quantizer_and_backward_flows_only_inside(tmp_path):
    import caffe
    from inq_layer.core import fixed_point as fp
    net = make(tmp_path, {"bits": 4, "f": 2, "signed": True}, phase=caffe.TRAIN)
    x = np.random.default_rng(0).normal(0, 2, (2, 3, 4, 5)).astype(np.float32)
    net.blobs["x"].data[...] = x
    net.forward()
    assert np.array_equal(net.blobs["y"].data, fp.quantize(x, 4, 2, True))
    assert np.array_equal(net.blobs["x"].data, x)  # the input is left as it was
    g = np.random.default_rng(1).normal(size=x.shape).astype(np.float32)
    net.blobs["y"].diff[...] = g
    net.backward()
    inside = (x * 4 >= -8.5) & (x * 4 < 7.5)
    assert 0 < inside.sum() < x.size
    assert np.array_equal(net.blobs["x"].diff, np.where(inside, g, 0))


def test_counts_saturation_in_test_passes_only(tmp_path):
    import caffe
    net = make(tmp_path, {"bits": 2, "f": 0, "signed": False})
    net.blobs["x"].data[...] = np.arange(120, dtype=np.float32).reshape(2, 3, 4, 5) - 1
    net.forward()
    q = net.layers[1]
    assert (q.seen, q.saturated) == (120, 120 - 4)  # -1 .. 118: only 0, 1, 2 and 3 are inside 0..3
    net.forward()  # a second test pass adds to the counts
    assert (q.seen, q.saturated) == (240, 2 * (120 - 4))
    train = make(tmp_path, {"bits": 2, "f": 0, "signed": False}, phase=caffe.TRAIN)
    train.forward()
    assert train.layers[1].seen == 0


def test_without_f_it_passes_values_through(tmp_path):
    net = make(tmp_path, {"bits": 8, "signed": False})
    x = np.linspace(-3, 3, 120, dtype=np.float32).reshape(2, 3, 4, 5)
    net.blobs["x"].data[...] = x
    net.forward()
    assert np.array_equal(net.blobs["y"].data, x)


def test_in_place_is_refused(tmp_path):
    with pytest.raises(Exception) as e:
        make(tmp_path, {"bits": 8, "f": 1}, top="x")
    assert str(e.value) == ("FixedPoint must not run in place (its backward needs the unclipped input): "
                            "give it a top of its own")


@pytest.mark.parametrize("text,msg", [("nope", "not JSON"), ("[1]", "not a JSON object"),
                                      ('{"bits": 8, "x": 1}', "unknown keys x"), ('{"bits": 1}', "2..16"),
                                      ('{"bits": 8, "f": 1.5}', "f must be an integer"),
                                      ('{"bits": 8, "signed": 1}', "true or false")])
def test_param_str_errors_name_the_problem(text, msg):
    with pytest.raises(ValueError, match=msg):
        parse_param_str(text)


@pytest.mark.parametrize("text,msg", [
    ("nope", 'param_str \'nope\' is not JSON like {"bits": 8, "f": 4, "signed": false}'),
    ("[1]", "param_str '[1]' is not a JSON object"),
    ('{"bits": 8, "x": 1, "a": 2}', "param_str has unknown keys a, x (bits, f, signed)"),
    ("", "activation bits must be an integer in 2..16, got None"),
    ('{"bits": 17}', "activation bits must be an integer in 2..16, got 17"),
    ('{"bits": 8, "f": 1.5}', "f must be an integer in -100..100, got 1.5"),
    ('{"bits": 8, "f": true}', "f must be an integer in -100..100, got True"),
    ('{"bits": 8, "signed": 1}', "param_str: signed must be true or false, got 1"),
    ('{"bits": 8, "signed": null}', "param_str: signed must be true or false, got None"),
])
def test_param_str_errors_word_for_word(text, msg):
    with pytest.raises(ValueError) as e:
        parse_param_str(text)
    assert str(e.value) == msg


def test_param_str_round_trip_and_defaults():
    from inq_layer.net.fixed_point_params import param_str
    assert param_str(8, 3, True) == '{"bits": 8, "f": 3, "signed": true}'
    assert param_str(8, None, False) == '{"bits": 8, "signed": false}'  # not calibrated yet
    for bits, f, signed in [(8, 3, True), (2, -100, False), (16, 100, True), (4, None, False), (4, 0, False)]:
        assert parse_param_str(param_str(bits, f, signed)) == {"bits": bits, "f": f, "signed": signed}
    assert parse_param_str('{"bits": 4}') == {"bits": 4, "f": None, "signed": False}


def test_one_bottom_and_one_top(tmp_path):
    import caffe
    path = tmp_path / "two.prototxt"
    path.write_text(NET.format(top="y", p=json.dumps({"bits": 8, "f": 1})).replace('bottom: "x"',
                    'bottom: "x" bottom: "x"'))
    with pytest.raises(Exception) as e:
        caffe.Net(str(path), caffe.TEST)
    assert str(e.value) == "FixedPoint takes one bottom and one top, got 2 and 1"


def test_top_follows_a_reshaped_input_and_without_f_the_gradient_passes(tmp_path):
    import caffe
    net = make(tmp_path, {"bits": 8, "signed": False}, phase=caffe.TRAIN)
    net.blobs["x"].reshape(1, 2, 3, 4)
    x = np.linspace(-300, 300, 24, dtype=np.float32).reshape(1, 2, 3, 4)
    net.blobs["x"].data[...] = x
    net.forward()
    assert net.blobs["y"].data.shape == (1, 2, 3, 4)
    g = np.arange(24, dtype=np.float32).reshape(1, 2, 3, 4) - 7
    net.blobs["y"].diff[...] = g
    net.backward()
    assert np.array_equal(net.blobs["x"].diff, g)
