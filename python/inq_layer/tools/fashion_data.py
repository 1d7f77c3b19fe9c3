"""Fashion-MNIST as Caffe LMDBs (see inq_layer.datasets.fashion_data).

    python -m inq_layer.tools.fashion_data [--out build/fashion] [--downloads build/downloads]
"""
from __future__ import annotations

from .interpreter import ensure_main

ensure_main(__name__)  # `python -m` with a Python that lacks numpy re-runs under build/venv

import sys

from ..datasets.fashion_data import make_data
from .command import data_command

main = data_command("python -m inq_layer.tools.fashion_data", __doc__, "build/fashion", make_data)


if __name__ == "__main__":
    sys.exit(main())
