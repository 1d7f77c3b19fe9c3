#!/usr/bin/env python3
"""`make replicate`: the paper's questions measured on Fashion-MNIST (60,000 / 10,000).

    python scripts/replicate.py [ROW ...]     run rows (default: all), 3 seeds each
    python scripts/replicate.py --float NET   only the float models of NET
    python scripts/replicate.py --doc         render docs/REPLICATION.md and its plots
    python scripts/replicate.py --save        carry unfinished runs to the next checkout

The experiments are declared in replication/plan.py. Runs live in
build/replicate_fashion/<row>_s<seed>; what a finished run measured is kept in
docs/replication/ (committed): a run found there is not run again, even on a fresh checkout,
and an interrupted one continues with --resume (also on a fresh checkout, from what --save
packed into replication_state/, committed). Two runs at a time, one BLAS thread each;
the doc is rendered again after every finished run, rows still running show as pending.
"""
from __future__ import annotations

import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

from replication import carry, render, runner
from replication.layout import OUT
from replication.plan import NETS, ROWS, SEEDS


def main(argv: list[str]) -> int:
    if argv == ["--doc"]:
        render.write_doc()
        return 0
    if argv == ["--save"]:
        for name, size in carry.save().items():
            print(f"  carried {name}: {size:,} bytes")
        return 0
    os.makedirs(OUT, exist_ok=True)
    for name in carry.restore():
        print(f"  restored {name} from {os.path.relpath(carry.STATE)}", flush=True)
    if argv[:1] == ["--float"]:
        nets = argv[1:]
        if not nets or set(nets) - set(NETS):
            sys.exit(f"error: --float takes net names: {', '.join(NETS)}")
        with ThreadPoolExecutor(2) as ex:
            list(ex.map(lambda a: runner.float_model(*a), [(n, s) for n in nets for s in SEEDS]))
        return 0
    rows = argv or list(ROWS)
    unknown = [r for r in rows if r not in ROWS]
    if unknown:
        sys.exit(f"error: unknown rows {', '.join(unknown)}; rows: {', '.join(ROWS)}")
    lock = threading.Lock()

    def job(a: tuple[str, int]) -> None:
        runner.run(*a)
        with lock:
            render.write_doc()

    # Each run trains the float model or the pruning it starts from when missing (once: the
    # runner's locks), so both cores stay busy until the last run.
    with ThreadPoolExecutor(2) as ex:
        list(ex.map(job, runner.pending(rows)))
    render.write_doc()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
