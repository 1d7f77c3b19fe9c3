"""Images to a Caffe LMDB, as Caffe's convert_imageset does (which needs OpenCV, left out
of this build):

    python -m inq_layer.tools.imageset --root DIR --list LIST --out LMDB [--resize 256 256]
        [--shuffle --seed S] [--encoded] [--gray] [--backend lmdb|leveldb]
        [--mixed-sizes] [--stop-on-error] [--jobs N]

What it writes and how: inq_layer.datasets.imageset.
"""
from __future__ import annotations

from .interpreter import ensure_main

ensure_main(__name__)  # `python -m` with a Python that lacks numpy re-runs under build/venv

import os
import sys

import numpy as np

from ..atomic import check_output_dir
from ..datasets.datum_db import BACKENDS
from ..datasets.imageset import Options, convert, read_list
from ..errors import InqError
from .command import ArgParser, cli_main


@cli_main
def main(argv: list[str] | None = None) -> int:
    ap = ArgParser(prog="python -m inq_layer.tools.imageset", description=__doc__.splitlines()[0])
    ap.add_argument("--root", required=True, help="folder the list's paths are relative to")
    ap.add_argument("--list", required=True, help="`relative/path label` per line")
    ap.add_argument("--out", required=True, help="the LMDB folder to write")
    ap.add_argument("--resize", type=int, nargs=2, metavar=("HEIGHT", "WIDTH"), help="resize every image")
    ap.add_argument("--shuffle", action="store_true", help="shuffle the lines (seeded)")
    ap.add_argument("--seed", type=int, default=0, help="seed of --shuffle (default 0)")
    ap.add_argument("--encoded", action="store_true", help="store the encoded image (JPEG when resized)")
    ap.add_argument("--gray", action="store_true", help="one grey channel")
    ap.add_argument("--mixed-sizes", action="store_true",
                    help="allow images of different sizes (without --resize; for a net whose data layer "
                         "crops them all to one size)")
    ap.add_argument("--backend", choices=BACKENDS, default="lmdb", help="database kind (default lmdb)")
    ap.add_argument("--stop-on-error", action="store_true", help="stop at the first unreadable image")
    ap.add_argument("--jobs", type=int, default=0, help="decoding processes (default: one per core)")
    a = ap.parse_args(argv)
    if not os.path.isdir(a.root):
        raise InqError(f"--root {a.root}: not a folder")
    if a.jobs < 0:
        raise InqError(f"--jobs must be 0 (one per core) or positive, got {a.jobs}")
    if a.resize is not None and min(a.resize) < 1:
        raise InqError(f"--resize {a.resize[0]} {a.resize[1]}: sizes must be positive")
    check_output_dir(a.out, [a.root, a.list])
    items = read_list(a.list)
    if a.shuffle:
        order = np.random.default_rng(a.seed).permutation(len(items))
        items = [items[i] for i in order]
    opt = Options(a.root, tuple(a.resize) if a.resize else None, a.encoded, a.gray, a.mixed_sizes)
    r = convert(opt, items, a.out, a.jobs, a.stop_on_error, backend=a.backend)
    print(f"wrote {a.out}: {r['written']:,} images ({len(r['bad'])} unreadable left out), "
          f"{r['rate']:.0f} images/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
