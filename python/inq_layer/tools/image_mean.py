"""The mean image of a Datum database, as Caffe's compute_image_mean writes it (which
needs OpenCV, left out of this build):

    python -m inq_layer.tools.image_mean DB OUT.binaryproto

DB is an LMDB or a LevelDB folder (told apart by their files). OUT is a BlobProto
1 x C x H x W of float32: the per-pixel mean over every Datum (raw or encoded), summed in
double precision, read in one streaming pass with a progress bar.
"""
from __future__ import annotations

from .interpreter import ensure_main

ensure_main(__name__)  # `python -m` with a Python that lacks numpy re-runs under build/venv

import sys

from ..atomic import check_output, write_bytes_atomic
from ..datasets.image_mean import blob_proto, mean_image
from .command import ArgParser, cli_main


@cli_main
def main(argv: list[str] | None = None) -> int:
    ap = ArgParser(prog="python -m inq_layer.tools.image_mean", description=__doc__.splitlines()[0])
    ap.add_argument("lmdb", help="the Datum database (LMDB or LevelDB folder)")
    ap.add_argument("out", help="the mean file to write (.binaryproto)")
    a = ap.parse_args(argv)
    check_output(a.out, [a.lmdb], "OUT")
    mean, n = mean_image(a.lmdb)
    write_bytes_atomic(a.out, blob_proto(mean).SerializeToString())
    print(f"wrote {a.out}: mean of {n:,} images, {'x'.join(map(str, mean.shape))}, "
          f"per-channel means {', '.join(f'{v:.3f}' for v in mean.mean(axis=(1, 2)))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
