"""Promises of a campaign that a wrong line would break silently, each tested as a user
sees it: every phase of a --keep-momentum campaign trains; non-finite starting weights are
refused before any work; a damaged solverstate is never used; a resumed campaign reports
what an uninterrupted one does; the free-space check counts bytes."""
import json
import os

import numpy as np
import pytest

from caffe_nets import lmdb_tiny, write_tiny
from driver_util import (assert_clean_error, caffemodel_params, interrupted, run_driver, same_models,
                         save_weights, states)


def test_every_phase_of_a_keep_momentum_campaign_trains_its_iterations(tmp_path):
    """Each phase starts at iteration 0 with the previous phase's history and trains
    max_iter iterations: its unfrozen weights move away from where quantization left them."""
    from inq_layer.campaign.state import snapshot_files
    import re
    solver = write_tiny(str(tmp_path), max_iter=6, snapshot=0)
    text = open(solver).read()
    open(solver, "w").write(text.replace("display: 3", "display: 1"))
    out = str(tmp_path / "o")
    r = run_driver("--solver", solver, "--init-from-fillers", "--campaign", "0.3,0.6,1", "--keep-momentum",
                   "--final-iters", "2", "--out", out)
    rep = json.load(open(os.path.join(out, "report.json")))
    assert rep["keep_momentum"] and [p["iterations"] for p in rep["phases"]] == [6, 6, 2]
    steps = [[int(i) for i in re.findall(r"\] Iteration (\d+), lr = ", phase)]  # each step the solver took
             for phase in re.split(r"\] Phase \d/3: ", r.stdout)[1:]]
    assert steps == [list(range(6)), list(range(6)), [0, 1]]
    assert [states(out, k)[-1][0] for k in (1, 2, 3)] == [6, 6, 2]  # the solver's own iteration count
    for k in (2, 3):
        before = caffemodel_params(snapshot_files(states(out, k - 1)[-1][1])[0])
        after = caffemodel_params(snapshot_files(states(out, k)[-1][1])[0])
        assert not np.array_equal(before["conv1"][1], after["conv1"][1])  # the bias trains in every phase


def test_a_keep_momentum_campaign_tests_the_weights_it_quantized(tmp_path):
    """The history a phase takes from the previous one moves no weight: the test after
    quantization sees what a campaign that resets the history quantized (phase 1 trains
    alike in both)."""
    solver = write_tiny(str(tmp_path), max_iter=3, snapshot=0, deterministic=True)
    reps = []
    for name, extra in (("plain", []), ("keep", ["--keep-momentum"])):
        out = str(tmp_path / name)
        run_driver("--solver", solver, "--init-from-fillers", "--campaign", "0.5,1", "--final-iters", "2",
                   "--out", out, *extra)
        reps.append(json.load(open(os.path.join(out, "report.json")))["phases"])
    plain, keep = reps
    assert keep[0] == {**plain[0], "seconds": keep[0]["seconds"]}
    assert keep[1]["test_after_quantize"] == plain[1]["test_after_quantize"]
    assert keep[1]["test_after_quantize"] != plain[0]["test_after_training"]  # quantizing changed the weights


def test_non_finite_starting_weights_are_refused_in_one_line(tmp_path):
    solver = write_tiny(str(tmp_path), max_iter=2, snapshot=0)
    for value, name in ((np.nan, "nan"), (np.inf, "inf"), (-np.inf, "minus_inf")):
        def poison(net, v=value):
            net.params["ip1"][0].data[0, 0] = v
        w = save_weights(tmp_path, solver, poison, name=f"{name}.caffemodel")
        out = tmp_path / f"o_{name}"
        r = run_driver("--solver", solver, "--weights", w, "--out", str(out), check=False)
        assert_clean_error(r)
        assert r.stderr.endswith(f"error: {w}: layer 'ip1' blob 0 contains NaN or Inf\n")
        assert not (out / "phase1" / "inq_iter_2.caffemodel").exists()


def _comparable(report: dict) -> dict:
    """report.json without what a resume may change: timings and the --out path."""
    rep = {k: v for k, v in report.items() if k != "final_model"}
    rep["phases"] = [{k: v for k, v in p.items() if k != "seconds"} for p in report["phases"]]
    return rep


