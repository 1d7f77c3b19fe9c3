"""Per-layer bit widths: parsing, quantize_net, check, export and the driver on a tiny net."""
import json
import os

import numpy as np
import pytest

from caffe_nets import write_tiny
from driver_util import assert_clean_error, run_driver, run_tool, same_models
from inq_layer.errors import InqError
from inq_layer.options import QuantOptions, parse_layer_bits
from inq_layer.core.levels import n2_from_n1


def test_parse_layer_bits():
    assert parse_layer_bits("conv1=8, ip2=3") == {"conv1": 8, "ip2": 3}
    assert parse_layer_bits(None) == {} == parse_layer_bits("")
    assert parse_layer_bits("a=b=4") == {"a=b": 4}  # the last '=' splits: layer names may hold one
    for text, msg in (("conv1", "'conv1' is not LAYER=BITS"), ("=4", "'=4' is not LAYER=BITS"),
                      ("conv1=x", "bits 'x' is not an integer"), ("conv1=9", "bits must be in 2..8"),
                      ("conv1=1", "bits must be in 2..8"), ("c=4,c=5", "layer 'c' is given twice"),
                      ("conv1=8,,ip1=6", "has an empty item"), ("conv1=8,", "has an empty item")):
        with pytest.raises(InqError, match=f"^--layer-bits.*{msg}"):
            parse_layer_bits(text)


def test_layer_bits_are_checked_against_the_net_by_name():
    from inq_layer.net.layer_bits import check_layer_bits, check_shared_bits
    layers, quantizable = ["conv1", "relu1", "ip1"], ["conv1", "ip1"]
    check_layer_bits({"conv1": 2, "ip1": 8}, layers, quantizable, "m.caffemodel")  # both ends of the range
    for bits in (1, 9, 3.0, True, "3"):
        with pytest.raises(InqError) as e:
            check_layer_bits({"conv1": bits}, layers, quantizable, "m.caffemodel")
        assert str(e.value) == f"layer bits: layer 'conv1': bits must be an integer in 2..8, got {bits!r}"
    with pytest.raises(InqError) as e:
        check_layer_bits({"conv2": 4}, layers, quantizable, "m.caffemodel")
    assert str(e.value) == "layer bits: m.caffemodel has no layer 'conv2'"
    with pytest.raises(InqError) as e:
        check_layer_bits({"relu1": 4}, layers, quantizable, "m.caffemodel")
    assert str(e.value) == "layer bits: layer 'relu1' of m.caffemodel has no quantizable blob"
    bits_of = QuantOptions(bits=5, layer_bits={"a": 8, "b": 8, "c": 4}).bits_of
    check_shared_bits(bits_of, {("b", 0): ("a", 0)})  # shared, both at 8 bits (not the default 5)
    with pytest.raises(InqError) as e:
        check_shared_bits(bits_of, {("c", 1): ("a", 1)})
    assert str(e.value) == "layer bits: layer 'c' shares its blob 1 with layer 'a': give both the same bits"


def test_quantize_net_gives_each_layer_its_grid(tiny_net):
    from inq_layer import quantize_net
    from inq_layer.deploy.check import check_array
    blobs = quantize_net(tiny_net, 1.0, QuantOptions(bits=2, layer_bits={"conv1": 8}))
    c, i = blobs[("conv1", 0)], blobs[("ip1", 0)]
    assert (c.bits, i.bits) == (8, 2) and c.n2 == n2_from_n1(c.n1, 8) and i.n2 == i.n1
    assert c.counts()["bits"] == 8
    assert len(np.unique(np.abs(tiny_net.params["ip1"][0].data))) <= 2  # ternary: 0 and 2^n1
    conv1 = tiny_net.params["conv1"][0].data
    assert check_array(conv1, 8)[3] == 0 and check_array(conv1, 2)[3] > 0
    with pytest.raises(InqError, match="not a 2-bit grid"):  # phase 2 with other bits for conv1
        quantize_net(tiny_net, 1.0, QuantOptions(bits=2), blobs)
    for lb, msg in (({"nope": 8}, "the net has no layer 'nope'"),
                    ({"bn1": 8}, "layer 'bn1' of the net has no quantizable blob"),
                    ({"conv1": 9}, "bits must be an integer in 2..8")):
        with pytest.raises(InqError, match=msg):
            quantize_net(tiny_net, 0.5, QuantOptions(bits=2, layer_bits=lb))


def _mixed_model(tmp_path, net):
    """conv1 at 8 bits, ip1 at 2, saved."""
    from inq_layer import quantize_net
    quantize_net(net, 1.0, QuantOptions(bits=2, layer_bits={"conv1": 8}))
    w = str(tmp_path / "mixed.caffemodel")
    net.save(w)
    return str(tmp_path / "net.prototxt"), w


