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


def _by_bits(ax, series, float_mean: float | None, ylabel: str, title: str) -> bool:
    """Accuracy by bit width, one line a rule (mean ± sd of the seeds); False if no row is in."""
    drawn = False
    for rule, rows in series:
        pts = [(b, [r.accuracy() for r in reports(row)]) for b, row in rows.items() if reports(row)]
        if pts:
            drawn = True
            ax.errorbar([b for b, _ in pts], [statistics.mean(v) for _, v in pts],
                        yerr=[statistics.stdev(v) for _, v in pts], marker="o", capsize=4, label=rule)
    if float_mean is not None:
        ax.axhline(float_mean, color="gray", lw=1, label="float (mean of 3 seeds)")
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
    if _by_bits(ax, P.BITS_PLOT, statistics.mean(fl) if fl else None,
                "test accuracy % (Fashion-MNIST, 10,000 images)", "INQ LeNet: accuracy by bit width (3 seeds, ± sd)"):
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


def _resnet_plot(plt) -> str | None:
    curves = _float_curves()
    if curves is None:
        return None
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    for seed, c in zip(P.SEEDS, curves):
        a.plot([it / P.EPOCH for it, _ in c[1:]], [acc for _, acc in c[1:]], label=f"seed {seed}")
    a.set_xlabel("epoch")
    a.set_ylabel("test accuracy %")
    a.set_title("ResNet-8 float training")
    a.legend(fontsize=8)
    _by_bits(b, P.RESNET_BITS_PLOT, statistics.mean(c[-1][1] for c in curves), "test accuracy %",
             "INQ ResNet-8 by bit width (3 seeds, ± sd)")
    made = save_png(fig, "replication_resnet.png")
    plt.close(fig)
    return made


def available() -> list[str]:
    """The plots whose rows have finished (what plots() makes), without drawing them."""
    bits = any(reports(row) for _, rows in P.BITS_PLOT for row in rows.values())
    return [n for n, ok in (("replication_bits.png", bits),
                            ("replication_phases.png", any(reports(r) for r in P.PHASES_PLOT)),
                            ("replication_resnet.png", _float_curves() is not None)) if ok]


def plots() -> list[str]:
    """Every plot that has its rows; returns the file names made."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return [m for m in (_bits_plot(plt), _phases_plot(plt), _resnet_plot(plt)) if m]
