"""Run under the project's interpreter: `python solver_driver.py ...` or `python -m
inq_layer.deploy.check ...` typed with a system Python that lacks numpy or pycaffe's protobuf is
re-executed under build/venv/bin/python when `make setup` made it, or stopped with one line
that says to run it. Standard library only: the command-line entry points call `ensure`
(or `ensure_main`) before they import anything else; importing the package never does."""
from __future__ import annotations

import importlib.util
import os
import sys

# the repository, in a checkout: four levels above python/inq_layer/tools/interpreter.py
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__)))))
VENV = os.path.join(ROOT, "build", "venv")
VENV_PYTHON = os.path.join(VENV, "bin", "python")
NEEDED = ("numpy", "google.protobuf")


def _missing() -> list[str]:
    out = []
    for name in NEEDED:
        try:
            if importlib.util.find_spec(name) is None:
                out.append(name)
        except (ImportError, ValueError):
            out.append(name)
    return out


def ensure() -> None:
    missing = _missing()
    if not missing:
        return
    in_venv = os.path.realpath(sys.prefix) == os.path.realpath(VENV)
    if os.path.exists(VENV_PYTHON) and not in_venv and not os.environ.get("INQ_REEXEC"):
        os.environ["INQ_REEXEC"] = "1"  # never twice
        argv = getattr(sys, "orig_argv", None) or [sys.executable, *sys.argv]
        os.execv(VENV_PYTHON, [VENV_PYTHON, *argv[1:]])
    print(f"error: {sys.executable} cannot import {', '.join(missing)}: run `make setup` in {ROOT} "
          f"and use build/venv/bin/python", file=sys.stderr)
    sys.exit(2)


def ensure_main(module_name: str) -> None:
    """`ensure()` when a tool module runs as `python -m inq_layer.NAME` (its __name__ is
    "__main__"), nothing when it is imported."""
    if module_name == "__main__":
        ensure()