def test_check_and_export_take_layer_bits(tmp_path, tiny_net):
    model, w = _mixed_model(tmp_path, tiny_net)
    r = run_tool("check", "--model", model, "--weights", w, "--bits", "2", "--layer-bits", "conv1=8")
    assert "check passed" in r.stdout
    conv1 = next(ln.split() for ln in r.stdout.splitlines() if ln.startswith("conv1 "))
    assert conv1[4] == "8"  # the bits column
    r = run_tool("check", "--model", model, "--weights", w, "--bits", "2", check=False)
    assert r.returncode == 1 and "FAILED" in r.stdout  # conv1's 8-bit values are off the 2-bit grid
    r = run_tool("check", "--model", model, "--weights", w, "--layer-bits", "relu1=8", check=False)
    assert r.returncode == 2 and "layer 'relu1'" in r.stderr and "no quantizable blob" in r.stderr
    inq, back = str(tmp_path / "m.inq"), str(tmp_path / "back.caffemodel")
    r = run_tool("export", "--model", model, "--weights", w, "--bits", "2", "--layer-bits", "conv1=8", "--out", inq)
    rows = {ln.split()[0]: ln.split() for ln in r.stdout.splitlines() if ln.startswith(("conv1 ", "ip1 "))}
    assert rows["conv1"][2] == "8" and rows["ip1"][2] == "2" and "at 8/2 bits" in r.stdout
    run_tool("export", "--load", inq, "--model", model, "--out", back)
    assert same_models(w, back)
    r = run_tool("export", "--model", model, "--weights", w, "--bits", "2", "--out", str(tmp_path / "x.inq"),
                 check=False)
    assert r.returncode == 2 and "off the 2-bit grid" in r.stderr and not os.path.exists(tmp_path / "x.inq")


def test_driver_layer_bits_report_record_and_resume(tmp_path):
    solver = write_tiny(str(tmp_path), max_iter=3, snapshot=0)
    out = str(tmp_path / "o")
    args = ["--solver", solver, "--init-from-fillers", "--out", out, "--campaign", "0.5,1", "--bits", "2"]
    r = run_driver(*args, "--layer-bits", "conv1=8")
    assert "check passed" in r.stdout
    rep = json.load(open(os.path.join(out, "report.json")))
    assert rep["layer_bits"] == {"conv1": 8}
    for ph in rep["phases"]:
        assert ph["layers"]["conv1"]["bits"] == 8 and ph["layers"]["ip1"]["bits"] == 2
        assert ph["layers"]["ip1"]["n1"] == ph["layers"]["ip1"]["n2"]
    assert json.load(open(os.path.join(out, "campaign.json")))["settings"]["layer_bits"] == {"conv1": 8}
    md = open(os.path.join(out, "report.md")).read()
    assert "layer_bits {'conv1': 8}" in md and "| conv1 | " in md and "| 8 |" in md
    for other in (["--layer-bits", "conv1=6"], []):
        r = run_driver(*args, "--resume", *other, check=False)
        assert r.returncode == 2 and "this --out was written with layer_bits" in r.stderr
    for bad, msg in (("pool9=8", "has no layer 'pool9'"), ("bn1=8", "layer 'bn1'"), ("conv1", "not LAYER=BITS")):
        r = run_driver(*args[:4], str(tmp_path / "new"), *args[5:], "--layer-bits", bad, check=False)
        assert r.returncode == 2 and msg in r.stderr and "Traceback" not in r.stderr
        assert r.stderr.count("\n") == 1 and not os.path.exists(tmp_path / "new")



def test_layer_bits_under_every_blob0_are_checked_before_training(tmp_path):
    """every-blob0 quantizes blob 0 of every layer with blobs: a BatchNorm may take bits, a
    ReLU is refused before anything is written (Caffe knows which layers have blobs)."""
    from inq_layer.deploy.check import check_net_layer_bits
    solver = write_tiny(str(tmp_path), max_iter=2, snapshot=0)
    net = str(tmp_path / "net.prototxt")
    check_net_layer_bits(QuantOptions(bits=2, quantize="every-blob0", layer_bits={"bn1": 8, "conv1": 4}), net)
    new = tmp_path / "new"
    r = run_driver("--solver", solver, "--init-from-fillers", "--campaign", "1", "--quantize", "every-blob0",
                   "--layer-bits", "relu1=8", "--out", str(new), check=False)
    assert_clean_error(r, f"layer bits: layer 'relu1' of {net} has no quantizable blob")
    assert not new.exists()
