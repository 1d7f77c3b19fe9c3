"""The Caffe that `make setup` provides: pycaffe in the venv, forward/backward, SGD, the tool."""
import os
import subprocess
import sys

import numpy as np

from caffe_nets import write_tiny

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_pycaffe_imports_without_environment():
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "CAFFE_ROOT", "LD_LIBRARY_PATH")}
    out = subprocess.run([sys.executable, "-c", "import caffe, inq_layer; print(caffe.__file__)"],
                         env=env, capture_output=True, text=True, cwd="/")
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith(os.path.join("caffe", "__init__.py"))


def test_forward_backward_and_one_sgd_step_changes_weights(tmp_path):
    import caffe
    caffe.set_mode_cpu()
    solver = caffe.get_solver(write_tiny(str(tmp_path)))
    net = solver.net
    net.forward()
    net.backward()
    assert np.abs(net.params["ip1"][0].diff).sum() > 0
    before = net.params["ip1"][0].data.copy()
    solver.step(1)
    assert solver.iter == 1
    assert not np.array_equal(before, net.params["ip1"][0].data)
    assert np.isfinite(net.blobs["loss"].data).all()


def test_caffe_tool_runs(tmp_path):
    """The tool trains, and in caffe_tool_env its glog leaves no files in the temp dir."""
    from inq_layer.caffe_edge.caffe_io import caffe_tool, caffe_tool_env
    tool = caffe_tool()
    assert os.access(tool, os.X_OK), tool
    solver = write_tiny(str(tmp_path), max_iter=2, snapshot=0)
    logs = tmp_path / "tmp"
    logs.mkdir()
    out = subprocess.run([tool, "train", f"--solver={solver}"], capture_output=True, text=True, cwd=str(tmp_path),
                         env=caffe_tool_env(TMPDIR=str(logs)))
    assert out.returncode == 0, out.stderr[-2000:]
    assert "Optimization Done" in out.stderr
    assert list(logs.iterdir()) == []


def test_driver_help_runs_with_the_venv_python():
    out = subprocess.run([sys.executable, os.path.join(ROOT, "solver_driver.py"), "--help"],
                         capture_output=True, text=True, cwd="/")
    assert out.returncode == 0 and "--campaign" in out.stdout and "--resume" in out.stdout
