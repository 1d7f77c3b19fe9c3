"""The kept results (docs/replication/*.json) read back, and the numbers the doc derives
from them. Reads only: the runner is what writes them."""
from __future__ import annotations

import functools
import json
import os
import statistics

from inq_layer.campaign.report_schema import Report, load_report

from .layout import RESULTS
from .plan import PRUNES, ROWS, SEEDS


@functools.lru_cache(maxsize=None)
def _load(path: str, mtime: float) -> Report:
    return load_report(path)


def report(name: str, seed: int) -> Report | None:
    """What a finished run of a row or a pruning measured, else None."""
    path = os.path.join(RESULTS, f"{name}_s{seed}.json")
    return _load(path, os.path.getmtime(path)) if os.path.exists(path) else None


def kept(name: str) -> dict | None:
    """A kept JSON that is not a report (float trainings, timings)."""
    path = os.path.join(RESULTS, f"{name}.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def reports(name: str) -> list[Report] | None:
    rs = [report(name, s) for s in SEEDS]
    return rs if all(rs) else None


def done(name: str) -> int:
    return sum(report(name, s) is not None for s in SEEDS)


def pruned_from(prune: str, seed: int) -> float | None:
    """Accuracy of the float model at the root of a pruning chain."""
    p = PRUNES[prune]
    if p.start:
        return pruned_from(p.start, seed)
    r = report(prune, seed)
    return None if r is None else r.float_accuracy()


def baseline(row: str, seed: int) -> float | None:
    """The float model's accuracy for a row's seed. A pruned row's campaign starts from the
    pruned model: its float model is the one the pruning started from."""
    if ROWS[row].pruned:
        return pruned_from(ROWS[row].start, seed)
    r = report(row, seed)
    return None if r is None else r.float_accuracy()


def change(row: str) -> list[float] | None:
    """Accuracy change from the float model, per seed (None while a seed is pending)."""
    rs = reports(row)
    base = [baseline(row, s) for s in SEEDS]
    return None if rs is None or None in base else [r.accuracy() - b for r, b in zip(rs, base)]


def pruned(prune: str) -> tuple[list[float], list[float], float] | None:
    """A finished pruning's float and pruned accuracy per seed and its mean sparsity."""
    rs = [report(prune, s) for s in SEEDS]
    fl = [pruned_from(prune, s) for s in SEEDS]
    if not all(rs) or None in fl:
        return None
    sp = [sum(ly.pruned_fraction * ly.count for ly in r.phases[-1].layers.values())
          / sum(ly.count for ly in r.phases[-1].layers.values()) for r in rs]
    return fl, [r.accuracy() for r in rs], statistics.mean(sp)


def bits_per_nonzero(rep: Report) -> float:
    weights = sum(ly.count for ly in rep.phases[-1].layers.values())
    return 8 * rep.size.file_bytes / ((1 - rep.size.sparsity) * weights)


def ratio(rep: Report) -> float:
    """How many times smaller than the float32 blobs the exported .inq is."""
    return rep.size.float_bytes / rep.size.file_bytes


def zero_fraction(rep: Report) -> float:
    return statistics.mean(ly.zero_fraction for ly in rep.phases[-1].layers.values())


# -- statistics and verdicts ------------------------------------------------------------
def spread(c: list[float] | None, unit: str = "") -> str:
    return "pending" if c is None else f"{statistics.mean(c):+.2f} ± {statistics.stdev(c):.2f}{unit}"


def ms(xs: list[float]) -> str:
    sd = statistics.stdev(xs) if len(xs) > 1 else 0.0
    return f"{statistics.mean(xs):.2f} ± {sd:.2f}"


def difference(a: str, b: str) -> tuple[float, float] | None:
    """`b`'s mean change from float minus `a`'s, and the larger of their seed spreads."""
    ca, cb = change(a), change(b)
    if ca is None or cb is None:
        return None
    return statistics.mean(cb) - statistics.mean(ca), max(statistics.stdev(ca), statistics.stdev(cb))


def verdict(a: str, b: str, what: str) -> str | None:
    """`b` against `a`, in points of accuracy change, and whether it exceeds the spread."""
    got = difference(a, b)
    if got is None:
        return None
    d, sd = got
    return f"{what}: {d:+.2f} points ({'beyond' if abs(d) > sd else 'within'} the seed spread of {sd:.2f})"


def tried(rows: list[str], limit: float, what: str) -> list[str]:
    """Sub-items of a goal: the kept `rows` tried for it, best first, and those that meet it."""
    got = sorted(((statistics.mean(c), r) for r in rows if (c := change(r)) is not None), reverse=True)
    if not got:
        return []
    L = [f"  - tried for {what} (change from float, mean of 3 seeds, best first): "
         + "; ".join(f"{ROWS[r].description} {m:+.2f}" for m, r in got) + "."]
    met = [f"{ROWS[r].description} ({spread(change(r))})" for m, r in got if m >= limit]
    if met:
        L.append("  - the goal is met by: " + "; ".join(met) + ".")
    return L


def goal(row: str, limit: float, text: str) -> str:
    c = change(row)
    if c is None:
        return f"- {text}: pending."
    m = statistics.mean(c)
    return f"- {text}: {m:+.2f} ± {statistics.stdev(c):.2f} points: {'met' if m >= limit else 'MISSED'}."


def desc(row: str) -> str:
    return ROWS[row].description


def table(rows: list[str]) -> list[str]:
    out = ["| row | float % | INQ % | change (points) | INQ per seed | weights at 0 |", "|---|---|---|---|---|---|"]
    for row in rows:
        rs = reports(row)
        if rs is None:
            out.append(f"| {desc(row)} | pending ({done(row)}/3 seeds) | | | | |")
            continue
        out.append(f"| {desc(row)} | {ms([r.float_accuracy() for r in rs])} | {ms([r.accuracy() for r in rs])} | "
                   f"{ms(change(row))} | " + ", ".join(f"{r.accuracy():.2f}" for r in rs)
                   + f" | {100 * statistics.mean(zero_fraction(r) for r in rs):.1f} % |")
    return out
