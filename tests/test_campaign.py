"""campaign.py's settings: what a resume compares, what the log says, how long each phase
trains, and which files a resume checks by content."""
import hashlib
import os
import types

import pytest

import dataclasses

from inq_layer.campaign.phases import Settings, inputs_of
from inq_layer.options import QuantOptions
from inq_layer.errors import InqError
from inq_layer.campaign.state import CampaignRecord, Record


def _settings(**kw):
    """Settings with the QuantOptions fields of `kw` in its options, the rest its own."""
    names = {f.name for f in dataclasses.fields(QuantOptions)}
    opts = QuantOptions(**{k: v for k, v in kw.items() if k in names})
    own = {"out": "unused", **{k: v for k, v in kw.items() if k not in names}}
    return Settings(campaign=["0.5", "0.75", "1"], options=opts, **own)


def test_record_holds_every_option_that_shapes_the_results():
    s = _settings(bits=2, n1_rule="mse", seed=3, max_iter=40, inputs={"solver_sha256": "ab"})
    rec = s.record()
    assert rec == {"max_iter": 40, "solver_sha256": "ab", "campaign": ["0.5", "0.75", "1"], "bits": 2,
                   "rule": "paper", "strategy": "magnitude", "seed": 3, "quantize": "default",
                   "keep_momentum": False, "n1_rule": "mse", "keep_zeros": False, "final_iters": 1}
    # Layer bits appear only when given, so records written without them compare equal.
    assert _settings(layer_bits={"ip": 8, "conv1": 8}).record()["layer_bits"] == {"conv1": 8, "ip": 8}


def test_a_library_settings_runs_as_the_driver_without_options():
    """Settings(campaign, out) alone: the driver's defaults (the solver's max_iter, 1 final
    iteration, momentum reset each phase, the solver's device, the net's fillers)."""
    from inq_layer.tools.driver import build_parser
    a = build_parser().parse_args(["--solver", "s.prototxt"])
    s = Settings(campaign=["1"], out="o")
    assert (s.max_iter, s.final_iters, s.keep_momentum, s.gpu) == (a.max_iter, a.final_iters, a.keep_momentum, a.gpu)
    assert (s.weights, s.inputs, s.options) == (None, {}, QuantOptions())
    assert s.record() == {"max_iter": None, "campaign": ["1"], "keep_momentum": False, "final_iters": 1,
                          **QuantOptions().record()}


def test_resume_with_other_layer_bits_is_refused(tmp_path):
    rec = CampaignRecord(str(tmp_path / "campaign.json"), Record(_settings(layer_bits={"conv1": 8}).record()))
    rec.check_same(_settings(layer_bits={"conv1": 8}).record())
    for other in ({}, {"conv1": 4}, {"conv1": 8, "ip": 8}):
        with pytest.raises(InqError, match="layer_bits"):
            rec.check_same(_settings(layer_bits=other).record())


def test_describe_and_phase_lengths():
    s = _settings(bits=3, layer_bits={"conv1": 8}, final_iters=2)
    assert s.describe() == ("INQ campaign 0.5,0.75,1 (3 bits, conv1=8, paper rule, magnitude partition, "
                            "n1 rule max)")
    cfg = types.SimpleNamespace(max_iter=100)
    assert [s.iters(cfg, k) for k in range(3)] == [100, 100, 2]  # the last phase only finishes
    assert [_settings(max_iter=7).iters(cfg, k) for k in range(3)] == [7, 7, 1]


def test_unfrozen_is_counted_only_by_the_reference_rule():
    assert _settings().unfrozen({"a": 1}, {"a": 1}) is None
    assert _settings(rule="reference").unfrozen(None, {}) is None


def test_inputs_are_the_files_by_content(tmp_path):
    solver, net, test_net, weights = (tmp_path / n for n in ("s.prototxt", "n.prototxt", "t.prototxt", "w"))
    for p, text in ((solver, b"solver"), (net, b"net"), (test_net, b"test net"), (weights, b"weights")):
        p.write_bytes(text)
    cfg = types.SimpleNamespace(path=str(solver), net_path=str(net),
                                param=types.SimpleNamespace(test_net=[str(test_net)]))
    got = inputs_of(cfg, str(weights))
    assert got == {"solver_sha256": hashlib.sha256(b"solver").hexdigest(),
                   "net_sha256": hashlib.sha256(b"net" + b"test net").hexdigest(),
                   "weights_sha256": hashlib.sha256(b"weights").hexdigest()}
    assert inputs_of(cfg, None)["weights_sha256"] is None
    test_net.unlink()
    test_net.mkdir()
    with pytest.raises(InqError) as e:
        inputs_of(cfg, None)
    assert str(e.value) == f"{test_net}: is a directory, expected a regular net prototxt file"


