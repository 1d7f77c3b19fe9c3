"""Deployable INQ models: caffemodel <-> .inq (b-bit exponent codes, see inq_format.py).

    python -m inq_layer.tools.export --model NET.prototxt --weights W.caffemodel --bits 5 \
        [--layer-bits conv1=8] --out M.inq
    python -m inq_layer.tools.export --load M.inq --model NET.prototxt --out W.caffemodel
"""
from __future__ import annotations

from .interpreter import ensure_main

ensure_main(__name__)  # `python -m` with a Python that lacks numpy re-runs under build/venv

import sys

from ..atomic import check_output
from ..deploy.export import export_model, load_model
from ..errors import InqError
from ..options import QuantOptions, parse_layer_bits
from ..net.selection import MODES
from .command import ArgParser, cli_main


@cli_main
def main(argv: list[str] | None = None) -> int:
    ap = ArgParser(prog="python -m inq_layer.tools.export", description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="net prototxt")
    ap.add_argument("--weights", help="INQ caffemodel to export")
    ap.add_argument("--load", help=".inq file to turn back into a caffemodel")
    ap.add_argument("--bits", type=int, help="with --weights (default 5)")
    ap.add_argument("--layer-bits", help="layers with their own bit width: NAME=BITS,... (as the campaign's)")
    ap.add_argument("--quantize", choices=MODES, help="with --weights: which blobs are quantized (default: default)")
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    if bool(a.weights) == bool(a.load):
        raise InqError("give either --weights (export) or --load (back to a caffemodel)")
    given = [o for o, v in (("--bits", a.bits), ("--layer-bits", a.layer_bits), ("--quantize", a.quantize)) if v]
    if a.load and given:  # the .inq file says each layer's bits itself: these would be ignored
        raise InqError(f"{', '.join(given)}: only with --weights (an .inq file holds each layer's bits)")
    opts = QuantOptions(bits=5 if a.bits is None else a.bits, layer_bits=parse_layer_bits(a.layer_bits),
                        quantize=a.quantize or "default")
    check_output(a.out, [a.model, a.weights, a.load])
    if a.load:
        n = load_model(a.load, a.model, a.out)
        print(f"wrote {a.out} ({n} blobs)")
        return 0
    r = export_model(a.model, a.weights, opts, a.out)
    print(f"{'layer':<20} {'weights':>11} {'bits':>4} {'sparsity':>8} {'stored':>8} {'bits/weight':>11} {'bytes':>11}")
    for ly in r["layers"]:
        print(f"{ly['layer']:<20} {ly['count']:>11,} {ly['bits']:>4} {ly['sparsity']:>8.2%} {ly['stored']:>8} "
              f"{ly['bits_per_weight']:>11.3f} {ly['bytes']:>11,}")
    print(f"wrote {a.out}: {r['file_bytes']:,} bytes")
    if r["left_out"]:
        print(f"left out (not layers of {a.model}): {', '.join(r['left_out'])}")
    widths = "/".join(map(str, sorted({ly["bits"] for ly in r["layers"]}, reverse=True)))
    print(f"quantized weights: {r['quantized_weights']:,} -> {r['coded_bytes']:,} bytes at {widths} bits, packed "
          f"or entropy-coded "
          f"(float32: {r['quantized_float_bytes']:,} bytes, "
          f"{r['quantized_float_bytes'] / max(r['coded_bytes'], 1):.1f}x smaller)")
    print(f"whole model: float32 {r['float_bytes']:,} bytes, .inq {r['file_bytes']:,} bytes, "
          f"ratio {r['float_bytes'] / r['file_bytes']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
