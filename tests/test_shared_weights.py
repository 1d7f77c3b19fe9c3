"""Blobs that several layers share (`param { name }`) are quantized, frozen and counted once:
in the scheduler, the freezer, the report, check and export."""
import json
import os

import numpy as np
import pytest

from driver_util import bits, caffemodel_params, run_driver, run_tool, states

NET = """name: "shared"
layer {{ name: "data" type: "DummyData" top: "data" top: "label"
  dummy_data_param {{ shape {{ dim: 8 dim: 1 dim: 6 dim: 6 }} shape {{ dim: 8 }}
    data_filler {{ type: "gaussian" std: 1 }} data_filler {{ type: "constant" value: 1 }} }} }}
layer {{ name: "conv0" type: "Convolution" bottom: "data" top: "c0"
  convolution_param {{ num_output: 4 kernel_size: 3 pad: 1 weight_filler {{ type: "xavier" }} }} }}
{shared}
layer {{ name: "ip1" type: "InnerProduct" bottom: "{last}" top: "ip1"
  inner_product_param {{ num_output: 3 weight_filler {{ type: "xavier" }} }} }}
layer {{ name: "loss" type: "SoftmaxWithLoss" bottom: "ip1" bottom: "label" top: "loss" }}
"""
SHARED = """layer {{ name: "rec{i}" type: "Convolution" bottom: "{bottom}" top: "r{i}"
  param {{ name: "rec_w" }} param {{ name: "rec_b" }}
  convolution_param {{ num_output: 4 kernel_size: 3 pad: 1 weight_filler {{ type: "xavier" }} }} }}"""
SOLVER = """net: "{net}"
base_lr: 0.05
lr_policy: "fixed"
momentum: 0.9
max_iter: 3
snapshot: 0
snapshot_prefix: "x"
random_seed: 1
solver_mode: CPU
"""


def write(tmp_path, n):
    shared = "\n".join(SHARED.format(i=i, bottom="c0" if i == 1 else f"r{i - 1}") for i in range(1, n + 1))
    net = tmp_path / "net.prototxt"
    net.write_text(NET.format(shared=shared, last=f"r{n}"))
    solver = tmp_path / "solver.prototxt"
    solver.write_text(SOLVER.format(net=net))
    return str(solver), str(net)


@pytest.mark.parametrize("n", [2, 3])
def test_a_shared_blob_is_frozen_and_counted_once(tmp_path, n):
    solver, net = write(tmp_path, n)
    out = str(tmp_path / "o")
    r = run_driver("--solver", solver, "--init-from-fillers", "--out", out, "--campaign", "0.5,1")
    assert "check passed" in r.stdout
    rep = json.load(open(os.path.join(out, "report.json")))
    for phase, portion in zip(rep["phases"], (0.5, 1.0)):
        assert sorted(phase["layers"]) == ["conv0", "ip1", "rec1"]  # rec2.. share rec1's blob
        assert phase["frozen_fraction"] == portion and phase["layers"]["rec1"]["frozen_fraction"] == portion
    from inq_layer.core.codes import frozen_mask
    from inq_layer.campaign.state import load_snapshot_state
    st = load_snapshot_state(states(out, 1)[-1][1])
    assert sorted(b.layer for b in st.blobs) == ["conv0", "ip1", "rec1"]
    masks = [frozen_mask(b.codes) for b in st.blobs]
    assert sum(int(m.sum()) for m in masks) / sum(m.size for m in masks) == 0.5
    p = caffemodel_params(os.path.join(out, "final_inq.caffemodel"))
    for i in range(2, n + 1):
        assert np.array_equal(bits(p["rec1"][0]), bits(p[f"rec{i}"][0]))
    rows = [ln.split()[0] for ln in r.stdout.splitlines() if ln.startswith(("conv0 ", "rec", "ip1 "))]
    assert rows == ["conv0", "rec1", "ip1"]


def test_export_stores_a_shared_blob_once_and_load_gives_it_back(tmp_path):
    solver, net = write(tmp_path, 3)
    out = str(tmp_path / "o")
    run_driver("--solver", solver, "--init-from-fillers", "--out", out, "--campaign", "1")
    final = os.path.join(out, "final_inq.caffemodel")
    inq, back = str(tmp_path / "m.inq"), str(tmp_path / "back.caffemodel")
    r = run_tool("export", "--model", net, "--weights", final, "--out", inq)
    assert [ln.split()[0] for ln in r.stdout.splitlines() if ln.startswith("rec")] == ["rec1"]
    run_tool("export", "--load", inq, "--model", net, "--out", back)
    a, b = caffemodel_params(final), caffemodel_params(back)
    assert sorted(a) == sorted(b) and all(np.array_equal(bits(x), bits(y)) for n in a for x, y in zip(a[n], b[n]))
    import caffe
    caffe.Net(net, caffe.TRAIN, weights=back)  # stock Caffe loads it


def test_check_finds_a_sharing_layer_that_differs(tmp_path):
    from inq_layer.caffe_edge import caffe_io
    solver, net = write(tmp_path, 2)
    out = str(tmp_path / "o")
    run_driver("--solver", solver, "--init-from-fillers", "--out", out, "--campaign", "1")
    m = caffe_io.read_caffemodel(os.path.join(out, "final_inq.caffemodel"))
    rec2 = next(ly for ly in m.layer if ly.name == "rec2")
    rec2.blobs[0].data[0] = 0.5 if rec2.blobs[0].data[0] != 0.5 else 0.25
    bad = tmp_path / "bad.caffemodel"
    bad.write_bytes(m.SerializeToString())
    r = run_tool("check", "--model", net, "--weights", str(bad), check=False)
    assert r.returncode == 1 and "FAILED" in r.stdout


def test_load_refuses_a_file_without_the_shared_blob(tmp_path):
    from inq_layer.deploy.inq_format import Entry, serialize
    solver, net = write(tmp_path, 2)
    out = str(tmp_path / "o")
    run_driver("--solver", solver, "--init-from-fillers", "--out", out, "--campaign", "1")
    p = caffemodel_params(os.path.join(out, "final_inq.caffemodel"))
    entries = [Entry(n, i, a, False) for n, arrs in p.items() if n != "rec1" for i, a in enumerate(arrs)
               if n != "rec2"]
    (tmp_path / "m.inq").write_bytes(serialize(entries, 5))
    r = run_tool("export", "--load", str(tmp_path / "m.inq"), "--model", net, "--out", str(tmp_path / "b.caffemodel"),
                 check=False)
    assert r.returncode == 2 and "layer 'rec2' shares blob 0 with layer 'rec1', which the file lacks" in r.stderr


def test_check_and_the_driver_take_one_rule_for_the_bits_of_a_shared_blob(tmp_path):
    """--layer-bits for the second of two layers sharing a blob: the driver and the check
    both refuse it in the same line."""
    solver, net = write(tmp_path, 2)
    out = str(tmp_path / "o")
    run_driver("--solver", solver, "--init-from-fillers", "--out", out, "--campaign", "1")
    final = os.path.join(out, "final_inq.caffemodel")
    r = run_tool("check", "--model", net, "--weights", final, "--layer-bits", "rec2=8", check=False)
    d = run_driver("--solver", solver, "--init-from-fillers", "--out", str(tmp_path / "o2"), "--campaign", "1",
                   "--layer-bits", "rec2=8", check=False)
    msg = "layer bits: layer 'rec2' shares its blob 0 with layer 'rec1': give both the same bits"
    for res in (r, d):
        err = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
        assert res.returncode == 2 and err == [f"error: {msg}"], res.stderr[-1500:]
