#!/usr/bin/env python3
"""Run an INQ campaign on a pycaffe solver: `python solver_driver.py --help` (the driver is
inq_layer/driver.py; a pip install names it `inq-driver`)."""
import sys

from inq_layer.interpreter import ensure

ensure()  # a Python without the project's packages re-runs this under build/venv

from inq_layer.driver import build_parser, main  # noqa: E402

__all__ = ["build_parser", "main"]

if __name__ == "__main__":
    sys.exit(main())
