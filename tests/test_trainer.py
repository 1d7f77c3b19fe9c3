"""campaign/trainer.py: one phase of training in `caffe train`'s order (a display after
iteration i with i % display == 0, a test before iteration i > 0 with i % test_interval == 0,
a snapshot once the iteration count reaches a multiple of snapshot, none at the end: the
campaign tests and snapshots each phase's end itself), and divergence caught before a
snapshot could keep it."""
import io
import re
import types

import numpy as np
import pytest

from caffe_nets import write_tiny
from driver_util import log_messages
from inq_layer.caffe_edge.log_format import CaffeLog
from inq_layer.caffe_edge.solver_config import caffe_solver_text, load_solver
from inq_layer.campaign import trainer
from inq_layer.errors import InqError
from inq_layer.net.freezer import Freezer


def _solver(tmp_path, edits=(), net_edits=(), **kw):
    import caffe
    caffe.set_mode_cpu()
    path = write_tiny(str(tmp_path), **kw)
    net = tmp_path / "net.prototxt"
    for old, new in net_edits:
        assert old in net.read_text()
        net.write_text(net.read_text().replace(old, new))
    text = open(path).read()
    for old, new in edits:
        assert old in text
        text = text.replace(old, new)
    open(path, "w").write(text)
    cfg = load_solver(path)
    run = tmp_path / "run.prototxt"
    run.write_text(caffe_solver_text(cfg, str(tmp_path / "snap"), cfg.max_iter))
    return caffe.get_solver(str(run)), cfg


def _said(out: io.StringIO) -> list[str]:
    return log_messages(out.getvalue())


def test_display_test_and_snapshot_come_in_caffes_order(tmp_path):
    solver, cfg = _solver(tmp_path, max_iter=12, snapshot=4, test_interval=5)  # display 3, lr x0.5 at 7
    out = io.StringIO()
    log = CaffeLog(out)
    trainer.train_phase(solver, cfg, Freezer({}), 12, log, lambda it: log(f"snapshot {it}"))
    said = _said(out)
    events = [m for m in said if m.startswith(("snapshot", "Iteration")) and ", lr = " not in m]
    assert [e.split(" (")[0].split(",")[0] for e in events] == [
        "Iteration 0", "Iteration 3", "snapshot 4", "Iteration 5", "Iteration 6", "snapshot 8", "Iteration 9",
        "Iteration 10"]  # no snapshot at 12, the end
    assert "Iteration 5, Testing net (#0)" in said and said.count("Iteration 5, Testing net (#0)") == 1
    assert [m for m in said if ", lr = " in m] == ["Iteration 0, lr = 0.01", "Iteration 3, lr = 0.01",
                                                  "Iteration 6, lr = 0.01", "Iteration 9, lr = 0.005"]
    shown = [m for m in said if m.startswith("Iteration 9 (")]
    assert len(shown) == 1 and shown[0].endswith(f"iter/s), loss = {float(shown[0].split('= ')[1]):.6g}")
    i = said.index(shown[0])
    assert said[i + 1] == f"    Train net output #0: loss = {shown[0].split('= ')[1]}"  # loss weight 1
    assert solver.iter == 12


def test_the_logged_rate_counts_every_iteration_of_the_phase_so_far(tmp_path, monkeypatch):
    """iter/s at a display: the iterations since the phase started over the time since
    then (a clock that reads 100 s at the start and advances 2 s at each reading)."""
    readings = iter(range(100, 200, 2))
    monkeypatch.setattr(trainer, "time", types.SimpleNamespace(perf_counter=lambda: float(next(readings))))
    solver, cfg = _solver(tmp_path, max_iter=12, snapshot=0, test_interval=0)  # display 3
    out = io.StringIO()
    trainer.train_phase(solver, cfg, Freezer({}), 12, CaffeLog(out), lambda it: None)
    rates = re.findall(r"^Iteration (\d+) \(([\d.]+) iter/s\)", "\n".join(_said(out)), re.M)
    assert rates == [("0", "0.5"), ("3", "1"), ("6", "1.167"), ("9", "1.25")]  # 1/2, 4/4, 7/6, 10/8


