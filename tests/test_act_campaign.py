"""--act-bits end to end on the tiny LMDB net: calibrated quantizers in both prototxts,
the report and the record; outputs on their grids; the deploy net computes what the test
net does; bit-identical resume; --act-from end; bad input as one line."""
import json
import os

import numpy as np
import pytest

from caffe_nets import lmdb_tiny, write_tiny
from driver_util import assert_clean_error, interrupted, run_driver, run_tool, same_models


def args_of(solver, *extra):
    return ["--solver", solver, "--init-from-fillers", "--campaign", "0.5,1", "--final-iters", "2", *extra]


def quantizers(path):
    from inq_layer.caffe_edge.caffe_io import read_net
    from inq_layer.net.act_placement import is_quantizer
    from inq_layer.net.fixed_point_params import parse_param_str
    return {ly.name: parse_param_str(ly.python_param.param_str) for ly in read_net(path).layer if is_quantizer(ly)}


def test_act_bits_campaign_quantizes_every_quantized_layers_input(tmp_path):
    import caffe
    solver = lmdb_tiny(tmp_path, max_iter=6, snapshot=0)
    out = str(tmp_path / "o")
    r = run_driver(*args_of(solver, "--act-bits", "6", "--act-calibration-batches", "3"), "--out", out)
    assert "Calibrated 2 activation quantizers (6 bits, mse rule, 3 batches" in r.stdout
    rec = json.load(open(os.path.join(out, "campaign.json")))
    rep = json.load(open(os.path.join(out, "report.json")))
    assert rec["settings"]["act_bits"] == 6 and set(rec["activations"]) == {"data_q", "conv1_q"}
    assert rec["activations"]["data_q"]["blob"] == "data" and not rec["activations"]["conv1_q"]["signed"]
    assert set(rep["activations"]) == {"data_q", "conv1_q"}
    assert all(0 <= a["saturated"] <= 1 for a in rep["activations"].values())
    assert all(set(p["activations"]) == {"data_q", "conv1_q"} for p in rep["phases"])
    assert "| conv1_q | 6 |" in open(os.path.join(out, "report.md")).read()
    for name in ("inq_net.prototxt", "inq_deploy.prototxt"):
        got = quantizers(os.path.join(out, name))
        assert {n: (q["bits"], q["f"], q["signed"]) for n, q in got.items()} == \
            {n: (q["bits"], q["f"], q["signed"]) for n, q in rec["activations"].items()}
    caffe.set_mode_cpu()
    test = caffe.Net(os.path.join(out, "inq_net.prototxt"), caffe.TEST)
    test.copy_from(os.path.join(out, "final_inq.caffemodel"))
    test.forward()
    for name, q in rec["activations"].items():
        v = test.blobs[name].data * 2.0 ** q["f"]
        assert np.array_equal(v, np.round(v)) and v.min() >= 0 and v.max() <= 63
    deploy = caffe.Net(os.path.join(out, "inq_deploy.prototxt"), caffe.TEST)
    deploy.copy_from(os.path.join(out, "final_inq.caffemodel"))
    deploy.blobs["data"].reshape(*test.blobs["data"].data.shape)
    deploy.blobs["data"].data[...] = test.blobs["data"].data
    deploy.forward()
    assert np.array_equal(deploy.blobs["ip1"].data, test.blobs["ip1"].data)
    assert "prob" in deploy.blobs and "loss" not in deploy.blobs
    net, final = os.path.join(out, "inq_net.prototxt"), os.path.join(out, "final_inq.caffemodel")
    r = run_tool("check", "--model", net, "--weights", final, "--act-bits", "6")
    assert "activations on their grids: 2 quantizers" in r.stdout and ", 0 off grid" in r.stdout
    assert_clean_error(run_tool("check", "--model", net, "--weights", final, "--act-bits", "8", check=False),
                       "quantizer 'data_q' has 6 bits, not --act-bits 8")
    assert_clean_error(run_tool("check", "--model", solver.replace("solver", "net"), "--weights", final,
                                "--act-bits", "6", check=False), "has no activation quantizers")
    assert_clean_error(run_tool("check", "--model", net, "--weights", final, "--act-batches", "2", check=False),
                       "--act-batches: only with --act-bits (without it no activation is checked)")
    moved = tmp_path / "moved.prototxt"  # its test database gone: no Caffe abort, one line
    (tmp_path / "gone").mkdir()
    moved.write_text(open(net).read().replace(str(tmp_path / "db_TEST"), str(tmp_path / "gone")))
    assert_clean_error(run_tool("check", "--model", str(moved), "--weights", final, "--act-bits", "6", check=False),
                       f"{moved}: Caffe cannot build this net")


