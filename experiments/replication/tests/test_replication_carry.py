"""experiments/replication/replication/carry.py: unfinished runs packed for the next checkout and unpacked there."""
import os
import sys
import time

import numpy as np

APP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # experiments/replication
ROOT = os.path.dirname(os.path.dirname(APP))
sys.path.insert(0, APP)

from replication import carry, layout  # noqa: E402


def _write(path, data=b"x"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def _snapshot(folder, it, damaged=False):
    from inq_layer.net.freezer import FrozenBlob
    from inq_layer.campaign.state import SnapshotState, save_snapshot_state
    base = os.path.join(folder, f"inq_iter_{it}")
    _write(base + ".caffemodel", b"model %d" % it)
    _write(base + ".solverstate", b"state %d" % it)
    blob = FrozenBlob("conv1", 0, -1, -4, np.zeros(4, np.uint16), None, 2)
    save_snapshot_state(base + ".inqstate.npz", SnapshotState(0, it, [blob]), base + ".caffemodel",
                        base + ".solverstate")
    if damaged:
        _write(base + ".caffemodel", b"cut")  # its hash no longer matches
    return base


def _fake_runs(out):
    from inq_layer.caffe_edge.caffe_io import pb2
    from inq_layer.campaign.report_schema import Phase
    from inq_layer.campaign.state import CampaignRecord, Record
    prefix = os.path.join(out, "float_resnet8_s3")
    _write(f"{prefix}_iter_938.solverstate", pb2().SolverState(iter=938).SerializeToString())
    _write(f"{prefix}_iter_938.caffemodel", b"float weights")
    _write(f"{prefix}_iter_1876.solverstate", b"\xff\xff")  # being written
    _write(f"{prefix}_iter_1876.caffemodel", b"newer weights")
    _write(prefix + ".log", b"I1202 log")
    run = os.path.join(out, "r2_mse_alexnet_s1")
    _snapshot(os.path.join(run, "phase1"), 50)
    _snapshot(os.path.join(run, "phase1"), 100)
    _snapshot(os.path.join(run, "phase2"), 50)
    _snapshot(os.path.join(run, "phase2"), 60, damaged=True)
    _write(os.path.join(run, "driver.log"), b"driver")
    ph = Phase(0.2, 0.2, 100, 1.0, {}, {}, {}, None, "phase1/inq_iter_100.inqstate.npz", None)
    CampaignRecord(os.path.join(run, "campaign.json"), Record({"campaign": ["0.2", "1"]}, phases=[ph])).save()


def _tree(folder):
    found = {}
    for d, _, files in os.walk(folder):
        for n in files:
            with open(os.path.join(d, n), "rb") as f:
                found[os.path.relpath(os.path.join(d, n), folder)] = f.read()
    return found


def test_unfinished_runs_come_back_on_a_fresh_checkout(tmp_path, monkeypatch):
    out, state = str(tmp_path / "out"), str(tmp_path / "state")
    monkeypatch.setattr(layout, "OUT", out)
    monkeypatch.setattr(carry, "OUT", out)
    monkeypatch.setattr(carry, "STATE", state)
    # which runs are kept is this test's, not docs/replication's: s3 unfinished needs its float model
    monkeypatch.setattr(carry, "_kept", lambda name: name not in ("r2_mse_alexnet_s1", "r2_mse_alexnet_s3"))
    _fake_runs(out)
    _write(os.path.join(state, "b5_s1.tar.gz"))  # a run kept since: its archive goes
    before = _tree(out)
    sizes = carry.save()
    assert {"float_resnet8_s3", "r2_mse_alexnet_s1"} <= set(sizes)
    assert not os.path.exists(os.path.join(state, "b5_s1.tar.gz"))

    os.rename(out, out + ".old")  # the next checkout has no build/
    assert set(carry.restore()) == set(sizes)
    after = _tree(out)
    run = "r2_mse_alexnet_s1/"
    expect = {"float_resnet8_s3_iter_938.solverstate", "float_resnet8_s3_iter_938.caffemodel", "float_resnet8_s3.log",
              run + "campaign.json", run + "driver.log"}
    expect |= {run + f"phase{k}/inq_iter_{it}.{ext}" for k, it in ((1, 100), (2, 50))
               for ext in ("caffemodel", "solverstate", "inqstate.npz")}
    assert set(after) == expect  # the newest resume points only, never a cut file
    assert all(after[k] == before[k] for k in after)
    assert carry.restore() == []  # a run that has files here is left alone
    packed, later = _tree(state), time.time() + 3600
    monkeypatch.setattr(time, "time", lambda: later)  # the next session packs it again
    assert carry.save() == sizes and _tree(state) == packed  # nothing moved: the same bytes


def test_a_finished_float_model_is_carried_alone(tmp_path, monkeypatch):
    out = str(tmp_path / "out")
    monkeypatch.setattr(layout, "OUT", out)
    _write(layout.float_path("resnet8", 2), b"final")
    _write(layout.float_prefix("resnet8", 2) + "_iter_938.caffemodel", b"old")
    assert carry.float_files("resnet8", 2) == [layout.float_path("resnet8", 2)]


def test_written_solvers_name_no_checkout_path(tmp_path, monkeypatch):
    """A carried campaign resumes only with the same solver bytes (--resume checks their
    hash): the net and snapshot paths are relative to the checkout, which runs work in."""
    from replication import runner
    monkeypatch.setattr(layout, "ROOT", str(tmp_path))  # a checkout elsewhere
    monkeypatch.setattr(layout, "OUT", str(tmp_path / "build" / "replicate_fashion"))
    for regime, net, seed in (("advice", "resnet8", None), ("float", "lenet", 2), ("alexnet", "lenet", None)):
        with open(runner.solver_file(regime, net, seed)) as f:
            text = f.read()
        assert str(tmp_path) not in text, text
        assert f'net: "{layout.NETS[net].prototxt}"' in text
