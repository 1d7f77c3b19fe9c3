"""What the two training tools' command lines share (solver_driver.py, python -m
inq_layer.campaign.prune): the options of every run of phases and their checks, and the run itself:
the phases, the tool's own verdict on the final model, the reports, the summary printed."""
from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Callable

from ..errors import ArgParser, InqError

if TYPE_CHECKING:  # annotations only: run() imports the campaign when it runs
    from ..campaign.phases import PhaseSettings
    from ..caffe_edge.solver_config import SolverConfig
    from ..campaign.state import Record

INT32_MAX = 2**31 - 1  # Caffe's iteration counters are int
SEED_MAX = 2**32 - 1  # numpy's SeedSequence entropy and Caffe's random_seed (uint32 after the cast)


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


def run(cfg: SolverConfig, settings: PhaseSettings, resume: bool,
        verdict: Callable[[Record], tuple[bool, list[str]]], done: str) -> tuple[Record, bool]:
    """The phases into settings.out, then `verdict(record)` (ok, lines to print), the
    reports and their summary. Returns (record, ok)."""
    from ..campaign.phases import Campaign
    from ..campaign.report import build_report, markdown, write_reports
    from ..campaign.inputs import campaign_log
    with campaign_log(settings.out) as log:
        record = Campaign(cfg, settings, log).run(resume)
        ok, lines = verdict(record)
        for line in lines:
            print(line)
        rep = build_report(record, ok)
        write_reports(settings.out, rep)
        print(markdown(rep))
        print(f"{done}: {record.final_model}\nreports: {settings.out}/report.md, report.json, accuracy.png")
    return record, ok
