"""Solver handling: the lr schedule the driver logs equals the one Caffe logs."""
import re
import subprocess

import numpy as np
import pytest

from caffe_nets import write_tiny
from inq_layer.errors import InqError
from inq_layer.caffe_edge.solver_config import caffe_solver_text, load_solver, lr_at

POLICIES = {
    "fixed": "", "step": "gamma: 0.5 stepsize: 3", "exp": "gamma: 0.9", "inv": "gamma: 0.1 power: 0.75",
    "multistep": "gamma: 0.3 stepvalue: 2 stepvalue: 5", "poly": "power: 2", "sigmoid": "gamma: 0.5 stepsize: 4",
}


@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_lr_schedule_matches_caffe(tmp_path, policy):
    from inq_layer.caffe_edge.caffe_io import caffe_tool, caffe_tool_env
    solver = write_tiny(str(tmp_path), max_iter=8, snapshot=0, test_interval=100)
    text = open(solver).read()
    text = re.sub(r'lr_policy: "step"\ngamma: 0.5\nstepsize: 7\n', f'lr_policy: "{policy}"\n{POLICIES[policy]}\n', text)
    assert f'lr_policy: "{policy}"' in text
    text = text.replace("display: 3", "display: 1")
    open(solver, "w").write(text)
    r = subprocess.run([caffe_tool(), "train", f"--solver={solver}"], capture_output=True, text=True, cwd=str(tmp_path),
                       env=caffe_tool_env())
    assert r.returncode == 0, r.stderr[-1500:]
    logged = [(int(a), float(b)) for a, b in re.findall(r"Iteration (\d+), lr = ([-+0-9.e]+)", r.stderr)]
    assert len(logged) == 8
    p = load_solver(solver).param
    for it, lr in logged:
        assert np.isclose(lr_at(p, it), lr, rtol=1e-5), (policy, it)


def test_lr_at_names_a_policy_it_cannot_compute():
    """A SolverParameter built in code skips load_solver's check: lr_at names the policy."""
    from caffe.proto import caffe_pb2
    p = caffe_pb2.SolverParameter(lr_policy="cosine", base_lr=0.1)
    with pytest.raises(InqError) as e:
        lr_at(p, 3)
    assert str(e.value) == "unknown lr_policy 'cosine'"


def test_paths_resolved_and_caffe_copy(tmp_path):
    solver = write_tiny(str(tmp_path))
    text = open(solver).read().replace(str(tmp_path / "net.prototxt"), "net.prototxt")
    open(solver, "w").write(text)
    cfg = load_solver(solver)  # relative to the solver file, from any working directory
    assert cfg.net_path == str(tmp_path / "net.prototxt")
    copy = caffe_solver_text(cfg, "/out/inq", 42)
    assert 'snapshot_prefix: "/out/inq"' in copy and "max_iter: 42" in copy and "snapshot: 0" in copy
    assert "momentum: 0.9" in copy and "weight_decay: 0.0005" in copy  # untouched
    bad = tmp_path / "s.prototxt"
    bad.write_text('net: "missing.prototxt"\nmax_iter: 3\n')
    with pytest.raises(InqError, match="missing.prototxt"):
        load_solver(str(bad))
    bad.write_text('net: "net.prototxt"\nmax_iter: 0\n')
    with pytest.raises(InqError, match="max_iter"):
        load_solver(str(bad))


@pytest.mark.parametrize("line, message", [
    ("snapshot: -3", "snapshot must be 0 (off) or positive, got -3"),
    ("test_interval: -1", "test_interval must be 0 (off) or positive, got -1"),
    ("display: -2", "display must be 0 (off) or positive, got -2"),
    ("iter_size: 0", "iter_size must be positive, got 0"),
    ("average_loss: 0", "average_loss must be positive, got 0"),
])
def test_values_the_loop_or_caffe_cannot_run_are_refused(tmp_path, line, message):
    """A negative snapshot once looped forever writing snapshots of iteration 0; iter_size 0
    was reported as divergence; average_loss 0 aborts BVLC master's Solver::Init."""
    solver = write_tiny(str(tmp_path))
    name = line.split(":")[0]
    text = re.sub(rf"^{name}: .*\n", "", open(solver).read(), flags=re.M) + line + "\n"
    open(solver, "w").write(text)
    with pytest.raises(InqError, match=f"^{re.escape(solver)}: {re.escape(message)}$"):
        load_solver(solver)