def test_the_logged_loss_weighs_each_output_as_caffe_does(tmp_path):
    """An accuracy in the training net is an output of loss weight 0: the logged loss is the
    loss alone, and the accuracy is shown as a train output beside it."""
    solver, cfg = _solver(tmp_path, max_iter=4, snapshot=0, test_interval=0, edits=[("display: 3", "display: 1")],
                          net_edits=[(" include { phase: TEST }", "")])
    out = io.StringIO()
    trainer.train_phase(solver, cfg, Freezer({}), 4, CaffeLog(out), lambda it: None)
    said = _said(out)
    for it in range(4):
        shown = [m for m in said if m.startswith(f"Iteration {it} (")]
        outs = dict(m.split(": ")[1].split(" = ") for m in said[said.index(shown[0]) + 1:][:2])
        assert set(outs) == {"accuracy", "loss"} and shown[0].endswith(f"loss = {outs['loss']}")


def test_a_test_interval_of_1_tests_before_every_iteration_but_the_first(tmp_path):
    solver, cfg = _solver(tmp_path, max_iter=4, snapshot=0, test_interval=1)
    out = io.StringIO()
    trainer.train_phase(solver, cfg, Freezer({}), 4, CaffeLog(out), lambda it: None)
    assert [m for m in _said(out) if "Testing net" in m] == [f"Iteration {i}, Testing net (#0)" for i in (1, 2, 3)]


def test_without_intervals_a_phase_runs_in_one_block_and_logs_nothing(tmp_path):
    solver, cfg = _solver(tmp_path, max_iter=6, snapshot=0, test_interval=0, edits=[("display: 3", "display: 0")])
    out = io.StringIO()
    trainer.train_phase(solver, cfg, Freezer({}), 6, CaffeLog(out), lambda it: None)
    assert solver.iter == 6 and out.getvalue() == ""


@pytest.mark.parametrize("it, stop", [(0, 1), (1, 4), (3, 4), (4, 5), (5, 7), (7, 8), (8, 10), (9, 10)])
def test_each_block_ends_at_the_next_display_test_snapshot_or_the_end(it, stop):
    p = types.SimpleNamespace(test_interval=5, display=3, snapshot=4)
    assert trainer._next_stop(p, it, 10) == stop
    off = types.SimpleNamespace(test_interval=0, display=0, snapshot=0)
    assert trainer._next_stop(off, it, 10) == 10


def test_tests_before_an_iteration():
    cfg = types.SimpleNamespace(param=types.SimpleNamespace(test_interval=5))
    assert [trainer.tests_before(cfg, it) for it in (0, 1, 5, 6, 10, 11, 16)] == [0, 0, 0, 1, 1, 2, 3]
    cfg.param.test_interval = 0
    assert trainer.tests_before(cfg, 11) == 0


def test_fast_forward_runs_only_the_data_layers(tmp_path):
    extra = ('layer { name: "extra" type: "DummyData" top: "extra" dummy_data_param { shape { dim: 8 dim: 3 } '
             'data_filler { type: "gaussian" } } }\nlayer { name: "conv1"')
    solver, _ = _solver(tmp_path, max_iter=2, net_edits=[('layer { name: "conv1"', extra)])
    net = solver.net
    assert trainer.fast_forward_data(net, 0) == 2 and not net.blobs["data"].data.any()
    assert trainer.fast_forward_data(net, 1) == 2  # both leading layers, one batch
    assert net.blobs["data"].data.any() and net.blobs["extra"].data.any() and not net.blobs["ip1"].data.any()
    only = tmp_path / "only_data.prototxt"
    only.write_text('layer { name: "a" type: "DummyData" top: "a" dummy_data_param { shape { dim: 2 } } }\n'
                    'layer { name: "b" type: "DummyData" top: "b" dummy_data_param { shape { dim: 2 } } }\n')
    import caffe
    assert trainer.fast_forward_data(caffe.Net(str(only), caffe.TEST), 1) == 2  # every layer leads


