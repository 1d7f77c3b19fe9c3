"""campaign/activations.py: the rewritten net and its solver, calibration on the weights
given, the quantizers passing values through for the float test, the saturation counted
over every test net, and the refusals, word for word."""
import types

import pytest

from caffe_nets import lmdb_tiny
from inq_layer.caffe_edge.solver_config import load_solver
from inq_layer.campaign.activations import Activations
from inq_layer.errors import InqError
from inq_layer.options import QuantOptions


def made(tmp_path, phases=2, **kw):
    solver = lmdb_tiny(tmp_path, max_iter=2, snapshot=0)
    net = tmp_path / "net.prototxt"  # without its BatchNorm, conv1's output follows its weights
    bn = 'layer { name: "bn1" type: "BatchNorm" bottom: "conv1" top: "conv1" }\n'
    net.write_text(net.read_text().replace(bn, ""))
    cfg = load_solver(solver)
    out = tmp_path / "o"
    out.mkdir()
    return cfg, Activations(cfg, str(out), QuantOptions(act_bits=8, **kw), phases)


def test_the_solver_trains_the_rewritten_net_and_the_users_is_untouched(tmp_path):
    cfg, a = made(tmp_path)
    net = str(tmp_path / "net.prototxt")
    assert a.path == str(tmp_path / "o" / "inq_net.prototxt")
    assert a.cfg.net_path == a.cfg.param.net == a.path
    assert cfg.net_path == cfg.param.net == net and a.cfg.path == cfg.path
    assert [(q.name, q.bottom) for q in a.quantizers] == [("data_q", "data"), ("conv1_q", "conv1")]
    assert (a.first_phase(), [a.active(k) for k in range(2)]) == (0, [True, True])
    (tmp_path / "end").mkdir()
    _, end = made(tmp_path / "end", phases=3, act_from="end")
    assert (end.first_phase(), [end.active(k) for k in range(3)]) == (2, [False, False, True])


@pytest.mark.parametrize("field", ["train_net", "test_net"])
def test_a_solver_with_other_net_files_is_refused(tmp_path, field):
    solver = lmdb_tiny(tmp_path, max_iter=2, snapshot=0)
    text = open(solver).read()
    path = tmp_path / "other.prototxt"
    extra = f'test_net: "{tmp_path / "net.prototxt"}"\n' if field == "test_net" else ""
    path.write_text(text.replace("net:", "train_net:") if field == "train_net" else text + extra)
    cfg = load_solver(str(path))
    with pytest.raises(InqError) as e:
        Activations(cfg, str(tmp_path), QuantOptions(act_bits=8), 1)
    assert str(e.value) == (f"{path}: --act-bits needs the solver to name one net file with `net:` "
                            "(train_net/test_net are not rewritten)")


def test_calibration_reads_the_given_weights(tmp_path):
    """conv1's weights and bias 16 times larger: its ReLU's output is 16 times larger, so
    the max rule's f is 4 less; the data's is the same."""
    import caffe
    from inq_layer.caffe_edge.caffe_io import read_net
    from inq_layer.net.act_placement import calibrated
    caffe.set_mode_cpu()
    _, a = made(tmp_path, act_calibration="max", act_calibration_batches=2)
    a.write(None)  # as the campaign does: the net with quantizers not calibrated yet
    net = caffe.Net(a.path, caffe.TRAIN)
    weights = {k: str(tmp_path / f"{k}.caffemodel") for k in ("w", "w16")}
    net.save(weights["w"])
    for b in net.params["conv1"]:
        b.data[...] *= 16
    net.save(weights["w16"])
    del net
    got = {k: a.calibrate(caffe, w) for k, w in weights.items()}
    assert set(got["w"]) == {"data_q", "conv1_q"} and got["w"]["data_q"]["blob"] == "data"
    assert got["w16"]["conv1_q"]["f"] == got["w"]["conv1_q"]["f"] - 4
    assert got["w16"]["data_q"] == got["w"]["data_q"]
    assert {n: (q["bits"], q["f"], q["signed"]) for n, q in got["w16"].items()} == \
        {n: (p["bits"], p["f"], p["signed"]) for n, _, p in calibrated(read_net(a.path), a.path)}
    assert set(a.calibrate(caffe, None)) == {"data_q", "conv1_q"}  # the fillers'


def test_a_record_of_other_quantizers_is_refused(tmp_path):
    _, a = made(tmp_path)
    with pytest.raises(InqError) as e:
        a.write({"x_q": {"bits": 8, "f": 1, "signed": False}})
    assert str(e.value) == (f"{tmp_path / 'o'}: the campaign record's quantizers ['x_q'] are not the ones the "
                            "net gets now ['conv1_q', 'data_q']; use another --out")


class Layer:
    def __init__(self, f, seen, saturated):
        self.f, self.seen, self.saturated = f, seen, saturated


def nets():
    names = ["data", "data_q", "conv1_q", "other"]
    return [types.SimpleNamespace(_layer_names=names, layers=[Layer(1, 9, 9), Layer(3, 10, 2), Layer(4, 0, 0),
                                                              Layer(5, 7, 7)]),
            types.SimpleNamespace(_layer_names=names, layers=[Layer(1, 9, 9), Layer(3, 30, 3), Layer(4, 5, 0),
                                                              Layer(5, 7, 7)])]


def test_saturation_over_every_test_net_and_none_where_nothing_was_seen(tmp_path):
    _, a = made(tmp_path)
    two = nets()
    assert a.saturated(two) == {"data_q": 5 / 40, "conv1_q": 0.0}
    assert a.saturated(two[:1]) == {"data_q": 2 / 10, "conv1_q": None}  # saw nothing: not 0
    a.reset_counts(two[0])
    assert [(ly.seen, ly.saturated) for ly in two[0].layers] == [(9, 9), (0, 0), (0, 0), (7, 7)]
    assert a.saturated(two) == {"data_q": 3 / 30, "conv1_q": 0.0}


def test_quantizers_pass_values_through_meanwhile_and_get_their_f_back(tmp_path):
    _, a = made(tmp_path)
    two = nets()
    with a.passing(two):
        assert [[ly.f for ly in n.layers] for n in two] == [[1, None, None, 5]] * 2
    assert [[ly.f for ly in n.layers] for n in two] == [[1, 3, 4, 5]] * 2
    with pytest.raises(KeyError):
        with a.passing(two):
            raise KeyError("a failing test pass")
    assert [[ly.f for ly in n.layers] for n in two] == [[1, 3, 4, 5]] * 2
