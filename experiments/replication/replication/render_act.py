"""The fixed-point activation rows (--act-bits): their section of docs/REPLICATION.md, and the
README's summary of them (the rows behind `--act-bits` and what to use), from the kept runs."""
from __future__ import annotations

from . import plan as P
from .results import change, difference, goal, spread, table, verdict


def doc_section(made: list[str]) -> list[str]:
    """docs/REPLICATION.md's section: a table per net, the plot, the goals, the choices measured."""
    L = ["", "## Low-precision activations (beyond the paper)", "",
         "`--act-bits B`: the input of every quantized layer is B-bit fixed point (q * 2^-f, f chosen per blob "
         "by calibration over 20 training batches), trained with from phase 1 unless the row says otherwise. "
         "Each row's weights are those of the row without activations listed above it.", ""]
    for net, rows in P.ACT_TABLES.items():
        L += [f"{net}:", ""] + table(rows) + [""]
    if "replication_activations.png" in made:
        L += ["![change from float by activation bits](replication_activations.png)", ""]
    L += [goal(g.row, g.limit, g.text) for g in P.ACT_GOALS]
    for a, b, what in P.ACT_CHOICES:
        v = verdict(a, b, what)
        L.append(f"- {v}." if v else f"- {what}: pending.")
    return L


def readme_section() -> list[str]:
    """The README's summary under "Low-precision activations" (readme.write_sections puts it there)."""
    L = ["What the rows measured on Fashion-MNIST (change from float in points, mean ± sd over 3 seeds; "
         "docs/REPLICATION.md, \"Low-precision activations\", has the tables and the plot):", "",
         "| weights / activations | LeNet | ResNet-8 |", "|---|---|---|"]
    for what, lenet, resnet in P.ACT_README_ROWS:
        L.append(f"| {what} | {spread(change(lenet))} | {spread(change(resnet))} |")
    L += ["", "The goals (mean of the seeds):", ""] + [goal(g.row, g.limit, g.text) for g in P.ACT_GOALS]
    return L + ["", "What to use:", ""] + advice()


def advice() -> list[str]:
    """Each choice the rows measured, and the setting it supports."""
    out = []
    for name, a, b, within, a_better, b_better in P.ACT_ADVICE:
        got = difference(a, b)
        if got is None:
            out.append(f"- {name}: pending.")
            continue
        d, sd = got
        if abs(d) <= sd:
            out.append(f"- {name}: {d:+.2f} points, within the seeds' spread of {sd:.2f}: {within}.")
        else:
            out.append(f"- {name}: {d:+.2f} points, beyond the seeds' spread of {sd:.2f}: "
                       f"{b_better if d > 0 else a_better}.")
    return out
