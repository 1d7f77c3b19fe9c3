#!/usr/bin/env python3
"""Run an INQ campaign on a pycaffe solver: `python solver_driver.py --help` (the driver is
python/inq_layer/driver.py; a pip install names it `inq-driver`)."""
import os
import sys

# This checkout's package, whichever Python runs the script (as pycaffe's python/ folder).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)), "python"))

from inq_layer.tools.interpreter import ensure  # noqa: E402

ensure()  # a Python without the project's packages re-runs this under build/venv

from inq_layer.tools.driver import build_parser, main  # noqa: E402

__all__ = ["build_parser", "main"]

if __name__ == "__main__":
    sys.exit(main())
