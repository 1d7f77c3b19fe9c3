#!/usr/bin/env python3
"""`make replicate`: the paper's questions measured on Fashion-MNIST (60,000 / 10,000).

    python experiments/replication/replicate.py [ROW ...]     run rows (default: all), 3 seeds each
    python experiments/replication/replicate.py --float NET   only the float models of NET
    python experiments/replication/replicate.py --doc         render docs/REPLICATION.md and its plots
    python experiments/replication/replicate.py --save        carry unfinished runs to the next checkout
    python experiments/replication/replicate.py --pending     list the runs not finished yet, and where each is

The experiments are declared in replication/plan.py. Runs live in
build/replicate_fashion/<row>_s<seed>; what a finished run measured is kept in
docs/replication/ (committed): a run found there is not run again, even on a fresh checkout,
and an interrupted one continues with --resume (also on a fresh checkout, from what --save
packed into replication_state/, committed). Two runs at a time, one BLAS thread each;
the doc is rendered again after every finished run, rows still running show as pending.
"""
from __future__ import annotations

import argparse
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

from inq_layer.errors import InqError
from replication import carry, render, runner
from replication.layout import OUT, run_dir
from replication.plan import NETS, ROWS, SEEDS


class ArgParser(argparse.ArgumentParser):
    """argparse's errors as one line (main prints it, exit 2)."""

    def error(self, message: str):
        raise InqError(f"{message} (see --help)")


def parse(argv: list[str]) -> argparse.Namespace:
    ap = ArgParser(prog="experiments/replication/replicate.py", description=__doc__.split("\n\n")[0].replace("`", ""),
                   epilog="rows: " + ", ".join(ROWS))
    ap.add_argument("rows", nargs="*", metavar="ROW", help="rows to run, 3 seeds each (default: all)")
    what = ap.add_mutually_exclusive_group()
    what.add_argument("--float", nargs="+", metavar="NET", choices=list(NETS), help="only the float models of NET")
    what.add_argument("--doc", action="store_true", help="render docs/REPLICATION.md and its plots")
    what.add_argument("--save", action="store_true", help="carry unfinished runs to the next checkout")
    ap.add_argument("--first", metavar="ROW", help="start ROW's first run at once, in one of the two slots; its "
                    "other runs after the other rows'")
    what.add_argument("--pending", action="store_true",
                      help="list the runs not finished yet: the phase and iteration each resumes from, the time left")
    a = ap.parse_args(argv)
    unknown = [r for r in a.rows + ([a.first] if a.first else []) if r not in ROWS]
    if unknown:
        raise InqError(f"unknown rows {', '.join(unknown)} (see --help for the rows)")
    if (a.rows or a.first) and (a.float or a.doc or a.save):
        raise InqError("rows and --first go with running them or with --pending, not with --float, --doc or --save")
    return a


def pending_lines(rows: list[str]) -> list[str]:
    """Each run of `rows` not kept yet, and where it is: running or interrupted here, packed
    in replication_state/, or not started; for a started one, its phase and resume point."""
    out = []
    for row in rows:
        per_phase = runner.phase_iterations(ROWS[row].regime, ROWS[row].net)  # until a phase has finished
        for s in SEEDS:
            name = f"{row}_s{s}"
            if runner.is_kept(name):
                continue
            arch, here = os.path.join(carry.STATE, f"{name}.tar.gz"), run_dir(row, s)
            if os.path.exists(os.path.join(here, "campaign.json")):
                where = f"started in {os.path.relpath(here)}, {carry.dir_progress(here, per_phase)}"
            elif os.path.exists(arch):
                where = f"carried in {os.path.relpath(carry.STATE)}, {carry.archive_progress(arch, per_phase)}"
            else:
                where = "not started"
            out.append(f"  {name}: {where}")
    return out


def main(argv: list[str]) -> int:
    """The command; bad arguments and the package's one-line errors exit 2."""
    try:
        return run(parse(argv))
    except InqError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # a path the checks could not foresee (a full disk, ...)
        print(f"error: {e.filename or 'a file'}: {e.strerror or e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def run(a: argparse.Namespace) -> int:
    rows = a.rows or list(ROWS)
    if a.doc:
        render.write_doc()
        return 0
    if a.save:
        for name, size in carry.save().items():
            print(f"  carried {name}: {size:,} bytes")
        return 0
    if a.pending:
        lines = pending_lines(rows)
        print(f"{len(lines)} runs not finished" + (":" if lines else "."), *lines, sep="\n")
        return 0
    os.makedirs(OUT, exist_ok=True)
    for name in carry.restore():
        print(f"  restored {name} from {os.path.relpath(carry.STATE)}", flush=True)
    if a.float:
        with ThreadPoolExecutor(2) as ex:
            list(ex.map(lambda n_s: runner.float_model(*n_s), [(n, s) for n in a.float for s in SEEDS]))
        return 0
    lock = threading.Lock()

    def job(which: tuple[str, int]) -> None:
        runner.run(*which)
        with lock:
            render.write_doc()

    # Each run trains the float model or the pruning it starts from when missing (once: the
    # runner's locks), so both cores stay busy until the last run.
    with ThreadPoolExecutor(2) as ex:
        list(ex.map(job, runner.pending(rows, a.first)))
    render.write_doc()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
