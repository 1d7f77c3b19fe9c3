"""probe: what Caffe would abort on, tried in a child first; the child's death becomes one
line with Caffe's own reason, and the parameter shapes Caffe computes come from a child too."""
import pytest

from caffe_nets import write_tiny
from inq_layer.caffe_edge import probe
from inq_layer.errors import InqError

GLOG_DEATH = """I1207 10:00:00.000001  4242 net.cpp:50] Initializing net
F1207 10:00:00.000002  4242 layer.hpp:10] Check failed: a == b (1 vs. 2) first
F1207 10:00:00.000003  4242 net.cpp:99] Check failed: bottom blob 'x' (2 vs. 3) last
*** Check failure stack trace: ***
    @     0x7f00 google::LogMessage::Fail()
"""


@pytest.mark.parametrize("stderr, reason", [
    (GLOG_DEATH, "bottom blob 'x' (2 vs. 3) last"),
    ("F1207 10:00:00.000003  4242 net.cpp:99] Unknown bottom blob 'y'\n", "Unknown bottom blob 'y'"),
    ("Traceback (most recent call last):\n  File \"x\", line 1\nValueError: no\nI1207 ok\n", "ValueError: no"),
    ("W1207 warned\n*** Aborted at 1 ***\n    @ 0x1 f\n", "the process ended with status -6"),
    ("RuntimeError: bad\n*** Aborted at 1 ***\n    @ 0x1 f\n  x\n", "RuntimeError: bad"),
    ("Traceback (most recent call last):\n  File \"<string>\", line 1\nImportError: no caffe\n",
     "ImportError: no caffe"),
    ("I1207 10:00:00.1 1 a.cpp:1] x\nWarning: w\nW1207 10:00:00.1 1 a.cpp:1] w\n", "Warning: w"),
    ("E1207 10:00:00.1 1 a.cpp:1] cannot open x\nI1207 10:00:00.1 1 a.cpp:1] i\n",
     "E1207 10:00:00.1 1 a.cpp:1] cannot open x"),
    ("", "the process ended with status -6"),
])
def test_caffes_reason_from_a_dead_child(stderr, reason):
    assert probe.caffe_reason(stderr, -6) == reason


def test_a_python_layers_own_error_is_the_reason(tmp_path):
    net = tmp_path / "p.prototxt"
    net.write_text('layer { name: "in" type: "Input" top: "x" input_param { shape { dim: 1 dim: 2 } } }\n'
                   'layer { name: "p" type: "Python" bottom: "x" top: "y" '
                   'python_param { module: "no_such_module_here" layer: "L" } }\n')
    with pytest.raises(InqError) as e:
        probe.try_net(str(net), "p.prototxt")
    assert str(e.value) == ("p.prototxt: Caffe cannot build this net: "
                            "ModuleNotFoundError: No module named 'no_such_module_here'")


def test_run_child_says_ok_or_caffes_reason(tmp_path):
    assert probe.run_child("import sys; sys.exit(0)") == (True, "")
    assert probe.run_child("import sys; print(sys.argv[1:]); raise SystemExit(sys.argv[1])", "why") == (False, "why")
    net = tmp_path / "bad.prototxt"
    net.write_text('layer { name: "r" type: "ReLU" bottom: "nowhere" top: "r" }\n')
    with pytest.raises(InqError) as e:
        probe.try_net(str(net), "shown.prototxt")
    assert str(e.value) == ("shown.prototxt: Caffe cannot build this net: "
                            "Unknown bottom blob 'nowhere' (layer 'r', bottom index 0)")


def test_try_solver_builds_in_a_child_on_the_cpu(tmp_path):
    solver = write_tiny(str(tmp_path))
    probe.try_solver(solver, "s", None)
    probe.try_net(str(tmp_path / "net.prototxt"), "n")
    (tmp_path / "net.prototxt").write_text((tmp_path / "net.prototxt").read_text().replace('bottom: "conv1" top: "ip1"',
                                                                                        'bottom: "none" top: "ip1"'))
    with pytest.raises(InqError) as e:
        probe.try_solver(solver, "shown.prototxt", None)
    assert str(e.value).startswith("shown.prototxt: Caffe cannot build this solver or its nets: "
                                   "Unknown bottom blob 'none'")


def test_param_shapes_as_caffe_computes_them(tmp_path):
    write_tiny(str(tmp_path), hw=8, conv=4)
    assert probe.param_shapes(str(tmp_path / "net.prototxt")) == {
        "conv1": [(4, 1, 3, 3), (4,)], "bn1": [(4,), (4,), (1,)], "ip1": [(3, 144), (3,)]}
    bad = tmp_path / "bad.prototxt"
    bad.write_text('layer { name: "r" type: "ReLU" bottom: "nowhere" top: "r" }\n')
    assert probe.param_shapes(str(bad)) is None


def test_param_shapes_of_a_net_without_parameters(tmp_path):
    empty = tmp_path / "empty.prototxt"
    empty.write_text('name: "e"\n')
    assert probe.param_shapes(str(empty)) == {}


def test_a_gpu_device_is_asked_once(monkeypatch):
    calls = []

    def child(code, *args):
        calls.append(code)
        return (False, "no GPU")
    monkeypatch.setattr(probe, "run_child", child)
    monkeypatch.delitem(probe._GPU, 3, raising=False)  # the module's own record of devices tried
    assert probe.gpu_usable(3) is False and probe.gpu_usable(3) is False
    assert calls == ["import caffe; caffe.set_device(3); caffe.set_mode_gpu(); caffe.Net"]


def test_the_device_a_solver_is_tried_on(monkeypatch):
    seen = []
    monkeypatch.setattr(probe, "run_child", lambda code, *args: seen.append((code, args)) or (True, ""))
    probe.try_solver("s.prototxt", "s", 1)
    probe.try_solver("s.prototxt", "s", None)
    assert seen == [("import sys, caffe; caffe.set_device(1); caffe.set_mode_gpu(); caffe.get_solver(sys.argv[1])",
                     ("s.prototxt",)),
                    ("import sys, caffe; caffe.set_mode_cpu(); caffe.get_solver(sys.argv[1])", ("s.prototxt",))]


def test_a_build_gets_minutes_never_forever():
    assert isinstance(probe.BUILD_TIMEOUT, int) and 60 <= probe.BUILD_TIMEOUT <= 3600


def test_shapes_are_checked_against_what_caffe_computes(tmp_path):
    """ip1's stated num_output fits a 3 x 100 blob; only the shape Caffe computes from the
    input (3 x 144) refuses it."""
    from inq_layer.caffe_edge.caffe_io import read_net
    write_tiny(str(tmp_path), hw=8, conv=4)
    path = str(tmp_path / "net.prototxt")
    good = {"conv1": [(4, 1, 3, 3), (4,)], "ip1": [(3, 144), (3,)]}
    probe.check_shapes(path, read_net(path), good, "w.caffemodel")
    wrong = {**good, "ip1": [(3, 100), (3,)]}
    with pytest.raises(InqError) as e:
        probe.check_shapes(path, read_net(path), wrong, "w.caffemodel")
    assert "'ip1'" in str(e.value) and "(3, 100)" in str(e.value) and "(3, 144)" in str(e.value)
