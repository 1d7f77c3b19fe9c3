"""Run an INQ model with fixed-point activations in integers only (shifts and adds), over
a Datum database, as a multiplier-free device would:

    python -m inq_layer.tools.infer --model inq_deploy.prototxt --inq model.inq \\
        --data TEST_LMDB [--predictions FILE] [--dump DIR --images N]

(model.inq: inq-export --model inq_deploy.prototxt --weights final_inq.caffemodel --out model.inq;
--weights final_inq.caffemodel instead of --inq runs the caffemodel itself.)

--model is the deploy net a campaign with --act-bits wrote (its quantizers calibrated);
the images are transformed as its data layer's transform_param says. Prints the top-1
accuracy (and top-5 with 10 classes or more) and what a device computes per image.
"""
from __future__ import annotations

from .interpreter import ensure_main

ensure_main(__name__)  # `python -m` with a Python that lacks numpy re-runs under build/venv

import sys

from ..atomic import write_text_atomic
from ..errors import InqError
from .command import ArgParser, cli_main


@cli_main
def main(argv: list[str] | None = None) -> int:
    ap = ArgParser(prog="python -m inq_layer.tools.infer", description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="deploy prototxt with its quantizers (inq_deploy.prototxt)")
    w = ap.add_mutually_exclusive_group(required=True)
    w.add_argument("--inq", help="the model exported by inq-export from this deploy prototxt (format version 4)")
    w.add_argument("--weights", help="or the INQ caffemodel itself (power-of-two weights)")
    ap.add_argument("--data", required=True, help="LMDB or LevelDB of Datums (labels in them)")
    ap.add_argument("--batch", type=int, default=100, help="images per engine pass (default 100)")
    ap.add_argument("--predictions", help="write one predicted label per line, in database order")
    ap.add_argument("--dump", metavar="DIR", help="write every blob of the first --images images as integers")
    ap.add_argument("--images", type=int, default=1, help="images --dump writes (default 1)")
    a = ap.parse_args(argv)
    if a.batch < 1 or a.images < 1:
        raise InqError("--batch and --images must be at least 1")
    from ..deploy.infer import infer, load
    m = load(a.model, a.weights, a.inq)
    try:
        r = infer(m, a.data, a.batch, a.dump, a.images)
    except ValueError as e:  # what the engine cannot run, named by layer
        raise InqError(f"{a.model}: {e}") from None
    line = f"top-1 accuracy {r.top1 / r.images:.4f} ({r.top1} of {r.images} images)"
    if r.classes >= 10:
        line += f", top-5 {r.top5 / r.images:.4f}"
    print(line)
    print(f"per image: {r.shift_adds:,} shift-adds, {r.multiplies:,} multiplies (folded BatchNorm/Scale, averages)"
          + (f"; 64-bit accumulators in {', '.join(r.int64_layers)}" if r.int64_layers else
             "; every accumulator proven to fit 32 bits"))
    if a.predictions:
        write_text_atomic(a.predictions, "".join(f"{p}\n" for p in r.predictions))
    return 0


if __name__ == "__main__":
    sys.exit(main())