def test_a_negative_test_iter_runs_no_test(tmp_path):
    solver = write_tiny(str(tmp_path))
    text = open(solver).read().replace("test_iter: 2", "test_iter: -1")
    open(solver, "w").write(text)
    cfg = load_solver(solver)
    assert cfg.test_iters() == [0] and cfg.test_iter_of(0) == 0


def test_a_phase_logs_the_poly_rate_of_its_own_length(tmp_path):
    """--max-iter 6 with a solver of max_iter 8: Caffe decays poly over the phase's 6
    iterations, and train.log says the rate Caffe used."""
    from driver_util import run_driver
    solver = write_tiny(str(tmp_path), max_iter=8, snapshot=0, test_interval=100)
    text = open(solver).read()
    text = re.sub(r'lr_policy: "step"\ngamma: 0.5\nstepsize: 7\n', 'lr_policy: "poly"\npower: 2\n', text)
    open(solver, "w").write(text.replace("display: 3", "display: 1"))
    out = tmp_path / "o"
    run_driver("--solver", solver, "--init-from-fillers", "--campaign", "0.5,1", "--max-iter", "6", "--out", str(out))
    logged = [(int(a), float(b)) for a, b in re.findall(r"Iteration (\d+), lr = ([-+0-9.e]+)",
                                                        (out / "train.log").read_text())]
    base = load_solver(solver).param.base_lr
    logged = logged[:6]  # phase 1 (phase 2, the final one, trains one iteration)
    assert [it for it, _ in logged] == [0, 1, 2, 3, 4, 5]
    for it, lr in logged:
        assert np.isclose(lr, base * (1 - it / 6) ** 2, rtol=1e-5), (it, lr)


def _solver(tmp_path, text):
    (tmp_path / "net.prototxt").write_text('name: "n"\n')
    path = tmp_path / "s.prototxt"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("text, message", [
    ('net: "net.prototxt"\nmax_iter: 0\n', "max_iter must be positive, got 0"),
    ("max_iter: 3\n", "the solver names no net (set `net: \"...prototxt\"`)"),
    ('net: "nope.prototxt"\nmax_iter: 3\n',
     None),  # named in the next test
    ('net: "net.prototxt"\nmax_iter: 3\nlr_policy: "cosine"\n',
     "unknown lr_policy 'cosine'; use one of fixed, step, exp, inv, multistep, poly, sigmoid"),
    ('net: "net.prototxt"\nmax_iter: 3\nlr_policy: "step"\ngamma: 0.5\n',
     "lr_policy 'step' needs stepsize > 0, got 0"),
    ('net: "net.prototxt"\nmax_iter: 3\nlr_policy: "sigmoid"\ngamma: 0.5\n',
     "lr_policy 'sigmoid' needs stepsize > 0, got 0"),
    ('net: "net.prototxt"\nmax_iter: 3\nlr_policy: "step"\nstepsize: 2\ngamma: -0.5\n',
     "lr_policy 'step' needs gamma >= 0, got -0.5"),
    *[(f'net: "net.prototxt"\nmax_iter: 3\nlr_policy: "{p}"\ngamma: -1\nstepsize: 1\n',
       f"lr_policy '{p}' needs gamma >= 0, got -1") for p in ("exp", "inv", "multistep", "sigmoid")],
    *[(f'net: "net.prototxt"\nmax_iter: 3\nlr_policy: "fixed"\n{line}\n', message) for line, message in [
        ("base_lr: -0.01", "base_lr must be 0 or positive, got -0.01"),
        ("weight_decay: -0.0005", "weight_decay must be 0 or positive, got -0.0005"),
        ("momentum: 1", "momentum must be in [0, 1), got 1"),
        ("momentum: -0.5", "momentum must be in [0, 1), got -0.5"),
        ('type: "Adam"\nmomentum2: 1', "momentum2 (Adam's beta2) must be in [0, 1), got 1"),
        ("solver_type: ADAM\nmomentum2: -0.1", "momentum2 (Adam's beta2) must be in [0, 1), got -0.1"),
        ('type: "Adam"\nsolver_type: ADAM', "gives both type and the old solver_type; keep one")]],
    ('net: "net.prototxt"\nmax_iter: 3\nlr_policy: "fixed"\nsnapshot_format: HDF5\n',
     "snapshot_format HDF5 is not supported (the INQ state is kept beside binary snapshots); remove the line "
     "or use BINARYPROTO"),
])
def test_each_solver_defect_is_one_line_naming_the_file(tmp_path, text, message):
    if message is None:
        return
    path = _solver(tmp_path, text)
    with pytest.raises(InqError) as e:
        load_solver(path)
    assert str(e.value) == f"{path}: {message}"


