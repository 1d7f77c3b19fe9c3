"""The replication's plots (docs/*.png) from the kept results."""
from __future__ import annotations

import io
import os
import statistics
from typing import TYPE_CHECKING

from inq_layer.atomic import write_bytes_atomic

from . import plan as P
from .layout import DOCS
from .results import kept, reports

if TYPE_CHECKING:  # annotations only: matplotlib is imported when a plot is drawn
    from matplotlib.figure import Figure


def save_png(fig: Figure, name: str) -> str:
    """The figure as docs/NAME, written atomically; returns NAME."""
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    write_bytes_atomic(os.path.join(DOCS, name), buf.getvalue())
    return name


def _series(ax, pts: list[tuple[int, list[float]]], label: str) -> None:
    """Mean ± sd at each x; a line joins only neighbouring measured x (no line across a
    bit width that was not run)."""
    xs, means, sds = [x for x, _ in pts], [statistics.mean(v) for _, v in pts], [statistics.stdev(v) for _, v in pts]
    line = ax.errorbar(xs, means, yerr=sds, fmt="o", capsize=4, label=label)
    for i in range(1, len(xs)):
        if abs(xs[i] - xs[i - 1]) == 1:
            ax.plot(xs[i - 1:i + 1], means[i - 1:i + 1], "-", color=line[0].get_color())


def _by_bits(ax, series, value, base: float | None, base_label: str, ylabel: str, title: str) -> bool:
    """`value(report)` by bit width, one series a rule (mean ± sd of the seeds); False if no
    row is in."""
    drawn = False
    for rule, rows in series:
        pts = [(b, [value(r) for r in reports(row)]) for b, row in sorted(rows.items()) if reports(row)]
        if pts:
            drawn = True
            _series(ax, pts, rule)
    if base is not None:
        ax.axhline(base, color="gray", lw=1, label=base_label)
    ax.set_xticks([2, 3, 4, 5])
    ax.set_xlabel("bits")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    return drawn


def _bits_plot(plt) -> str | None:
    fig, ax = plt.subplots(figsize=(6, 4))
    fl = [r.float_accuracy() for r in reports("b5") or []]
    made = None
    if _by_bits(ax, P.BITS_PLOT, lambda r: r.accuracy(), statistics.mean(fl) if fl else None,
                "float (mean of 3 seeds)", "test accuracy % (Fashion-MNIST, 10,000 images)",
                "INQ LeNet: accuracy by bit width (3 seeds, ± sd)"):
        made = save_png(fig, "replication_bits.png")
    plt.close(fig)
    return made


def _phases_plot(plt) -> str | None:
    rows = [r for r in P.PHASES_PLOT if reports(r)]
    if not rows:
        return None
    fig, axes = plt.subplots(1, len(rows), figsize=(5 * len(rows), 4), squeeze=False)
    for ax, row in zip(axes[0], rows):
        rs = reports(row)
        xs = [p.portion for p in rs[0].phases]
        for key, style, label in (("test_after_quantize", "o--", "after quantizing"),
                                  ("test_after_training", "s-", "after retraining")):
            vals = [[100 * getattr(r.phases[i], key)["accuracy"] for r in rs] for i in range(len(xs))]
            ax.errorbar(xs, [statistics.mean(v) for v in vals], yerr=[statistics.stdev(v) for v in vals],
                        fmt=style, capsize=3, label=label)
        ax.axhline(statistics.mean(r.float_accuracy() for r in rs), color="gray", lw=1, label="float")
        ax.set_title(P.ROWS[row].description)
        ax.set_xlabel("accumulated portion quantized")
        ax.set_ylabel("test accuracy %")
        ax.legend(fontsize=8)
    made = save_png(fig, "replication_phases.png")
    plt.close(fig)
    return made


def _float_curves() -> list[list[list[float]]] | None:
    fl = [kept(f"float_resnet8_s{s}") for s in P.SEEDS]
    return [f["curve"] for f in fl] if all(f and "curve" in f for f in fl) else None


