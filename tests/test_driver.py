"""solver_driver.py on small DummyData nets: exact freezing, rules, resume, solver values."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np

from caffe_nets import lmdb_tiny, write_tiny
from driver_util import DRIVER, bits, caffemodel_params, final_masks, run_driver, same_models, states


def test_no_frozen_weight_gives_exactly_plain_step(tmp_path):
    """The driver's loop (test at 0 and at test_interval, step(n) blocks, write-back) against
    Caffe's own solver.step(N) with the same prototxt: bit-identical weights."""
    import caffe
    from inq_layer.caffe_edge.log_format import CaffeLog
    from inq_layer.campaign.evaluate import test_all
    from inq_layer.core.codes import FLOAT
    from inq_layer.net.freezer import Freezer
    from inq_layer.caffe_edge.solver_config import caffe_solver_text, load_solver
    from inq_layer.campaign.trainer import train_phase
    caffe.set_mode_cpu()
    plain = write_tiny(str(tmp_path), max_iter=12, snapshot=0)
    cfg = load_solver(plain)
    path = str(tmp_path / "run.prototxt")
    with open(path, "w") as f:
        f.write(caffe_solver_text(cfg, str(tmp_path / "x"), 12))
    a = caffe.get_solver(path)
    codes = {(n, 0): np.full(a.net.params[n][0].data.shape, FLOAT, np.uint16) for n in ("conv1", "ip1")}
    test_all(a, cfg)  # the driver tests right after quantizing
    train_phase(a, cfg, Freezer(codes), 12, CaffeLog(open(os.devnull, "w")), lambda it: None)
    got = {n: [b.data.copy() for b in blobs] for n, blobs in a.net.params.items()}
    del a
    b = caffe.get_solver(plain)
    b.step(12)
    for n, blobs in b.net.params.items():
        for x, y in zip(got[n], blobs):
            assert np.array_equal(bits(x), bits(y.data)), n


def test_campaign_end_to_end_frozen_exact_in_every_snapshot(tmp_path):
    solver = write_tiny(str(tmp_path), max_iter=10, snapshot=4)
    out = str(tmp_path / "out")
    r = run_driver("--solver", solver, "--init-from-fillers", "--out", out, "--campaign", "0.5,0.75,1",
                   "--bits", "4", "--final-iters", "3")
    assert "check passed" in r.stdout
    rep = json.load(open(os.path.join(out, "report.json")))
    assert rep["check_passed"] and rep["bits"] == 4 and rep["rule"] == "paper" and rep["init_from_fillers"]
    assert [p["portion"] for p in rep["phases"]] == [0.5, 0.75, 1.0]
    assert [p["iterations"] for p in rep["phases"]] == [10, 10, 3]
    assert rep["phases"][-1]["frozen_fraction"] == 1.0
    assert set(rep["test_float"]) == {"accuracy", "loss"}
    for f in ("report.md", "accuracy.png", "final_inq.caffemodel", "train.log"):
        assert os.path.getsize(os.path.join(out, f)) > 0
    from inq_layer.core.codes import decode, frozen_mask
    from inq_layer.campaign.state import load_snapshot_state, snapshot_files
    for phase in (1, 2, 3):
        snaps = states(out, phase)
        assert len(snaps) >= 2 if phase < 3 else len(snaps) == 1
        first = None
        for it, sp in snaps:
            st = load_snapshot_state(sp)
            params = caffemodel_params(snapshot_files(sp)[0])
            for b in st.blobs:
                m = frozen_mask(b.codes)
                w = params[b.layer][b.index]
                assert np.array_equal(bits(w)[m], bits(decode(b.codes))[m]), (phase, it, b.layer)
            if first is None:
                first = params
            elif phase < 3:  # unfrozen weights do train
                m = frozen_mask(st.blobs[1].codes)
                assert not np.array_equal(first["ip1"][0][~m], params["ip1"][0][~m])
    final = caffemodel_params(os.path.join(out, "final_inq.caffemodel"))
    # BatchNorm statistics and biases stay float (the original quantized them: a defect).
    from inq_layer.deploy.check import check_array
    assert check_array(final["bn1"][0], 4)[3] > 0
    assert check_array(final["conv1"][1], 4)[3] > 0
    log = open(os.path.join(out, "train.log")).read()
    assert re.search(r"Iteration \d+ \(.*iter/s\), loss = [\d.e+-]+", log)
    assert "Test net output #0: accuracy = " in log and "lr = 0.01" in log