def test_what_each_policy_accepts_at_its_edges(tmp_path):
    """stepsize 1 and gamma 0 are valid where a policy needs them; a policy that needs
    neither takes any; a net given inline (net_param) needs no file."""
    for text in ('lr_policy: "step"\nstepsize: 1\ngamma: 0\n', 'lr_policy: "fixed"\ngamma: -1\nstepsize: -1\n',
                 'lr_policy: "poly"\ngamma: -1\n'):
        assert load_solver(_solver(tmp_path, 'net: "net.prototxt"\nmax_iter: 1\n' + text)).max_iter == 1
    for text in ('type: "SGD"\nmomentum2: 2\nmomentum: 0.99\n', "solver_type: NESTEROV\nmomentum2: 1\n",
                 'type: "Adam"\nmomentum2: 0.999\nbase_lr: 0\nweight_decay: 0\nmomentum: 0\n'):  # beta2: Adam's only
        assert load_solver(_solver(tmp_path, 'net: "net.prototxt"\nmax_iter: 1\nlr_policy: "fixed"\n' + text))
    cfg = load_solver(_solver(tmp_path, 'net_param { name: "inline" }\nmax_iter: 2\nlr_policy: "fixed"\n'))
    assert cfg.net_path is None and cfg.max_iter == 2
    cfg = load_solver(_solver(tmp_path, 'train_net: "net.prototxt"\nmax_iter: 2\nlr_policy: "fixed"\n'))
    assert cfg.net_path == str(tmp_path / "net.prototxt")


def test_a_missing_net_file_is_named_with_where_it_was_looked_for(tmp_path):
    path = _solver(tmp_path, 'net: "nope.prototxt"\nmax_iter: 3\nlr_policy: "fixed"\n')
    with pytest.raises(InqError) as e:
        load_solver(path)
    assert str(e.value) == (f"{path}: net file 'nope.prototxt' not found (relative to the working directory or "
                            f"to the solver file)")
    gone = _solver(tmp_path, f'net: "{tmp_path / "gone.prototxt"}"\nmax_iter: 3\nlr_policy: "fixed"\n')
    with pytest.raises(InqError, match=f"net file '{tmp_path / 'gone.prototxt'}' not found"):
        load_solver(gone)  # an absolute path that does not exist: named here, not by Caffe later
    absolute = _solver(tmp_path, f'net: "{tmp_path / "net.prototxt"}"\ntest_net: "net.prototxt"\nmax_iter: 3\n'
                               'lr_policy: "fixed"\n')
    cfg = load_solver(absolute)
    assert cfg.net_path == str(tmp_path / "net.prototxt") and list(cfg.param.test_net) == [cfg.net_path]


def test_the_mode_and_each_test_nets_passes(tmp_path):
    base = 'net: "net.prototxt"\nmax_iter: 3\nlr_policy: "fixed"\n'
    assert load_solver(_solver(tmp_path, base + "solver_mode: GPU\n")).gpu is True
    assert load_solver(_solver(tmp_path, base + "solver_mode: CPU\n")).gpu is False
    assert load_solver(_solver(tmp_path, base)).gpu is True  # Caffe's default mode is GPU
    cfg = load_solver(_solver(tmp_path, base + "test_iter: 4\ntest_iter: -2\n"))
    assert cfg.test_iters() == [4, 0] and [cfg.test_iter_of(i) for i in range(3)] == [4, 0, 1]


def test_the_phase_solver_caffe_runs(tmp_path):
    """Caffe's own display, tests, snapshots and test at start are off (the driver does
    them); everything else is the user's."""
    from caffe.proto import caffe_pb2
    from google.protobuf import text_format
    cfg = load_solver(write_tiny(str(tmp_path)))
    p = text_format.Parse(caffe_solver_text(cfg, "/out/inq", 42), caffe_pb2.SolverParameter())
    assert (p.max_iter, p.display, p.test_interval, p.test_initialization, p.snapshot, p.snapshot_after_train,
            p.snapshot_prefix) == (42, 0, 2**31 - 1, False, 0, False, "/out/inq")
    assert p.base_lr == cfg.param.base_lr and p.momentum == cfg.param.momentum