def test_check_finds_outputs_off_their_grid(tmp_path, monkeypatch):
    """A quantizer whose layer does not quantize (here: the core's quantize made the
    identity) is caught by the check."""
    from inq_layer.core import fixed_point
    from inq_layer.deploy.check_activations import check_activations
    solver = lmdb_tiny(tmp_path, max_iter=2, snapshot=0)
    out = str(tmp_path / "o")
    run_driver(*args_of(solver, "--act-bits", "6", "--act-calibration-batches", "1"), "--out", out)
    net, final = os.path.join(out, "inq_net.prototxt"), os.path.join(out, "final_inq.caffemodel")
    assert not any(r.off_grid for r in check_activations(net, final, 6))
    monkeypatch.setattr(fixed_point, "quantize", lambda x, bits, f, signed, out=None: np.copyto(out, x) or out)
    rows = {r.name: r for r in check_activations(net, final, 6)}
    assert rows["conv1_q"].off_grid > 0 and rows["conv1_q"].first_bad is not None


def test_act_resume_mid_phase_is_bit_identical(tmp_path):
    solver = lmdb_tiny(tmp_path, max_iter=40, snapshot=5, test_interval=10)
    args = args_of(solver, "--act-bits", "4", "--act-calibration", "max")
    ref = str(tmp_path / "ref")
    run_driver(*args, "--out", ref)
    out = str(tmp_path / "cut")
    interrupted(args, out, 1, 15)
    run_driver(*args, "--out", out, "--resume")
    assert same_models(os.path.join(ref, "final_inq.caffemodel"), os.path.join(out, "final_inq.caffemodel"))
    a, b = (json.load(open(os.path.join(d, "report.json"))) for d in (ref, out))
    assert a["activations"] == b["activations"]
    assert [p["test_after_training"] for p in a["phases"]] == [p["test_after_training"] for p in b["phases"]]
    for other in (["--act-bits", "5", "--act-calibration", "max"], ["--act-bits", "4"],  # mse, the default
                  ["--act-bits", "4", "--act-calibration", "max", "--act-from", "end"], []):
        o = [x for x in args if x not in ("--act-bits", "4", "--act-calibration", "max")] + other
        r = run_driver(*o, "--out", out, "--resume", check=False)
        assert_clean_error(r, "this --out was written with")


def test_act_from_end_adds_a_phase_with_every_weight_frozen(tmp_path):
    solver = lmdb_tiny(tmp_path, max_iter=6, snapshot=0)
    out = str(tmp_path / "o")
    run_driver(*args_of(solver, "--act-bits", "8", "--act-from", "end", "--act-calibration-batches", "2"),
               "--out", out)
    rep = json.load(open(os.path.join(out, "report.json")))
    assert [p["portion"] for p in rep["phases"]] == [0.5, 1.0, 1.0]
    assert [p["iterations"] for p in rep["phases"]] == [6, 2, 6]
    assert "activations" not in rep["phases"][0] and "activations" not in rep["phases"][1]
    assert set(rep["phases"][2]["activations"]) == {"data_q", "conv1_q"}
    assert rep["check_passed"] and rep["phases"][2]["frozen_fraction"] == 1.0


def test_the_original_quantize_rule_quantizes_the_same_inputs(tmp_path):
    """--quantize every-blob0 quantizes more weights (every layer's blob 0), not more
    inputs: the quantizers still feed only the layers that multiply by quantized weights."""
    solver = lmdb_tiny(tmp_path, max_iter=2, snapshot=0)
    out = str(tmp_path / "o")
    run_driver("--solver", solver, "--init-from-fillers", "--campaign", "1", "--quantize", "every-blob0",
               "--act-bits", "8", "--act-calibration-batches", "1", "--out", out, timeout=120)
    assert set(quantizers(os.path.join(out, "inq_net.prototxt"))) == {"data_q", "conv1_q"}


