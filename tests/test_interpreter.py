"""The commands as users type them: with a Python that lacks the project's packages, the
driver and the tools re-execute under build/venv, or say in one line to run make setup."""
import os
import subprocess
import sys

from driver_util import DRIVER, ROOT


def bare_python(tmp_path):
    """A venv with nothing installed (not even pip): like a system Python without numpy."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "bare")], check=True)
    return str(tmp_path / "bare" / "bin" / "python")


def test_driver_and_tools_reexecute_under_the_project_venv(tmp_path):
    py = bare_python(tmp_path)
    assert subprocess.run([py, "-c", "import numpy"], capture_output=True).returncode != 0
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "INQ_REEXEC")}
    r = subprocess.run([py, DRIVER, "--help"], capture_output=True, text=True, env=env, cwd=str(tmp_path))
    assert r.returncode == 0 and "--solver" in r.stdout, r.stderr
    env_tools = dict(env, PYTHONPATH=os.path.join(ROOT, "python"))  # the package folder, as for pycaffe
    tools = (("check", "--model"), ("export", "--model"), ("prune", "--solver"), ("imageset", "--root"),
             ("image_mean", "binaryproto"), ("fashion_data", "--downloads"))
    for tool, flag in tools:
        r = subprocess.run([py, "-m", f"inq_layer.tools.{tool}", "--help"], capture_output=True, text=True,
                           env=env_tools, cwd=str(tmp_path))
        assert r.returncode == 0 and flag in r.stdout, (tool, r.stderr)


def test_without_a_venv_one_line_says_make_setup(tmp_path):
    py = bare_python(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["INQ_REEXEC"] = "1"  # as if build/venv were not there to go to
    r = subprocess.run([py, DRIVER, "--help"], capture_output=True, text=True, env=env)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and lines[0].startswith("error:") and "make setup" in lines[0]
