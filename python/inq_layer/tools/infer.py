"""Run an INQ model with fixed-point activations in integers only (shifts and adds), over
a Datum database, as a multiplier-free device would:

    python -m inq_layer.tools.infer --model inq_deploy.prototxt --inq model.inq \\
        --data TEST_LMDB [--predictions FILE] [--dump DIR --images N]

(model.inq: inq-export --model inq_deploy.prototxt --weights final_inq.caffemodel --out model.inq;
--weights final_inq.caffemodel instead of --inq runs the caffemodel itself.)

--model is the deploy net a campaign with --act-bits wrote (its quantizers calibrated);
the images are transformed as its data layer's transform_param says. Prints the top-1
accuracy (and top-5 with 10 classes or more) and what a device computes per image.

A weight-only INQ model (a deploy net without quantizers, a caffemodel or an .inq of any
version) runs with --act-bits B: quantizers are added where a campaign puts them and
calibrated now on the first --calibration-images images (mse or max rule); the output
says so, since the model was not trained with them.
"""
from __future__ import annotations

from .interpreter import ensure_main

ensure_main(__name__)  # `python -m` with a Python that lacks numpy re-runs under build/venv

import os
import sys

from ..atomic import check_disjoint, check_not_a_file, check_output, write_text_atomic
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
    ap.add_argument("--act-bits", type=int, help="a weight-only model: add activation quantizers of this many "
                    "bits and calibrate them now (the model was not trained with them)")
    ap.add_argument("--act-calibration", choices=("mse", "max"),
                    help="with --act-bits: the rule that picks each quantizer's step (default mse)")
    ap.add_argument("--calibration-images", type=int,
                    help="with --act-bits: images calibration reads, from the start of its data (default 1000)")
    ap.add_argument("--calibration-data", help="with --act-bits: the database calibration reads (default --data)")
    ap.add_argument("--save-model", metavar="PROTOTXT",
                    help="with --act-bits: write the deploy net with its calibrated quantizers (inq-export takes it)")
    ap.add_argument("--float-layers", default="", metavar="TYPES",
                    help="layer types to run in float between quantizers (only LRN); the report names them")
    a = ap.parse_args(argv)
    if a.batch < 1 or a.images < 1:
        raise InqError("--batch and --images must be at least 1")
    act = None
    if a.act_bits is not None:
        from ..core.fixed_point import check_bits
        try:
            check_bits(a.act_bits)
        except ValueError as e:
            raise InqError(f"--act-bits: {e}") from None
        images = 1000 if a.calibration_images is None else a.calibration_images
        if images < 1:
            raise InqError(f"--calibration-images must be at least 1, got {images}")
        from ..deploy.infer_calibration import ActCalibration
        act = ActCalibration(a.act_bits, a.act_calibration or "mse", images, a.calibration_data or a.data)
    elif a.calibration_data or a.act_calibration or a.calibration_images is not None or a.save_model:
        raise InqError("--act-calibration, --calibration-images, --calibration-data and --save-model go with "
                       "--act-bits")
    kinds = tuple(t.strip() for t in a.float_layers.split(",") if t.strip())
    if any(t != "LRN" for t in kinds):
        raise InqError(f"--float-layers takes LRN only (the other layers run in integers), got {a.float_layers!r}")
    # Every output is checked before the engine runs, so a bad path costs no inference.
    inputs = [a.model, a.inq, a.weights, a.data, a.calibration_data]
    if a.predictions:
        check_output(a.predictions, inputs, "--predictions")
    if a.save_model:
        check_output(a.save_model, inputs + [a.predictions], "--save-model")
    if a.dump:
        check_disjoint(a.dump, inputs + [a.predictions, a.save_model], "--dump")
        check_not_a_file(a.dump, "--dump")
    if a.dump and os.path.isdir(a.dump) and os.listdir(a.dump) and not os.path.exists(os.path.join(a.dump,
                                                                                                  "blobs.json")):
        raise InqError(f"--dump {a.dump}: holds files of no dump (no blobs.json); give an empty or new folder "
                       f"(nothing in it was changed)")
    from ..deploy.infer import infer, load
    m = load(a.model, a.weights, a.inq, kinds, act)
    if m.calibration:
        print(m.calibration)
    if a.save_model:
        from ..caffe_edge.caffe_io import write_text_proto
        write_text_proto(a.save_model, m.net)
        print(f"wrote {a.save_model}")
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
    if r.float_layers:
        print(f"not integer: {', '.join(r.float_layers)} ran in float (--float-layers)")
    if a.predictions:
        write_text_atomic(a.predictions, "".join(f"{p}\n" for p in r.predictions))
    return 0


if __name__ == "__main__":
    sys.exit(main())
