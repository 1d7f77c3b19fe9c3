"""pyproject.toml: `pip install .` gives inq_layer, its compiled kernels and its commands;
importing the package loads nothing and never re-executes."""
import os
import shutil
import subprocess
import sys

from driver_util import ROOT
from test_interpreter import bare_python


def test_import_inq_layer_has_no_side_effect(tmp_path):
    code = "import sys, inq_layer; print(sorted(m for m in sys.modules if m.startswith(('inq_layer.', 'numpy'))))"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "[]"
    # A Python without numpy imports it too, and stays itself (no re-execution, no exit).
    py = bare_python(tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "INQ_REEXEC")}
    env["PYTHONPATH"] = os.path.join(ROOT, "python")
    r = subprocess.run([py, "-c", "import sys, inq_layer; print(sys.executable)"], capture_output=True, text=True,
                       env=env, cwd=str(tmp_path))
    assert r.returncode == 0 and r.stdout.strip() == py, r.stderr
    r = subprocess.run([sys.executable, "-c", "import inq_layer; inq_layer.nothing"], capture_output=True, text=True)
    assert "has no attribute 'nothing'" in r.stderr


def test_pip_install_gives_the_package_kernels_and_commands(tmp_path):
    target = tmp_path / "site"
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
                        "--target", str(target), ROOT], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    env = dict(os.environ, PYTHONPATH=str(target))
    code = ("import inq_layer, inq_layer.core.passes as p, inq_layer.core.codes as w; "
            "print(inq_layer.__file__, p.KERNEL, w.KERNEL)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=str(tmp_path))
    path, *kernels = r.stdout.split()
    assert path.startswith(str(target)), r.stderr
    if shutil.which("gcc") or shutil.which("cc"):
        assert kernels == ["compiled", "compiled"]
    for cmd, flag in (("inq-driver", "--solver"), ("inq-check", "--model"), ("inq-export", "--model"),
                      ("inq-prune", "--sparsity"), ("inq-imageset", "--root"), ("inq-image-mean", "usage")):
        r = subprocess.run([str(target / "bin" / cmd), "--help"], capture_output=True, text=True, env=env,
                           cwd=str(tmp_path))
        assert r.returncode == 0 and flag in r.stdout, (cmd, r.stderr[-500:])
