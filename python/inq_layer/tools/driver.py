"""Run an INQ campaign on a pycaffe solver.

    python solver_driver.py --solver SOLVER.prototxt --weights FLOAT.caffemodel [options]
    inq-driver ...  (the same, where the package is pip-installed)

Each accumulated portion of --campaign is one phase: a fresh solver, the previous phase's
weights, quantization of the quantizable blobs (frozen from then on, held exact), training
with the solver prototxt's settings, a test and a snapshot. Then final_inq.caffemodel,
the check and the reports (report.json, report.md, accuracy.png) in --out.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

from ..campaign.phases import DEFAULT_CAMPAIGN
from ..campaign.run import run
from ..errors import InqError
from ..options import ACT_FROM, CALIBRATIONS, QuantOptions, parse_layer_bits
from .command import ArgParser, cli_main
from .run_options import add_run_options, check_int, check_run_options
from ..core.quantize import N1_RULES, RULES, STRATEGIES
from ..net.selection import MODES

if TYPE_CHECKING:  # annotations only: main() imports what a run needs when it runs
    from ..caffe_edge.solver_config import SolverConfig

# Where the README tells users to put the float model of each shipped solver.
DEFAULT_WEIGHTS = {
    "alexnet_solver.prototxt": "models/bvlc_alexnet/bvlc_alexnet.caffemodel",
    "lenet_inq_solver.prototxt": "build/lenet/lenet_float.caffemodel",
    "lenet_solver.prototxt": "build/lenet/lenet_float.caffemodel",
}


def build_parser() -> ArgParser:
    ap = ArgParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_options(ap, weights_help="float caffemodel to quantize (default: the documented path for the net)",
                    out_help="output folder (default: from the solver's snapshot_prefix)",
                    seed_help="seed of the random partition (0..2^32-1)",
                    max_iter_help="iterations of each phase but the last (default: the solver's max_iter)")
    ap.add_argument("--campaign", default=DEFAULT_CAMPAIGN, help="accumulated portions (default: %(default)s)")
    ap.add_argument("--bits", type=int, default=5, help="bit width 2..8 (default 5)")
    ap.add_argument("--layer-bits", metavar="NAME=BITS,...",
                    help="layers with their own bit width, e.g. conv1=8,fc=8 (the rest take --bits)")
    ap.add_argument("--rule", default="paper", choices=RULES,
                    help="paper (Algorithm 1: monotonic masks, grid fixed in the first phase) or "
                         "reference (the original's re-selection, bit for bit); default paper")
    ap.add_argument("--strategy", default="magnitude", choices=STRATEGIES,
                    help="magnitude (pruning-inspired, default) or random")
    ap.add_argument("--quantize", default="default", choices=MODES,
                    help="default (conv/deconv/fc weights) or every-blob0 (the original's, BatchNorm included)")
    ap.add_argument("--n1-rule", default="max", choices=N1_RULES,
                    help="max: n1 = floor(log2(4/3 max|w|)), the paper's (default); mse: the n1 of least "
                         "squared error per blob, chosen in its first phase, weights above clipped "
                         "(beyond the paper: for 2 and 3 bits)")
    ap.add_argument("--keep-zeros", action="store_true",
                    help="weights that are 0 in the starting model stay 0 and frozen (INQ after pruning); "
                         "the portions count the other weights")
    ap.add_argument("--keep-momentum", action="store_true",
                    help="carry SGD momentum history across phases (the original resets it)")
    ap.add_argument("--final-iters", type=int, default=1,
                    help="iterations of the last phase (default 1, as the original)")
    act = ap.add_argument_group("activations (beyond the paper: fixed-point activations, trained with)")
    act.add_argument("--act-bits", type=int, metavar="B",
                     help="quantize the input of every quantized layer to B-bit fixed point (2..16; default: "
                          "activations stay float); writes inq_net.prototxt and inq_deploy.prototxt into --out")
    act.add_argument("--act-calibration", choices=CALIBRATIONS,
                     help="how each quantizer's step 2^-f is chosen: mse (least squared error, default) or max "
                          "(the largest value fits)")
    act.add_argument("--act-calibration-batches", type=int, metavar="N",
                     help="training batches the calibration sees (default 20)")
    act.add_argument("--act-from", choices=ACT_FROM,
                     help="start: quantized activations from phase 1 (default); end: one more phase after the "
                          "last, all weights frozen, of the solver's max_iter")
    return ap


def default_out(cfg: SolverConfig) -> str:
    prefix = cfg.param.snapshot_prefix or os.path.splitext(os.path.basename(cfg.path))[0]
    return prefix.rstrip("_/") + "_inq"


@cli_main
def main(argv: list[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    from ..core.partition import parse_schedule
    try:
        campaign = parse_schedule(a.campaign, "--campaign", end_at_one=True)
    except ValueError as e:
        raise InqError(str(e)) from None
    check_run_options(a)
    check_int("--final-iters", a.final_iters, 1)
    act = {k: v for k, v in (("act_calibration", a.act_calibration), ("act_calibration_batches",
                                                                      a.act_calibration_batches),
                             ("act_from", a.act_from)) if v is not None}
    if act and a.act_bits is None:  # silently ignored, they would look applied
        raise InqError(f"{', '.join('--' + k.replace('_', '-') for k in act)}: only with --act-bits "
                       f"(activations stay float without it)")
    opts = QuantOptions(bits=a.bits, layer_bits=parse_layer_bits(a.layer_bits), rule=a.rule, strategy=a.strategy,
                        n1_rule=a.n1_rule, seed=a.seed, quantize=a.quantize, keep_zeros=a.keep_zeros,
                        act_bits=a.act_bits, **act)

    from ..campaign.phases import Settings, inputs_of
    from ..deploy.check import check_model, check_net_layer_bits, format_table, passed, verdict
    from ..campaign.inputs import refuse_test_only_weights, solver_with_net_file, starting_weights, writable_out
    from ..caffe_edge.caffe_io import TRAIN
    cfg = solver_with_net_file(a.solver)
    refuse_test_only_weights(cfg.net_path)
    weights = starting_weights(a.weights, a.init_from_fillers, DEFAULT_WEIGHTS.get(os.path.basename(a.solver)))
    check_net_layer_bits(opts, cfg.net_path)
    out = writable_out(a.out or default_out(cfg), [cfg.path, cfg.net_path, weights])
    s = Settings(campaign=campaign, options=opts, out=out, max_iter=a.max_iter, final_iters=a.final_iters,
                 gpu=a.gpu, weights=weights, keep_momentum=a.keep_momentum, inputs=inputs_of(cfg, weights))

    def checked(record) -> tuple[bool, list[str]]:
        rows = check_model(cfg.net_path, record.final_model, opts, phase=TRAIN)
        return passed(rows), [format_table(rows), verdict(rows)]

    _, ok = run(cfg, s, a.resume, checked, "final model")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
