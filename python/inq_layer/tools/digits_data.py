"""Real handwritten digits (OpenCV digits.png) as Caffe LMDBs (see inq_layer.datasets.digits_data).

    python -m inq_layer.tools.digits_data [--out build/digits] [--downloads build/downloads]
"""
from __future__ import annotations

from .interpreter import ensure_main

ensure_main(__name__)  # `python -m` with a Python that lacks numpy re-runs under build/venv

import sys

from ..datasets.digits_data import make_data
from .command import data_command

main = data_command("python -m inq_layer.tools.digits_data", __doc__, "build/digits", make_data)


if __name__ == "__main__":
    sys.exit(main())