def test_without_act_bits_the_record_is_as_before(tmp_path):
    solver = write_tiny(str(tmp_path), max_iter=2, snapshot=0)
    out = str(tmp_path / "o")
    run_driver("--solver", solver, "--init-from-fillers", "--campaign", "1", "--out", out)
    rec = json.load(open(os.path.join(out, "campaign.json")))
    assert "activations" not in rec and not any(k.startswith("act_") for k in rec["settings"])
    assert all("saturated" not in p for p in rec["phases"])
    assert not os.path.exists(os.path.join(out, "inq_net.prototxt"))


@pytest.mark.parametrize("args,msg", [(["--act-bits", "1"], "--act-bits must be an integer in 2..16, got 1"),
                                      (["--act-bits", "17"], "--act-bits must be an integer in 2..16, got 17"),
                                      (["--act-bits", "x"], "argument --act-bits: invalid int value"),
                                      (["--act-calibration", "max", "--act-from", "end"],  # would look applied
                                       "error: --act-calibration, --act-from: only with --act-bits (activations "
                                       "stay float without it)"),
                                      (["--act-calibration-batches", "5"], "--act-calibration-batches: only with")])
def test_act_bits_out_of_range_or_missing_is_one_line(tmp_path, args, msg):
    solver = write_tiny(str(tmp_path), max_iter=2, snapshot=0)
    out = tmp_path / "o"
    r = run_driver("--solver", solver, "--init-from-fillers", *args, "--out", str(out), check=False)
    assert_clean_error(r, msg)
    assert not out.exists() or not os.listdir(out)


@pytest.mark.parametrize("fill,msg", [('type: "constant" value: 0', "is 0 on every element"),
                                      ('type: "constant" value: 3e38', "holds NaN or Inf")])
def test_calibration_that_sees_no_usable_value_is_one_line(tmp_path, fill, msg):
    solver = write_tiny(str(tmp_path), max_iter=2, snapshot=0)
    net = tmp_path / "net.prototxt"
    net.write_text(net.read_text().replace('type: "gaussian" std: 1', fill))
    r = run_driver("--solver", solver, "--init-from-fillers", "--act-bits", "8", "--out", str(tmp_path / "o"),
                   check=False)
    assert_clean_error(r, "calibration: blob", msg)


def test_act_bits_on_a_net_without_a_quantizable_layer_is_one_line(tmp_path):
    solver = write_tiny(str(tmp_path), max_iter=2, snapshot=0)
    net = tmp_path / "net.prototxt"
    text = net.read_text()
    net.write_text(text.replace('type: "Convolution"', 'type: "Pooling"').replace(
        'convolution_param { num_output: 4 kernel_size: 3 weight_filler { type: "xavier" }\n'
        '    bias_filler { type: "constant" value: 0.1 } }', 'pooling_param { kernel_size: 2 }')
        .replace('type: "InnerProduct"', 'type: "Pooling"').replace(
        'inner_product_param { num_output: 3 weight_filler { type: "xavier" } }', 'pooling_param { kernel_size: 2 }'))
    r = run_driver("--solver", solver, "--init-from-fillers", "--act-bits", "8", "--out", str(tmp_path / "o"),
                   check=False)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "quantizable layer" in r.stderr


def test_the_float_model_is_tested_with_float_activations(tmp_path):
    """report.json's test_float is the float model's: the same with and without --act-bits."""
    solver = lmdb_tiny(tmp_path, max_iter=2, snapshot=0)
    outs = {}
    for name, extra in (("plain", []), ("a2", ["--act-bits", "2", "--act-calibration-batches", "1"])):
        outs[name] = str(tmp_path / name)
        run_driver(*args_of(solver, *extra), "--out", outs[name])
    a, b = (json.load(open(os.path.join(outs[n], "report.json"))) for n in ("plain", "a2"))
    assert a["test_float"] == b["test_float"]
    assert b["phases"][0]["test_after_quantize"] != a["phases"][0]["test_after_quantize"]  # 2-bit activations show
