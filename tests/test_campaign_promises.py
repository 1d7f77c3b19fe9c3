"""Promises of a campaign that a wrong line would break silently, each tested as a user
sees it: every phase of a --keep-momentum campaign trains; non-finite starting weights are
refused before any work."""
import json
import os

import numpy as np

from caffe_nets import write_tiny
from driver_util import assert_clean_error, caffemodel_params, run_driver, save_weights, states


def test_every_phase_of_a_keep_momentum_campaign_trains_its_iterations(tmp_path):
    """Each phase starts at iteration 0 with the previous phase's history and trains
    max_iter iterations: its unfrozen weights move away from where quantization left them."""
    from inq_layer.campaign.state import snapshot_files
    solver = write_tiny(str(tmp_path), max_iter=6, snapshot=0)
    out = str(tmp_path / "o")
    run_driver("--solver", solver, "--init-from-fillers", "--campaign", "0.3,0.6,1", "--keep-momentum",
               "--final-iters", "2", "--out", out)
    rep = json.load(open(os.path.join(out, "report.json")))
    assert rep["keep_momentum"] and [p["iterations"] for p in rep["phases"]] == [6, 6, 2]
    assert [states(out, k)[-1][0] for k in (1, 2, 3)] == [6, 6, 2]  # the solver's own iteration count
    for k in (2, 3):
        before = caffemodel_params(snapshot_files(states(out, k - 1)[-1][1])[0])
        after = caffemodel_params(snapshot_files(states(out, k)[-1][1])[0])
        assert not np.array_equal(before["conv1"][1], after["conv1"][1])  # the bias trains in every phase


def test_non_finite_starting_weights_are_refused_in_one_line(tmp_path):
    solver = write_tiny(str(tmp_path), max_iter=2, snapshot=0)
    for value, name in ((np.nan, "nan"), (np.inf, "inf"), (-np.inf, "minus_inf")):
        def poison(net, v=value):
            net.params["ip1"][0].data[0, 0] = v
        w = save_weights(tmp_path, solver, poison, name=f"{name}.caffemodel")
        out = tmp_path / f"o_{name}"
        r = run_driver("--solver", solver, "--weights", w, "--out", str(out), check=False)
        assert_clean_error(r, "layer 'ip1' blob 0 contains NaN or Inf")
        assert not (out / "phase1" / "inq_iter_2.caffemodel").exists()