def test_caffe_parse_log_reads_the_driver_log(tmp_path):
    from inq_layer.caffe_edge.caffe_io import caffe_root
    solver = write_tiny(str(tmp_path), max_iter=6, snapshot=0, test_interval=3)
    out = str(tmp_path / "out")
    run_driver("--solver", solver, "--init-from-fillers", "--out", out, "--campaign", "0.5,1")
    extra = os.path.join(caffe_root(), "tools", "extra")
    tools = tmp_path / "tools"
    tools.mkdir()
    for f in ("parse_log.py", "extract_seconds.py"):  # Python 2 in Caffe 1.0: convert a copy
        shutil.copy(os.path.join(extra, f), tools / f)
    subprocess.run([sys.executable, "-W", "ignore", "-m", "lib2to3", "-w", "-n", str(tools)],
                   capture_output=True, check=True)
    r = subprocess.run([sys.executable, str(tools / "parse_log.py"), os.path.join(out, "train.log"), str(tmp_path)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    train = open(str(tmp_path / "train.log.train")).read().splitlines()
    test = open(str(tmp_path / "train.log.test")).read().splitlines()
    assert train[0].startswith("NumIters") and "loss" in train[0] and len(train) > 2
    assert "accuracy" in test[0] and len(test) > 2


def test_rules_reference_reselects_paper_monotonic(tmp_path):
    from inq_layer import quantize_blob
    from inq_layer.campaign.state import snapshot_files
    solver = write_tiny(str(tmp_path), max_iter=8, snapshot=0)
    outs = {}
    for rule in ("paper", "reference"):
        outs[rule] = str(tmp_path / rule)
        run_driver("--solver", solver, "--init-from-fillers", "--out", outs[rule], "--rule", rule)
    for k in (1, 2, 3):
        a, b = final_masks(outs["paper"], k), final_masks(outs["paper"], k + 1)
        assert all(np.all(b[key][a[key]]) for key in a)  # paper: monotonic
    # reference: phase k's mask is blob.cpp's re-selection on phase k-1's final weights
    for k, portion in ((2, "0.6"), (3, "0.8")):
        prev = caffemodel_params(snapshot_files(states(outs["reference"], k - 1)[-1][1])[0])
        masks = final_masks(outs["reference"], k)
        for (layer, idx), m in masks.items():
            assert np.array_equal(m, quantize_blob(prev[layer][idx], portion, 5).frozen)
    rep = json.load(open(os.path.join(outs["reference"], "report.json")))
    for k in range(2, len(rep["phases"]) + 1):  # weights frozen in phase k-1 that phase k's re-selection frees
        a, b = final_masks(outs["reference"], k - 1), final_masks(outs["reference"], k)
        assert rep["phases"][k - 1]["unfrozen_by_reselection"] == sum(int((a[key] & ~b[key]).sum()) for key in a)
    paper = json.load(open(os.path.join(outs["paper"], "report.json")))
    assert all(p.get("unfrozen_by_reselection") is None for p in paper["phases"] + rep["phases"][:1])


def test_resume_after_sigkill_matches_uninterrupted(tmp_path):
    solver = write_tiny(str(tmp_path), max_iter=60, snapshot=5, batch=32, hw=16, conv=16, deterministic=True)
    args = ["--solver", solver, "--init-from-fillers", "--campaign", "0.5,0.8,1", "--final-iters", "2"]
    ref = str(tmp_path / "ref")
    run_driver(*args, "--out", ref)
    out = str(tmp_path / "killed")
    p = subprocess.Popen([sys.executable, DRIVER, *args, "--out", out],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline and len(states(out, 2)) < 2 and p.poll() is None:
        time.sleep(0.01)
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert not os.path.exists(os.path.join(out, "final_inq.caffemodel")), "killed too late"
    r = run_driver(*args, "--out", out, check=False)
    assert r.returncode == 2 and "--resume" in r.stderr  # refuses to overwrite
    run_driver(*args, "--out", out, "--resume")
    for k in (1, 2, 3):
        a, b = final_masks(ref, k), final_masks(out, k)
        assert all(np.array_equal(a[key], b[key]) for key in a)
    assert same_models(os.path.join(ref, "final_inq.caffemodel"), os.path.join(out, "final_inq.caffemodel"))


def test_resume_refuses_other_settings(tmp_path):
    solver = write_tiny(str(tmp_path), max_iter=3, snapshot=0)
    out = str(tmp_path / "o")
    run_driver("--solver", solver, "--init-from-fillers", "--out", out, "--campaign", "0.5,1")
    for extra in (["--campaign", "0.3,1"], ["--bits", "4"], ["--rule", "reference"], ["--keep-momentum"]):
        r = run_driver("--solver", solver, "--init-from-fillers", "--out", out, "--campaign", "0.5,1",
                       "--resume", *extra, check=False)
        assert r.returncode == 2 and "this --out was written with" in r.stderr
        assert "Traceback" not in r.stderr


SOLVER_FIELDS = ("base_lr", "lr_policy", "gamma", "stepsize", "max_iter", "momentum", "weight_decay",
                 "test_iter", "test_interval", "display", "snapshot", "snapshot_prefix", "random_seed",
                 "solver_mode", "iter_size", "type", "net")


def test_solver_values_equal_what_caffe_reads(tmp_path):
    """Caffe prints the SolverParameter it parsed; ours must agree on every field."""
    from google.protobuf import text_format
    from inq_layer.caffe_edge.caffe_io import pb2
    from inq_layer.caffe_edge.solver_config import load_solver
    root = os.path.dirname(DRIVER)
    for solver in (write_tiny(str(tmp_path)), os.path.join(root, "prototxt", "alexnet_solver.prototxt")):
        if not os.path.exists(solver):
            continue
        ours = load_solver(solver).param
        # Let Caffe parse the file itself: it logs the parameters it read, before it
        # builds the net (AlexNet's cannot be built here: no ImageNet LMDB).
        r = subprocess.run([sys.executable, "-c", "import caffe; caffe.set_mode_cpu(); "
                            "import sys; s = caffe.get_solver(sys.argv[1])", solver],
                           capture_output=True, text=True, cwd=os.path.dirname(solver))
        m = re.search(r"Initializing solver from parameters: \n(.*?)\n[IWEF]\d", r.stderr, re.S)
        assert m, r.stderr[-2000:]
        theirs = text_format.Parse(m.group(1), pb2().SolverParameter())
        for f in SOLVER_FIELDS:
            a, b = getattr(ours, f), getattr(theirs, f)
            if f == "net":
                assert os.path.basename(a) == os.path.basename(b)
            else:
                assert list(a) == list(b) if f == "test_iter" else a == b, f


def test_sigkill_at_ten_random_moments_then_resume_completes(tmp_path):
    """One campaign killed 10 times at seeded random moments, resumed each time: it ends
    with a model that passes the check and equals the uninterrupted run bit for bit."""
    solver = write_tiny(str(tmp_path), max_iter=200, snapshot=5, batch=32, hw=16, conv=16, deterministic=True)
    args = ["--solver", solver, "--init-from-fillers", "--campaign", "0.4,0.7,1", "--final-iters", "3"]
    ref = str(tmp_path / "ref")
    run_driver(*args, "--out", ref)
    out = str(tmp_path / "out")
    rng = np.random.default_rng(10)

    def snapshots():
        return sum(len(states(out, k)) for k in (1, 2, 3))
    kills = 0
    for _ in range(10):
        extra = ["--resume"] if os.path.exists(os.path.join(out, "campaign.json")) else []
        target = snapshots() + int(rng.integers(0, 4))  # let it get 0-3 snapshots further
        p = subprocess.Popen([sys.executable, DRIVER, *args, "--out", out, *extra],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while p.poll() is None and snapshots() < target:
            time.sleep(0.005)
        time.sleep(float(rng.uniform(0, 0.1)))  # then a random moment
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
            kills += 1
        p.wait()
    assert kills >= 8  # the runs really were interrupted (81 snapshots in all)
    extra = ["--resume"] if os.path.exists(os.path.join(out, "campaign.json")) else []
    r = run_driver(*args, "--out", out, *extra)
    assert "check passed" in r.stdout
    assert same_models(os.path.join(ref, "final_inq.caffemodel"), os.path.join(out, "final_inq.caffemodel"))


def test_keep_momentum_carries_history_and_changes_training(tmp_path):
    solver = write_tiny(str(tmp_path), max_iter=6, snapshot=0, deterministic=True)
    args = ["--solver", solver, "--init-from-fillers", "--campaign", "0.5,0.8,1", "--final-iters", "2"]
    run_driver(*args, "--out", str(tmp_path / "reset"))
    run_driver(*args, "--out", str(tmp_path / "keep"), "--keep-momentum")
    assert same_models(snapshot_files_of(tmp_path / "reset", 1), snapshot_files_of(tmp_path / "keep", 1))
    assert not same_models(str(tmp_path / "reset" / "final_inq.caffemodel"),
                           str(tmp_path / "keep" / "final_inq.caffemodel"))  # phase 1 alike, then they part


def snapshot_files_of(out, phase):
    from inq_layer.campaign.state import snapshot_files
    return snapshot_files(states(str(out), phase)[-1][1])[0]


def test_campaign_on_an_lmdb_net_releases_each_phase_solver(tmp_path):
    """Real data layers: a phase's solver must be freed before the next opens the same
    LMDB (two open in one process hang), so nothing may keep it alive."""
    solver = lmdb_tiny(tmp_path, max_iter=6, snapshot=3)
    out = str(tmp_path / "out")
    r = run_driver("--solver", solver, "--init-from-fillers", "--out", out, "--campaign", "0.5,0.8,1",
                   timeout=120)
    assert "check passed" in r.stdout


def test_resume_mid_phase_on_lmdb_data_is_bit_identical(tmp_path):
    """Ctrl-C after phase 2's iteration-20 snapshot, then --resume: the data layers are
    fast-forwarded to where the run stopped, so the final model equals an uninterrupted
    run's bit for bit (without the fast-forward they restart at the first record)."""
    solver = lmdb_tiny(tmp_path, max_iter=60, snapshot=10, test_interval=15)
    args = ["--solver", solver, "--init-from-fillers", "--campaign", "0.5,0.8,1", "--final-iters", "2"]
    ref = str(tmp_path / "ref")
    run_driver(*args, "--out", ref)
    out = str(tmp_path / "cut")
    # Ctrl-C's default action in the child, even when this test runs in the background
    # (a shell starts background jobs with SIGINT ignored, and the child would inherit that).
    p = subprocess.Popen([sys.executable, DRIVER, *args, "--out", out], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while time.time() < deadline and p.poll() is None and not any(it >= 20 for it, _ in states(out, 2)):
        time.sleep(0.002)
    p.send_signal(signal.SIGINT)
    p.wait()
    done = [it for it, _ in states(out, 2)]
    assert done and max(done) < 60 and not os.path.exists(os.path.join(out, "final_inq.caffemodel"))
    # The phase's time so far, as the newest snapshot counted it, is carried into the resumed
    # phase's: set it to an hour to see it come back.
    from inq_layer.campaign.state import load_snapshot_state, save_snapshot_state, snapshot_files
    newest = max(states(out, 2))[1]
    st = load_snapshot_state(newest)
    assert st.seconds > 0
    st.seconds = 3600.0
    save_snapshot_state(newest, st, *snapshot_files(newest))
    t = time.time()
    r = run_driver(*args, "--out", out, "--resume")
    took = time.time() - t
    assert "Fast-forwarded the data layers by" in r.stdout
    phase2 = json.load(open(os.path.join(out, "report.json")))["phases"][1]["seconds"]
    assert 3600 < phase2 < 3600 + took
    assert same_models(os.path.join(ref, "final_inq.caffemodel"), os.path.join(out, "final_inq.caffemodel"))
    a, b = (json.load(open(os.path.join(d, "report.json"))) for d in (ref, out))
    assert [p["test_after_training"] for p in a["phases"]] == [p["test_after_training"] for p in b["phases"]]


def test_resume_verifies_the_inputs_and_every_option(tmp_path):
    """A resume with another phase length, or after the solver, the net or the weights
    changed, is one line naming what changed; nothing runs."""
    solver = write_tiny(str(tmp_path), max_iter=3, snapshot=0)
    out = str(tmp_path / "o")
    import caffe
    caffe.set_mode_cpu()
    s = caffe.get_solver(solver)
    weights = str(tmp_path / "w.caffemodel")
    s.net.save(weights)
    del s
    base = ["--solver", solver, "--weights", weights, "--out", out, "--campaign", "0.5,1"]
    run_driver(*base)
    for extra, msg in ((["--max-iter", "2"], "written with max_iter = None, not 2"),
                       (["--final-iters", "2"], "written with final_iters = 1, not 2")):
        r = run_driver(*base, "--resume", *extra, check=False)
        assert r.returncode == 2 and msg in r.stderr and r.stderr.count("\n") == 1
    for path, what in ((solver, "solver"), (str(tmp_path / "net.prototxt"), "net"), (weights, "weights")):
        original = open(path, "rb").read()
        open(path, "ab").write(b"\n# changed\n" if what != "weights" else b"")
        if what == "weights":
            import caffe as c
            n = c.Net(str(tmp_path / "net.prototxt"), c.TEST, weights=weights)
            n.params["ip1"][0].data[0, 0] += 1.0
            n.save(weights)
        r = run_driver(*base, "--resume", check=False)
        assert r.returncode == 2 and f"the {what} file differs from the one this --out was written with" in r.stderr
        open(path, "wb").write(original)
    assert run_driver(*base, "--resume").returncode == 0  # the same inputs again: accepted


def test_a_damaged_campaign_record_is_refused_before_training(tmp_path):
    solver = write_tiny(str(tmp_path), max_iter=3, snapshot=0)
    out = str(tmp_path / "o")
    base = ["--solver", solver, "--init-from-fillers", "--out", out, "--campaign", "0.5,1"]
    run_driver(*base)
    rec_path = os.path.join(out, "campaign.json")
    good = json.load(open(rec_path))
    cases = [
        (lambda d: d.update(pending={"test_after_quantize": 5}), "field 'test_after_quantize' is int 5, not dict"),
        (lambda d: d["phases"][0].update(portion="half"), "phase 1: field 'portion' is str 'half'"),
        (lambda d: d["phases"].append(d["phases"][0]), "phase 3: portion 0.5 is not portion 3 of the campaign 0.5,1"),
        (lambda d: d.update(settings=[]), "field 'settings' is list [], not dict"),
    ]
    for edit, msg in cases:
        d = json.loads(json.dumps(good))
        edit(d)
        json.dump(d, open(rec_path, "w"))
        r = run_driver(*base, "--resume", check=False)
        assert r.returncode == 2 and "damaged campaign record" in r.stderr and msg in r.stderr, r.stderr
        assert "Traceback" not in r.stderr and "Solving" not in r.stdout


def test_weights_with_blobs_caffe_would_abort_on_are_refused(tmp_path):
    """A blob on a parameterless layer (relu1), a layer twice, a layer without its blobs,
    new-style dims with leading 1s: Caffe's copy_from aborts (Check failed) on all but the second."""
    from inq_layer.caffe_edge import caffe_io
    solver = write_tiny(str(tmp_path), max_iter=2, snapshot=0)
    import caffe
    caffe.set_mode_cpu()
    s = caffe.get_solver(solver)
    good = str(tmp_path / "w.caffemodel")
    s.net.save(good)
    del s
    m = caffe_io.read_caffemodel(good)
    relu = next(ly for ly in m.layer if ly.name == "relu1")
    relu.blobs.add().CopyFrom(next(ly for ly in m.layer if ly.name == "conv1").blobs[1])
    cases = [(m.SerializeToString(), "layer 'relu1' has 1 blobs in the file, but it has no parameters in the net")]
    m = caffe_io.read_caffemodel(good)
    m.layer.add().CopyFrom(next(ly for ly in m.layer if ly.name == "ip1"))
    cases.append((m.SerializeToString(), "layer 'ip1' appears twice in the file"))
    m = caffe_io.read_caffemodel(good)
    del next(ly for ly in m.layer if ly.name == "conv1").blobs[:]
    cases.append((m.SerializeToString(), "layer 'conv1' has 0 blobs, the net expects 2"))
    m = caffe_io.read_caffemodel(good)  # leading 1s in new-style dims: Caffe accepts them only in the old fields
    dims = next(ly for ly in m.layer if ly.name == "ip1").blobs[0].shape.dim
    dims.insert(0, 1)
    dims.insert(0, 1)
    cases.append((m.SerializeToString(), "layer 'ip1' blob 0 has shape (1, 1, 3, 144), the net expects (3, 144)"))
    for i, (data, msg) in enumerate(cases):
        bad = tmp_path / f"bad{i}.caffemodel"
        bad.write_bytes(data)
        r = run_driver("--solver", solver, "--weights", str(bad), "--out", str(tmp_path / f"o{i}"), check=False)
        assert r.returncode == 2 and msg in r.stderr and "Check failed" not in r.stderr, r.stderr[-500:]
