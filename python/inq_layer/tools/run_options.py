"""The options the two training commands share (solver_driver.py, python -m
inq_layer.tools.prune): every run of phases takes them, checked the same way."""
from __future__ import annotations

import argparse

from ..errors import InqError
from ..options import SEED_MAX
from .command import ArgParser

INT32_MAX = 2**31 - 1  # Caffe's iteration counters are int


def add_run_options(ap: ArgParser, weights_help: str, out_help: str, seed_help: str,
                    max_iter_help: str) -> None:
    ap.add_argument("--solver", required=True, help="solver prototxt (all training settings come from it)")
    ap.add_argument("--weights", help=weights_help)
    ap.add_argument("--init-from-fillers", action="store_true", help="start from the net's fillers (smoke runs)")
    ap.add_argument("--seed", type=int, help=seed_help)
    ap.add_argument("--out", help=out_help)
    ap.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    ap.add_argument("--gpu", type=int, help="GPU id (overrides solver_mode)")
    ap.add_argument("--max-iter", type=int, help=max_iter_help)


def check_int(option: str, value: int | None, low: int, high: int = INT32_MAX) -> None:
    if value is not None and not low <= value <= high:
        raise InqError(f"{option} must be in {low}..{high}, got {value}")


def check_run_options(a: argparse.Namespace) -> None:
    check_int("--max-iter", a.max_iter, 1)
    check_int("--seed", a.seed, 0, SEED_MAX)
    check_int("--gpu", a.gpu, 0)
