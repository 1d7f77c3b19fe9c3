"""The prune tool and INQ after pruning (--keep-zeros) on real, small campaigns."""
import json
import os

import numpy as np
import pytest

from caffe_nets import write_tiny
from driver_util import caffemodel_params, log_messages, phase_states, run_driver, run_tool, states


def prune(tmp_path, *extra, max_iter=6):
    solver = write_tiny(str(tmp_path), max_iter=max_iter, snapshot=3)
    out = str(tmp_path / "pruned")
    r = run_tool("prune", "--solver", solver, "--init-from-fillers", "--out", out, *extra)
    return solver, out, r


def test_prune_steps_reach_the_target_and_hold_pruned_weights_at_zero(tmp_path):
    solver, out, r = prune(tmp_path, "--sparsity", "0.9", "--steps", "0.5,0.8,0.9")
    rep = json.load(open(os.path.join(out, "report.json")))
    assert rep["tool"] == "prune" and rep["check_passed"]
    said = [m for m in log_messages(r.stdout) if m.startswith("Step ")]
    assert said == [f"Step {k}/3: pruned to sparsity conv1 {c}, ip1 {i}" for k, c, i in
                    ((1, "0.5000", "0.5000"), (2, "0.8056", "0.8009"), (3, "0.9167", "0.9005"))]
    assert "Sparsity per layer" in open(os.path.join(out, "report.md")).read()
    sts = phase_states(out, 3)
    for k, (st, target) in enumerate(zip(sts, (0.5, 0.8, 0.9))):
        for b in st.blobs:
            assert b.pruned.sum() == int(np.ceil(target * b.codes.size - 1e-9))  # exactly the step's count
            assert rep["phases"][k]["layers"][b.layer]["pruned_fraction"] == b.pruned.mean()
            if k:
                assert np.all(b.pruned[sts[k - 1].by_key()[(b.layer, b.index)].pruned])  # pruned stay pruned
        for it, sp in states(out, k + 1):  # every snapshot of the step, mid-step ones too
            params = caffemodel_params(sp[: -len(".inqstate.npz")] + ".caffemodel")
            assert all(np.all(params[b.layer][b.index][b.pruned] == 0) for b in st.blobs), (k, it)
    final = caffemodel_params(os.path.join(out, "pruned.caffemodel"))
    for b in sts[-1].blobs:
        w = final[b.layer][b.index]
        kept = np.abs(w[~b.pruned])
        assert np.all(w[b.pruned] == 0) and kept.size and np.all(kept > 0)
    assert "sparsity 90" in r.stdout or "sparsity 91" in r.stdout


def test_prune_per_layer_targets(tmp_path):
    _, out, _ = prune(tmp_path, "--sparsity", "conv1=0.5,ip1=0.95", "--steps", "0.5,1")
    st1, st2 = phase_states(out, 2)
    b = st2.by_key()
    assert b[("conv1", 0)].pruned.sum() == int(np.ceil(0.5 * 36))
    assert b[("ip1", 0)].pruned.sum() == int(np.ceil(0.95 * 432))
    assert st1.by_key()[("ip1", 0)].pruned.sum() == int(np.ceil(0.475 * 432))  # half way to its target


@pytest.mark.parametrize("args,words", [
    (["--sparsity", "1.2"], "--sparsity 1.2: must be in (0, 1)"),
    (["--sparsity", "1"], "--sparsity 1: must be in (0, 1)"),
    (["--sparsity", "conv1=0.5,conv1=0.6"], "twice"),
    (["--sparsity", "conv9=0.5"], "conv9"),
    (["--sparsity", "bn1=0.5"], "'bn1', not a prunable layer"),  # refused before step 1 trains
    (["--sparsity", "conv1"], "not a decimal"),
    (["--sparsity", "0.9", "--steps", "0.5,0.8"], "end at the target"),
    (["--sparsity", "0.9", "--steps", "0.5,0.9,"], "empty item"),
    (["--sparsity", "0.9", "--max-iter", "x"], "invalid int"),
    (["--sparsity", "0.999999"], "would prune every one of the"),  # no layer here has a million weights
])
def test_prune_bad_input_one_line(tmp_path, args, words):
    solver = write_tiny(str(tmp_path), max_iter=2, snapshot=0)
    r = run_tool("prune", "--solver", solver, "--init-from-fillers", "--out", str(tmp_path / "o"), *args, check=False)
    err = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert r.returncode == 2 and len(err) == 1 and words in err[0], r.stderr[-1500:]
    assert "Traceback" not in r.stderr
    assert not states(str(tmp_path / "o"), 1)  # refused before any step trained


