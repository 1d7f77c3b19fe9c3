"""Check that a model is INQ-quantized: every quantizable weight is 0 or +-2^k with
n2 <= k <= n1, n1 from that blob's max |w|. Reads files with caffe_pb2 only.

    python -m inq_layer.tools.check --model NET.prototxt --weights W.caffemodel --bits 5 [--layer-bits conv1=8]
"""
from __future__ import annotations

from .interpreter import ensure_main

ensure_main(__name__)  # `python -m` with a Python that lacks numpy re-runs under build/venv

import sys

from ..deploy.check import check_model, format_table, passed, verdict
from ..net.layer_bits import parse_layer_bits
from ..net.selection import MODES
from .command import ArgParser, cli_main


@cli_main
def main(argv: list[str] | None = None) -> int:
    ap = ArgParser(prog="python -m inq_layer.tools.check", description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="net prototxt")
    ap.add_argument("--weights", required=True, help="caffemodel to check")
    ap.add_argument("--bits", type=int, default=5)
    ap.add_argument("--layer-bits", help="layers with their own bit width: NAME=BITS,... (as the campaign's)")
    ap.add_argument("--quantize", choices=MODES, default="default", help="which blobs are quantized")
    a = ap.parse_args(argv)
    rows = check_model(a.model, a.weights, a.bits, a.quantize, layer_bits=parse_layer_bits(a.layer_bits))
    print(format_table(rows))
    print(verdict(rows))
    return 0 if passed(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