def test_a_cut_solverstate_is_skipped_and_the_resumed_report_equals_an_uninterrupted_one(tmp_path):
    from inq_layer.campaign.state import snapshot_files
    solver = lmdb_tiny(tmp_path, max_iter=40, snapshot=5, test_interval=10)
    args = ["--solver", solver, "--init-from-fillers", "--campaign", "0.5,1", "--final-iters", "2"]
    ref, out = str(tmp_path / "ref"), str(tmp_path / "cut")
    run_driver(*args, "--out", ref)
    interrupted(args, out, 1, 20)
    newest_it, newest = max(states(out, 1))
    sstate = snapshot_files(newest)[1]
    with open(sstate, "r+b") as f:  # cut in half, as a full disk or a kill mid-write leaves it
        f.truncate(os.path.getsize(sstate) // 2)
    r = run_driver(*args, "--out", out, "--resume")
    assert f"skipping snapshot {newest}" in r.stdout and "resuming from an older one" in r.stdout
    assert f"(iteration {newest_it - 5})" in r.stdout
    assert same_models(os.path.join(ref, "final_inq.caffemodel"), os.path.join(out, "final_inq.caffemodel"))
    a, b = (json.load(open(os.path.join(d, "report.json"))) for d in (ref, out))
    assert _comparable(a) == _comparable(b)


def test_a_moved_campaign_resumes_on_its_own_files_and_remakes_a_lost_final_model(tmp_path):
    """--out moved elsewhere: a resume checks and reports the final model in the folder it
    is given, not the one the record was written in; without it, the last phase ends again
    from its end snapshot (no training) to the same model and report."""
    import shutil
    solver = write_tiny(str(tmp_path), max_iter=4, snapshot=0, deterministic=True)
    args = ["--solver", solver, "--init-from-fillers", "--campaign", "0.5,1", "--final-iters", "2"]
    first, moved = tmp_path / "first", tmp_path / "moved"
    run_driver(*args, "--out", str(first))
    shutil.copytree(first, moved)
    kept = (first / "final_inq.caffemodel").read_bytes()
    (first / "final_inq.caffemodel").write_bytes(b"not a model any more")
    r = run_driver(*args, "--out", str(moved), "--resume")
    assert f"final model: {moved}/final_inq.caffemodel" in r.stdout and "check passed" in r.stdout
    (moved / "final_inq.caffemodel").unlink()
    r = run_driver(*args, "--out", str(moved), "--resume")
    assert f"warning: {moved}/final_inq.caffemodel is missing; the last phase ends again from its snapshot" in r.stdout
    assert (moved / "final_inq.caffemodel").read_bytes() == kept
    a, b = (json.load(open(d / "report.json")) for d in (first, moved))
    assert _comparable(a) == _comparable(b) and b["final_model"] == f"{moved}/final_inq.caffemodel"
    assert [p["iterations"] for p in b["phases"]] == [4, 2]


def test_the_space_check_refuses_a_disk_one_byte_short_of_a_snapshot(tmp_path, monkeypatch, capsys):
    """The bytes a snapshot takes (caffemodel, solverstate, INQ state) measured on a net of
    1.1 million weights: a disk with one byte less is refused before Caffe writes."""
    import collections
    import shutil

    from driver_util import driver_module
    solver = write_tiny(str(tmp_path), max_iter=2, snapshot=2, hw=64, conv=96, batch=2)
    args = ["--solver", solver, "--init-from-fillers", "--campaign", "1", "--final-iters", "2"]
    drv = driver_module()
    first = str(tmp_path / "first")
    assert drv.main(args + ["--out", first]) == 0
    snap = [p for p in os.listdir(os.path.join(first, "phase1")) if p.startswith("inq_iter_2.")]
    need = sum(os.path.getsize(os.path.join(first, "phase1", p)) for p in snap)
    assert len(snap) == 3 and need > 8 * 2 ** 20  # the weights, not the 1 MiB of slack, dominate
    real, usage = shutil.disk_usage, collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10 ** 12, 10 ** 12 - need + 1, need - 1))
    capsys.readouterr()
    assert drv.main(args + ["--out", str(tmp_path / "short")]) == 2
    assert "no space left on device for a snapshot" in capsys.readouterr().err
    monkeypatch.setattr(shutil, "disk_usage", real)