def _scale_to_mse_rows(ax, value) -> None:
    """The y axis spans the mse rows, whose differences are tenths of a point; a point of
    another series beyond it is written at the bottom edge instead."""
    pts = {(rule, b): [value(r) for r in reports(row)] for rule, rows in P.RESNET_BITS_PLOT
           for b, row in rows.items() if reports(row)}
    mse = [v for (rule, _), v in pts.items() if "mse" in rule]
    if not mse:
        return
    low = min(statistics.mean(v) - statistics.stdev(v) for v in mse) - 0.5
    high = max(0.0, max(statistics.mean(v) + statistics.stdev(v) for v in mse)) + 0.5
    ax.set_ylim(low, high)
    for (rule, b), v in pts.items():
        if statistics.mean(v) < low:
            ax.annotate(f"{rule}, {b} bits: {statistics.mean(v):+.1f} ± {statistics.stdev(v):.1f} (off the scale)",
                        (b, low), xytext=(b + 0.1, low + 0.15 * (high - low)), fontsize=7,
                        arrowprops={"arrowstyle": "->", "lw": 0.8})


def _act_plot(plt) -> str | None:
    """Change from float by activation bits (float activations at 32), W5 on both nets."""
    series = [(net, [(bits, [r.accuracy() - r.float_accuracy() for r in reports(row)])
                     for bits, row in sorted(rows.items()) if reports(row)]) for net, rows in P.ACT_PLOT]
    series = [(net, pts) for net, pts in series if len(pts) > 1]
    if not series:
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    for net, pts in series:
        xs, vs = [x for x, _ in pts], [v for _, v in pts]
        ax.errorbar(xs, [statistics.mean(v) for v in vs], yerr=[statistics.stdev(v) for v in vs], marker="o",
                    capsize=4, label=net)
    ax.axhline(0.0, color="gray", lw=1, label="the float model")
    ax.set_xscale("log", base=2)
    ax.set_xticks([4, 8, 32], ["4", "8", "float (weights only)"])
    ax.set_xlabel("activation bits")
    ax.set_ylabel("change from float (points)")
    ax.set_title("INQ 5-bit weights by activation bits (3 seeds, ± sd)")
    ax.legend(fontsize=8)
    made = save_png(fig, "replication_activations.png")
    plt.close(fig)
    return made


def _resnet_plot(plt) -> str | None:
    from matplotlib.ticker import MaxNLocator
    curves = _float_curves()
    if curves is None:
        return None
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    for seed, c in zip(P.SEEDS, curves):
        a.plot([it / P.EPOCH for it, _ in c[1:]], [acc for _, acc in c[1:]], label=f"seed {seed}")
    a.set_xlabel("epoch")
    a.xaxis.set_major_locator(MaxNLocator(integer=True))
    a.set_ylabel("test accuracy %")
    a.set_title("ResNet-8 float training")
    a.legend(fontsize=8)
    # change from float: the rows differ by tenths of a point where accuracy in % would flatten them
    change = lambda r: r.accuracy() - r.float_accuracy()  # noqa: E731
    _by_bits(b, P.RESNET_BITS_PLOT, change, 0.0, "float", "change from float (points)",
             "INQ ResNet-8 by bit width (3 seeds, ± sd)")
    _scale_to_mse_rows(b, change)
    made = save_png(fig, "replication_resnet.png")
    plt.close(fig)
    return made


def available() -> list[str]:
    """The plots whose rows have finished (what plots() makes), without drawing them."""
    bits = any(reports(row) for _, rows in P.BITS_PLOT for row in rows.values())
    act = any(sum(bool(reports(row)) for row in rows.values()) > 1 for _, rows in P.ACT_PLOT)
    return [n for n, ok in (("replication_bits.png", bits),
                            ("replication_phases.png", any(reports(r) for r in P.PHASES_PLOT)),
                            ("replication_resnet.png", _float_curves() is not None),
                            ("replication_activations.png", act)) if ok]


def plots() -> list[str]:
    """Every plot that has its rows; returns the file names made."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return [m for m in (_bits_plot(plt), _phases_plot(plt), _resnet_plot(plt), _act_plot(plt)) if m]