@pytest.mark.parametrize("rule", ["paper", "reference"])
def test_inq_after_pruning_never_revives_a_pruned_weight(tmp_path, rule):
    solver, pruned_dir, _ = prune(tmp_path, "--sparsity", "0.8", "--steps", "0.5,0.8")
    pruned_model = os.path.join(pruned_dir, "pruned.caffemodel")
    start = caffemodel_params(pruned_model)
    out = str(tmp_path / "inq")
    r = run_driver("--solver", solver, "--weights", pruned_model, "--out", out, "--keep-zeros", "--rule", rule,
                   "--bits", "4", "--campaign", "0.5,0.8,1", "--final-iters", "3")
    assert "check passed" in r.stdout
    sts = phase_states(out, 3)
    zero0 = {k: start[k[0]][k[1]] == 0 for k in sts[0].by_key()}
    for k, (st, p) in enumerate(zip(sts, (0.5, 0.8, 1.0))):
        for key, b in st.by_key().items():
            assert np.array_equal(b.pruned, zero0[key])
            assert np.all(b.frozen[b.pruned]) and np.all((b.codes[b.pruned] & 0x7FFF) == 0)
            if rule == "paper":  # the portion counts the weights that were not pruned
                live = int((~b.pruned).sum())
                assert int((b.frozen & ~b.pruned).sum()) == int(np.ceil(p * live - 1e-9))
        for _, sp in states(out, k + 1):
            params = caffemodel_params(sp[: -len(".inqstate.npz")] + ".caffemodel")
            assert all(np.all(params[key[0]][key[1]][zero0[key]] == 0) for key in zero0)
    final = caffemodel_params(os.path.join(out, "final_inq.caffemodel"))
    assert all(np.all(final[key[0]][key[1]][m] == 0) for key, m in zero0.items())
    rep = json.load(open(os.path.join(out, "report.json")))
    assert rep["keep_zeros"] and all(ly["pruned_fraction"] >= 0.8 for ly in rep["phases"][-1]["layers"].values())


def test_steps_are_checked_against_the_net_before_any_training(tmp_path):
    """Each refusal of _check_steps word for word, and what passes."""
    from decimal import Decimal

    import caffe
    from inq_layer.campaign.prune import PruneSettings
    from inq_layer.errors import InqError
    caffe.set_mode_cpu()
    net_path = tmp_path / "one.prototxt"
    net_path.write_text(
        'layer { name: "data" type: "DummyData" top: "data" dummy_data_param { shape { dim: 2 dim: 1 } } }\n'
        'layer { name: "one" type: "InnerProduct" bottom: "data" top: "one"\n'
        '  inner_product_param { num_output: 1 bias_term: false } }\n'
        'layer { name: "many" type: "InnerProduct" bottom: "data" top: "many"\n'
        '  inner_product_param { num_output: 40 bias_term: false } }\n')
    net = caffe.Net(str(net_path), caffe.TEST)

    def check(sparsity, steps=("0.5", "1")):
        PruneSettings(campaign=list(steps), out="unused", sparsity=sparsity)._check_steps(net)
    check({"many": Decimal("0.5")})  # a layer not named keeps all its weights, even the one-weight layer
    with pytest.raises(InqError) as e:
        check(Decimal("0.5"))
    assert str(e.value) == ("sparsity 0.25 would prune every one of the 1 weights of layer 'one' (step 1); give a "
                            "lower sparsity")
    with pytest.raises(InqError) as e:
        check({"many": Decimal("0.99"), "one": Decimal("0.2")}, steps=("1",))
    assert str(e.value) == ("sparsity 0.2 would prune every one of the 1 weights of layer 'one' (step 1); give a "
                            "lower sparsity")
    with pytest.raises(InqError) as e:
        check({"conv9": Decimal("0.5"), "many": Decimal("0.5"), "bn": Decimal("0.5")})
    assert str(e.value) == "--sparsity names 'bn', 'conv9', not a prunable layer of the net"
    assert PruneSettings(campaign=["0.5", "1"], out="unused").step_sparsity(0) == Decimal("0.45")  # default 0.9


def test_the_space_check_of_a_step_counts_its_pruning_masks(tmp_path, monkeypatch, capsys):
    """A pruning step's snapshot holds a mask byte per quantizable weight beside the codes:
    one byte less than the caffemodel, the SGD history, the codes, the masks and 1 MiB is
    refused before Caffe writes, that much is not."""
    from driver_util import disk_with, param_counts
    from inq_layer.tools.prune import main
    solver = write_tiny(str(tmp_path), max_iter=2, snapshot=2)
    floats, quantizable = param_counts(str(tmp_path / "net.prototxt"))
    need = 4 * floats * 2 + (2 + 1) * quantizable + 2 ** 20
    for k, (free, code) in enumerate([(need - 1, 2), (need, 0)]):
        out = str(tmp_path / f"o{k}")
        disk_with(monkeypatch, os.path.join(out, "phase1"), free)
        capsys.readouterr()
        assert main(["--solver", solver, "--init-from-fillers", "--sparsity", "0.5", "--steps", "0.5",
                     "--out", out]) == code
        assert ("no space left on device for a snapshot" in capsys.readouterr().err) == (code == 2)