@pytest.mark.parametrize("kind,histories", [("", 1), ('type: "Adam"\n', 2), ("solver_type: ADADELTA\n", 2)])
def test_the_space_check_asks_what_a_snapshot_can_take_and_no_more(tmp_path, monkeypatch, capsys, kind, histories):
    """A snapshot of the 1.1-million-weight net may take 4 bytes per parameter in the
    caffemodel and in each history its solver keeps (Adam and AdaDelta: two), 2 bytes per
    quantized weight of INQ codes and 1 MiB of framing: one byte less is refused before
    Caffe writes, that much is not."""
    from driver_util import disk_with, driver_module, param_counts
    solver = write_tiny(str(tmp_path), max_iter=2, snapshot=2, hw=64, conv=96, batch=2)
    text = open(solver).read()
    open(solver, "w").write(kind + text)
    floats, quantized = param_counts(str(tmp_path / "net.prototxt"))
    need = 4 * floats * (1 + histories) + 2 * quantized + 2 ** 20
    drv = driver_module()
    for k, (free, code) in enumerate([(need - 1, 2), (need, 0)]):
        out = str(tmp_path / f"o{k}")
        phase1 = os.path.join(out, "phase1")
        disk_with(monkeypatch, phase1, free)
        capsys.readouterr()
        assert drv.main(["--solver", solver, "--init-from-fillers", "--campaign", "1", "--out", out]) == code
        said = capsys.readouterr().err.splitlines()
        assert said[-1:] == ([f"error: {phase1}: no space left on device for a snapshot ({free:,} bytes free, about "
                              f"{need:,} needed); free space, then rerun with --resume (earlier snapshots are "
                              f"intact)"] if code else [])


def test_the_space_check_for_the_final_model_counts_its_bytes(tmp_path, monkeypatch, capsys):
    """The final model (a caffemodel of 1.1 million weights): a disk one byte short of it
    is refused before Caffe writes, one with room for it and 1 MiB more is not."""
    from driver_util import disk_with, driver_module
    solver = write_tiny(str(tmp_path), max_iter=2, snapshot=0, hw=64, conv=96, batch=2)
    args = ["--solver", solver, "--init-from-fillers", "--campaign", "1"]
    drv = driver_module()
    assert drv.main(args + ["--out", str(tmp_path / "first")]) == 0
    size = os.path.getsize(tmp_path / "first" / "final_inq.caffemodel")
    assert size > 4 * 2 ** 20
    for k, (free, code) in enumerate([(size - 1, 2), (size + 2 ** 20, 0)]):
        out = str(tmp_path / f"o{k}")  # only the folder the final model goes to is short
        disk_with(monkeypatch, out, free)
        capsys.readouterr()
        assert drv.main(args + ["--out", out]) == code
        assert ("no space left on device for the final model" in capsys.readouterr().err) == (code == 2)


def test_every_output_of_a_campaign_follows_the_umask(tmp_path):
    """As Caffe's own snapshots do: report.json, campaign.json, the models, the plot."""
    import stat
    solver = write_tiny(str(tmp_path), max_iter=2, snapshot=0)
    out = tmp_path / "o"
    old = os.umask(0o027)
    try:
        run_driver("--solver", solver, "--init-from-fillers", "--campaign", "1", "--out", str(out))
    finally:
        os.umask(old)
    files = [p for p in out.rglob("*") if p.is_file() and not p.name.startswith(".")]
    assert {"report.json", "campaign.json", "final_inq.caffemodel", "accuracy.png"} <= {p.name for p in files}
    assert {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in files} == {p.name: "0o640" for p in files}


