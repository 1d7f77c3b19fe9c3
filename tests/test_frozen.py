"""Frozen means frozen, watched from inside Caffe: a Python layer shares conv1's and ip1's
weights and counts, at every training forward pass, how many lie on the power-of-two grid.
A campaign must never show fewer than the phase's frozen count. Run with the solver types,
iter_size and partition options that the driver must handle alike."""
import json
import os

import numpy as np
import pytest

from caffe_nets import write_tiny
from driver_util import bits, caffe_has, caffemodel_params, phase_states, run_driver, states

needs_python_layer = pytest.mark.skipif(not caffe_has("Python"),
                                        reason="this Caffe was built without WITH_PYTHON_LAYER")

TESTS = os.path.dirname(os.path.abspath(__file__))
BLOBS = (("conv1", 0), ("ip1", 0))


def watched_tiny(folder, solver_lines=(), watch=True, **kw):
    """The tiny net with conv1's and ip1's weights named and, with `watch`, the watching
    layer appended; `solver_lines` replace or add solver fields. Returns (solver, watch file)."""
    kw.setdefault("conv", 4)
    kw.setdefault("hw", 8)
    solver = write_tiny(folder, **kw)
    net = os.path.join(folder, "net.prototxt")
    text = open(net).read()
    text = text.replace('top: "conv1"\n', 'top: "conv1"\n  param { name: "conv1_w" } param { name: "conv1_b" }\n', 1)
    text = text.replace('top: "ip1"\n', 'top: "ip1"\n  param { name: "ip1_w" } param { name: "ip1_b" }\n', 1)
    path = os.path.join(folder, "watch.txt")
    if watch:
        conv, hw = kw["conv"], kw["hw"]
        shapes = f"{conv},1,3,3;3,{conv * (hw - 2) ** 2}"
        text += ('layer { name: "watch" type: "Python" include { phase: TRAIN }\n'
                 '  param { name: "conv1_w" } param { name: "ip1_w" }\n'
                 f'  python_param {{ module: "watch_layer" layer: "WatchLayer" param_str: "{path};{shapes}" }} }}\n')
    open(net, "w").write(text)
    lines = open(solver).read().splitlines()
    for extra in solver_lines:
        key = extra.split(":")[0]
        lines = [ln for ln in lines if not ln.startswith(key + ":")] + [extra]
    open(solver, "w").write("\n".join(lines) + "\n")
    return solver, path


