"""Check that a model is INQ-quantized: every quantizable weight is 0 or +-2^k with
n2 <= k <= n1, n1 from that blob's max |w|. Reads files with caffe_pb2 only.

    python -m inq_layer.tools.check --model NET.prototxt --weights W.caffemodel --bits 5 [--layer-bits conv1=8]
"""
from __future__ import annotations

from .interpreter import ensure_main

ensure_main(__name__)  # `python -m` with a Python that lacks numpy re-runs under build/venv

import sys

from ..deploy.check import check_model, format_table, passed, verdict
from ..deploy.check_activations import DEFAULT_BATCHES, check_activations, format_act_table
from ..errors import InqError
from ..options import QuantOptions, parse_layer_bits
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
    ap.add_argument("--act-bits", type=int, metavar="B",
                    help="also check the activations: every quantizer of --model (the inq_net.prototxt of a "
                         "campaign with --act-bits B) is calibrated at B bits and its output on test batches is on "
                         "its grid")
    ap.add_argument("--act-batches", type=int, metavar="N",
                    help=f"test batches for --act-bits (default {DEFAULT_BATCHES})")
    a = ap.parse_args(argv)
    if a.act_batches is not None and a.act_bits is None:
        raise InqError("--act-batches: only with --act-bits (without it no activation is checked)")
    opts = QuantOptions(bits=a.bits, layer_bits=parse_layer_bits(a.layer_bits), quantize=a.quantize,
                        act_bits=a.act_bits)
    rows = check_model(a.model, a.weights, opts)
    print(format_table(rows))
    ok = passed(rows)
    if a.act_bits is not None:
        acts = check_activations(a.model, a.weights, a.act_bits,
                                 DEFAULT_BATCHES if a.act_batches is None else a.act_batches)
        print(format_act_table(acts))
        ok = ok and not any(r.off_grid for r in acts)
        print(f"activations {'on their grids' if ok else 'OFF their grids'}: {len(acts)} quantizers, "
              f"{sum(r.count for r in acts):,} values checked, {sum(r.off_grid for r in acts):,} off grid")
    print(verdict(rows))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