def test_a_library_campaign_without_gpu_runs_where_the_solver_says(tmp_path, monkeypatch):
    """Settings built without `gpu` (a library user's own run) follow the solver's
    solver_mode: CPU here, no GPU probe; without options, the default QuantOptions."""
    import io

    from caffe_nets import write_tiny
    from inq_layer.caffe_edge.log_format import CaffeLog
    from inq_layer.caffe_edge.solver_config import load_solver
    from inq_layer.campaign.phases import Campaign
    cfg = load_solver(write_tiny(str(tmp_path)))
    s = Settings(campaign=["1"], out=str(tmp_path / "o"))
    c = Campaign(cfg, s, CaffeLog(io.StringIO()))
    monkeypatch.setattr("inq_layer.campaign.phases.gpu_usable", lambda device: pytest.fail("a GPU probe"))
    c._choose_device()
    assert c.device is None and cfg.param.solver_mode == 0
    assert s.options == QuantOptions() and s.record()["bits"] == 5 and s.final_name == "final_inq.caffemodel"
    assert c.record.data.init_from_fillers  # no weights given: the net's fillers


def test_a_usable_gpu_is_the_one_every_solver_runs_on(tmp_path, monkeypatch):
    """--gpu N on a Caffe that can use it: the mode is set once, and the child that tries
    the first solver runs on that GPU too (a stand-in caffe: this one is CPU-only)."""
    import io

    from caffe_nets import write_tiny
    from inq_layer.caffe_edge.log_format import CaffeLog
    from inq_layer.caffe_edge.solver_config import load_solver
    from inq_layer.campaign.phases import Campaign
    cfg = load_solver(write_tiny(str(tmp_path)))
    c = Campaign(cfg, Settings(campaign=["1"], out=str(tmp_path / "o"), gpu=1), CaffeLog(io.StringIO()))
    calls, tried = [], []
    c.caffe = types.SimpleNamespace(set_device=lambda d: calls.append(d), set_mode_gpu=lambda: calls.append("gpu"),
                                    set_mode_cpu=lambda: calls.append("cpu"))
    monkeypatch.setattr("inq_layer.campaign.phases.gpu_usable", lambda device: device == 1)
    monkeypatch.setattr("inq_layer.campaign.phases.try_solver", lambda path, shown, device: tried.append(device))
    c._choose_device()
    c._try_in_child()
    assert calls == [1, "gpu"] and c.device == 1 and tried == [1]


def test_what_a_campaign_leaves_before_its_record_is_its_own(tmp_path, monkeypatch):
    """A run stopped after trying its first solver (phase1/, the scratch folder) and before
    campaign.json exists leaves an --out that the next run takes as its own."""
    import io

    from caffe_nets import write_tiny
    from inq_layer.caffe_edge.log_format import CaffeLog
    from inq_layer.caffe_edge.solver_config import load_solver
    from inq_layer.campaign.inputs import writable_out
    from inq_layer.campaign.phases import Campaign
    out = str(tmp_path / "o")
    c = Campaign(load_solver(write_tiny(str(tmp_path))), Settings(campaign=["1"], out=out), CaffeLog(io.StringIO()))
    monkeypatch.setattr("inq_layer.campaign.phases.try_solver", lambda path, shown, device: None)
    c._choose_device()
    c._try_in_child()
    assert sorted(os.listdir(out)) == [".inq_scratch", "phase1"]
    assert writable_out(out, []) == out


def test_a_finished_record_whose_final_model_is_gone_reads_as_unfinished(tmp_path):
    """The last phase is taken off the record to end again, and the record says no final
    model (None, as an unfinished campaign's), so another interruption resumes it alike."""
    import io

    from caffe_nets import write_tiny
    from driver_util import run_driver
    from inq_layer.caffe_edge.log_format import CaffeLog
    from inq_layer.caffe_edge.solver_config import load_solver
    from inq_layer.campaign.phases import Campaign
    solver = write_tiny(str(tmp_path), max_iter=2, snapshot=0)
    out = tmp_path / "o"
    run_driver("--solver", solver, "--init-from-fillers", "--campaign", "0.5,1", "--out", str(out))
    os.remove(out / "final_inq.caffemodel")
    c = Campaign(load_solver(solver), Settings(campaign=["0.5", "1"], out=str(out)), CaffeLog(io.StringIO()))
    c.record = CampaignRecord.load(c.record.path)
    c._final_here()
    assert c.record.data.final_model is None and len(c.record.data.phases) == 1