def test_a_nan_weight_or_loss_stops_with_one_line(tmp_path):
    solver, cfg = _solver(tmp_path, max_iter=4)
    solver.step(2)
    solver.net.params["ip1"][0].data[0, 0] = np.inf
    with pytest.raises(InqError) as e:
        trainer.check_finite(solver, cfg)
    assert str(e.value) == (f"training diverged at iteration 1 (loss nan; layer 'ip1' holds NaN or Inf); lower "
                            f"base_lr in {cfg.path} (the snapshots before it are kept)")
    solver, cfg = _solver(tmp_path, max_iter=9, edits=[("base_lr: 0.01", "base_lr: 1e38")])
    snaps = []
    with pytest.raises(InqError) as e:
        trainer.train_phase(solver, cfg, Freezer({}), 9, CaffeLog(io.StringIO()), snaps.append)
    text = str(e.value)
    assert text.startswith("training diverged at iteration ") and snaps == []
    assert text.endswith(f" (loss nan); lower base_lr in {cfg.path} (the snapshots before it are kept)") or \
        text.endswith(f" (loss inf); lower base_lr in {cfg.path} (the snapshots before it are kept)")


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_terminal_gets_a_progress_bar_of_the_phase_and_a_log_file_none(tmp_path, monkeypatch):
    import sys
    solver, cfg = _solver(tmp_path, max_iter=12, snapshot=0)
    solver.step(4)  # a resumed phase: the bar starts where it stands
    term = _Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    monkeypatch.setenv("TQDM_MININTERVAL", "0")  # draw every update
    trainer.train_phase(solver, cfg, Freezer({}), 12, CaffeLog(io.StringIO()), lambda it: None, label="phase 2/3")
    draws = [d for d in term.getvalue().split("\r") if d.strip()]
    assert all(d.startswith("phase 2/3: ") for d in draws)
    assert all(re.search(r"[?\d.]+(it/s|s/it)\]$", d) for d in draws), draws  # tqdm's rate, in iterations
    done = [int(re.search(r" (\d+)/12 \[", d).group(1)) for d in draws]
    assert done[0] == 4 and len(done) >= 2 and done == sorted(set(done)) and done[-1] <= 12
    assert term.getvalue().endswith("\r")  # cleared at the end (leave=False)
    plain = io.StringIO()
    monkeypatch.setattr(sys, "stderr", plain)
    (tmp_path / "b").mkdir()
    solver, cfg = _solver(tmp_path / "b", max_iter=2, snapshot=0)
    trainer.train_phase(solver, cfg, Freezer({}), 2, CaffeLog(io.StringIO()), lambda it: None, label="phase 1/1")
    assert plain.getvalue() == ""
    term = _Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    (tmp_path / "c").mkdir()
    solver, cfg = _solver(tmp_path / "c", max_iter=2, snapshot=0)
    trainer.train_phase(solver, cfg, Freezer({}), 2, CaffeLog(io.StringIO()), lambda it: None)
    draws = [d for d in term.getvalue().split("\r") if d.strip()]
    assert draws and all(re.match(r"^ *\d+%\|", d) for d in draws), draws  # no label: the bar alone


RAISES = """import caffe


class Raises(caffe.Layer):
    def setup(self, bottom, top):
        pass

    def reshape(self, bottom, top):
        top[0].reshape(*bottom[0].data.shape)

    def forward(self, bottom, top):
        raise KeyError("only in the test net")

    def backward(self, top, propagate_down, bottom):
        pass
"""


def test_a_users_layer_failing_in_a_test_pass_names_the_iteration(tmp_path, monkeypatch):
    (tmp_path / "raiser.py").write_text(RAISES)
    monkeypatch.syspath_prepend(str(tmp_path))
    layer = ('layer { name: "r" type: "Python" bottom: "conv1" top: "conv1r" python_param { module: "raiser" '
             'layer: "Raises" } include { phase: TEST } }\nlayer { name: "acc"')
    solver, cfg = _solver(tmp_path, max_iter=2, net_edits=[('layer { name: "acc"', layer)])
    with pytest.raises(InqError) as e:
        trainer.test_and_log(solver, cfg, CaffeLog(io.StringIO()), 7)
    assert str(e.value) == "Python layer 'r' (raiser.Raises) raised KeyError: 'only in the test net' at iteration 7"