BOOM = '''import caffe


class Boom(caffe.Layer):
    """Passes its input on, and fails at its fifth forward pass."""

    def setup(self, bottom, top):
        self.calls = 0

    def reshape(self, bottom, top):
        top[0].reshape(*bottom[0].data.shape)

    def forward(self, bottom, top):
        self.calls += 1
        if self.calls == 5:
            raise ZeroDivisionError("the user's own bug")
        top[0].data[...] = bottom[0].data

    def backward(self, top, propagate_down, bottom):
        bottom[0].diff[...] = top[0].diff
'''


def _boom_net(tmp_path):
    solver = write_tiny(str(tmp_path), max_iter=8, snapshot=2)
    (tmp_path / "boomlayer.py").write_text(BOOM)
    net = tmp_path / "net.prototxt"
    net.write_text(net.read_text().replace(
        'layer { name: "ip1"', 'layer { name: "boom" type: "Python" bottom: "conv1" top: "b" '
        'python_param { module: "boomlayer" layer: "Boom" } }\nlayer { name: "ip1"').replace(
        'type: "InnerProduct" bottom: "conv1"', 'type: "InnerProduct" bottom: "b"'))
    env = dict(os.environ, PYTHONPATH=f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    return solver, env


def test_a_users_python_layer_that_raises_is_one_line_with_its_frames(tmp_path):
    solver, env = _boom_net(tmp_path)
    out = tmp_path / "o"
    r = run_driver("--solver", solver, "--init-from-fillers", "--campaign", "1", "--final-iters", "8",
                   "--out", str(out), check=False, env=env)
    err = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert r.returncode == 2 and len(err) == 1 and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert "Python layer 'boom' (boomlayer.Boom) raised ZeroDivisionError: the user's own bug at iteration" in err[0]
    assert "boomlayer.py" in r.stderr and "raise ZeroDivisionError" in r.stderr  # the user's frame
    assert "inq_layer" not in r.stderr.split(err[0])[1]  # none of ours
    assert (out / "phase1" / "inq_iter_2.caffemodel").exists()  # the snapshot before it is kept


def test_resume_from_every_snapshot_of_phase_1_with_iter_size_2_is_bit_identical(tmp_path):
    """Phase 1 snapshotted at every iteration, iter_size 2 (two batches an iteration): a
    resume from each of its snapshots ends in the uninterrupted run's final model and
    report (the data layers fast-forwarded by iteration * iter_size batches)."""
    import shutil
    solver = lmdb_tiny(tmp_path, max_iter=12, snapshot=1, test_interval=4)
    with open(solver, "a") as f:
        f.write("iter_size: 2\n")
    args = ["--solver", solver, "--init-from-fillers", "--campaign", "0.5,1", "--final-iters", "2"]
    ref, cut = str(tmp_path / "ref"), str(tmp_path / "cut")
    run_driver(*args, "--out", ref)
    interrupted(args, cut, 1, 8)
    points = [it for it, _ in states(cut, 1) if it < 12]
    assert len(points) >= 8
    want = _comparable(json.load(open(os.path.join(ref, "report.json"))))
    for it in points:
        out = str(tmp_path / f"from{it}")
        shutil.copytree(cut, out)
        for later, state in states(out, 1):
            if later > it:
                for f in (state, state.replace(".inqstate.npz", ".caffemodel"),
                          state.replace(".inqstate.npz", ".solverstate")):
                    os.unlink(f)
        r = run_driver(*args, "--out", out, "--resume")
        assert f"(iteration {it})" in r.stdout
        assert same_models(os.path.join(ref, "final_inq.caffemodel"), os.path.join(out, "final_inq.caffemodel")), it
        assert _comparable(json.load(open(os.path.join(out, "report.json")))) == want, it


def test_a_users_python_layer_that_raises_in_calibration_is_one_line_too(tmp_path):
    """The same layer under --act-bits fails in the calibration's batches, before training."""
    solver, env = _boom_net(tmp_path)
    r = run_driver("--solver", solver, "--init-from-fillers", "--campaign", "1", "--act-bits", "8",
                   "--out", str(tmp_path / "o"), check=False, env=env)
    assert_clean_error(r, "Python layer 'boom' (boomlayer.Boom) raised ZeroDivisionError: the user's own bug "
                          "while calibrating the activation quantizers")
    assert "boomlayer.py" in r.stderr
