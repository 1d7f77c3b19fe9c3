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