def run_watched(tmp_path, *args, solver_lines=(), watch=True, **kw):
    solver, watch_path = watched_tiny(str(tmp_path), solver_lines, watch, **kw)
    out = str(tmp_path / "out")
    env = dict(os.environ, PYTHONPATH=TESTS + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = run_driver("--solver", solver, "--init-from-fillers", "--out", out, *args, env=env)
    return out, watch_path, r


def watched_segments(path):
    """Per net built (one per phase), the rows of on-grid counts of its forward passes."""
    segs = []
    for line in open(path).read().splitlines():
        if line == "setup":
            segs.append([])
        else:
            segs[-1].append([int(x) for x in line.split()])
    return [s for s in segs if s]


def assert_frozen_invariants(out, watch_path=None, rule="paper", iter_size=1):
    from inq_layer.core.codes import decode
    rep = json.load(open(os.path.join(out, "report.json")))
    assert rep["check_passed"]
    sts = phase_states(out, len(rep["phases"]))
    if watch_path is not None:
        segs = watched_segments(watch_path)
        assert len(segs) == len(rep["phases"])
        for k, (seg, st, ph) in enumerate(zip(segs, sts, rep["phases"])):
            assert len(seg) == ph["iterations"] * iter_size, k
            frozen = [int(st.by_key()[key].frozen.sum()) for key in BLOBS]
            low = np.min(np.array(seg), axis=0)
            assert np.all(low >= frozen), (k, low.tolist(), frozen)  # never a drifted frozen weight
    for k, st in enumerate(sts):
        params = caffemodel_params(states(out, k + 1)[-1][1][: -len(".inqstate.npz")] + ".caffemodel")
        for b in st.blobs:
            m = b.frozen
            assert np.array_equal(bits(params[b.layer][b.index])[m], bits(decode(b.codes))[m])
    if rule == "paper":
        for a, b in zip(sts, sts[1:]):
            for key, x in a.by_key().items():
                y = b.by_key()[key]
                assert np.all(y.frozen[x.frozen])  # monotonic
                assert np.array_equal(y.codes[x.frozen], x.codes[x.frozen])  # values kept
                assert (y.n1, y.n2) == (x.n1, x.n2)  # the grid of the first phase
    return rep, sts


@needs_python_layer
def test_watch_layer_sees_the_driver_keep_frozen_weights_at_every_forward(tmp_path):
    out, watch, _ = run_watched(tmp_path, "--campaign", "0.5,0.8,1", "--final-iters", "3", max_iter=12, snapshot=5)
    assert_frozen_invariants(out, watch)


@needs_python_layer
def test_watch_layer_catches_drift(tmp_path):
    """The watcher itself: plain Caffe steps after a quantization, without the freezer,
    show frozen weights drifting off the grid from the second forward pass on."""
    import sys
    import caffe
    from inq_layer import quantize_net
    solver, watch = watched_tiny(str(tmp_path), max_iter=5, snapshot=0)
    sys.path.insert(0, TESTS)
    try:
        caffe.set_mode_cpu()
        s = caffe.get_solver(solver)
        codes = quantize_net(s.net, 0.5)
        s.step(3)
        del s
    finally:
        sys.path.remove(TESTS)
    seg = np.array(watched_segments(watch)[-1])
    frozen = np.array([int(codes[k].frozen.sum()) for k in BLOBS])
    assert np.all(seg[0] >= frozen) and np.all(seg[1:] < frozen)


SOLVERS = {
    "adam": ['type: "Adam"', "momentum: 0.9", "momentum2: 0.999", "base_lr: 0.005"],
    "nesterov": ['type: "Nesterov"'],
    "rmsprop": ['type: "RMSProp"', "momentum: 0", "rms_decay: 0.98", "base_lr: 0.005"],
    "adagrad": ['type: "AdaGrad"', "momentum: 0"],
    "iter_size_2": ["iter_size: 2"],
}


@needs_python_layer
@pytest.mark.parametrize("name", sorted(SOLVERS))
def test_solver_types_and_iter_size_keep_frozen_weights(tmp_path, name):
    out, watch, _ = run_watched(tmp_path, "--campaign", "0.5,1", "--final-iters", "2",
                                solver_lines=SOLVERS[name], max_iter=8, snapshot=0)
    assert_frozen_invariants(out, watch, iter_size=2 if name == "iter_size_2" else 1)


@needs_python_layer
def test_random_strategy_seeded_monotonic_and_exact(tmp_path):
    out, watch, _ = run_watched(tmp_path, "--campaign", "0.3,0.6,0.8,1", "--strategy", "random",
                                "--seed", "7", "--bits", "4", max_iter=6, snapshot=0)
    rep, sts = assert_frozen_invariants(out, watch)
    # Not the magnitude choice: a random partition leaves some of the largest weights float.
    from inq_layer import quantize_blob
    w0 = caffemodel_params(states(out, 1)[-1][1][: -len(".inqstate.npz")] + ".caffemodel")
    assert not np.array_equal(sts[0].by_key()[("ip1", 0)].frozen,
                              quantize_blob(w0["ip1"][0], "0.3", 4, rule="paper").frozen)
    out2 = str(tmp_path / "again")
    env = dict(os.environ, PYTHONPATH=TESTS)
    run_driver("--solver", str(tmp_path / "solver.prototxt"), "--init-from-fillers", "--out", out2, "--campaign",
               "0.3,0.6,0.8,1", "--strategy", "random", "--seed", "7", "--bits", "4", env=env)
    again = phase_states(out2, 4)
    assert all(np.array_equal(a.codes, b.codes) for x, y in zip(sts, again) for a, b in zip(x.blobs, y.blobs))


def test_every_blob0_quantizes_batchnorm_and_keeps_it_frozen(tmp_path):
    out, _, _ = run_watched(tmp_path, "--campaign", "0.5,1", "--quantize", "every-blob0", "--final-iters", "2",
                            watch=False, max_iter=6, snapshot=3)
    rep, sts = assert_frozen_invariants(out)
    assert ("bn1", 0) in sts[0].by_key() and set(rep["phases"][0]["layers"]) == {"conv1", "bn1", "ip1"}


@needs_python_layer
def test_n1_grows_under_training_but_the_grid_and_frozen_weights_stay(tmp_path):
    """A large lr and the random partition let float weights outgrow 1.5 * 2^n1 between
    phases (the max rule would then move n1 up and push weights at 2^n2 off the grid):
    the paper rule keeps the first phase's grid and every frozen value."""
    from inq_layer.core.levels import n1_from_max
    out, watch, _ = run_watched(tmp_path, "--campaign", "0.3,0.6,0.8,1", "--strategy", "random", "--seed", "3",
                                "--bits", "4", solver_lines=["base_lr: 0.5", "lr_policy: \"fixed\""],
                                max_iter=25, snapshot=0)
    rep, sts = assert_frozen_invariants(out, watch)
    grown = 0
    for k in range(1, len(sts)):
        start = caffemodel_params(states(out, k)[-1][1][: -len(".inqstate.npz")] + ".caffemodel")
        for key, b in sts[k].by_key().items():
            w = start[key[0]][key[1]]
            grown += n1_from_max(float(np.max(np.abs(w)))) > b.n1
    assert grown > 0, "no n1 grew: the scenario did not happen"


def test_report_counts_equal_the_snapshots(tmp_path):
    """frozen_fraction (weighted by blob size), per-layer fractions and the reference rule's
    unfrozen_by_reselection, recomputed from the phase states."""
    out, _, _ = run_watched(tmp_path, "--campaign", "0.3,0.6,0.8,1", "--rule", "reference", "--strategy", "random",
                            "--seed", "2", watch=False, max_iter=4, snapshot=0, conv=2)
    rep = json.load(open(os.path.join(out, "report.json")))
    sts = phase_states(out, 4)
    unfrozen = []
    for k, (ph, st) in enumerate(zip(rep["phases"], sts)):
        tot = sum(b.codes.size for b in st.blobs)
        fro = sum(int(b.frozen.sum()) for b in st.blobs)
        assert ph["frozen_fraction"] == fro / tot
        for b in st.blobs:
            ly = ph["layers"][b.layer]
            assert ly["frozen_fraction"] == b.frozen.sum() / b.codes.size
            assert ly["zero_fraction"] == np.count_nonzero(b.frozen & ((b.codes & 0x7FFF) == 0)) / b.codes.size
        if k:
            pairs = zip(sts[k - 1].blobs, st.blobs)
            unfrozen.append(sum(int(np.count_nonzero(a.frozen & ~b.frozen)) for a, b in pairs))
            assert ph["unfrozen_by_reselection"] == unfrozen[-1]
    assert sum(unfrozen) > 0  # the random re-selection does unfreeze weights
    sizes = [b.codes.size for b in sts[0].blobs]
    assert sizes[0] != sizes[1]  # so an unweighted mean over layers would differ
