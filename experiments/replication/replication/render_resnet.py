"""The residual-net sections of docs/REPLICATION.md: ResNet-8 with BatchNorm, its float
training, its rows and goals, and the answer for the 2-bit ResNet-18 user."""
from __future__ import annotations

import os
import statistics

from . import plan as P
from .layout import ROOT
from .plan import ROWS, SEEDS
from .results import change, kept, ms, report, reports, spread, tried, verdict
from .runner import phase_iterations


def _iterations(row: str) -> int:
    """Training iterations of one seed of a row (the last phase runs 1)."""
    r = ROWS[row]
    return (len(r.campaign.split(",")) - 1) * phase_iterations(r.regime, r.net) + 1


def curve_text() -> list[str]:
    """What the float trainings' test curves show (a test every epoch), over the seeds
    finished so far."""
    fl = [f for f in (kept(f"float_resnet8_s{s}") for s in SEEDS) if f and "curve" in f]
    if not fl:
        return ["Float training: pending (0/3 seeds)."]
    seeds = "3 seeds" if len(fl) == len(SEEDS) else f"{len(fl)} of 3 seeds so far"
    epochs = [dict((it // P.EPOCH, acc) for it, acc in f["curve"]) for f in fl]
    at = lambda e: statistics.mean(c[e] for c in epochs)
    last = max(epochs[0])
    marks = [e for e in (1, 5, 10, 11, 15, 16, last) if all(e in c for c in epochs)]
    from inq_layer.caffe_edge.caffe_io import read_solver
    solver = read_solver(os.path.join(ROOT, P.NETS["resnet8"].float_solver))
    settled = max(solver.stepvalue, default=0) // P.EPOCH + 1  # the first test after the last lr step
    late = [c[last] - c[settled] for c in epochs]
    moved = statistics.mean(late)
    steps = [v // P.EPOCH for v in solver.stepvalue]
    lifts = " and ".join(f"{at(e + 1) - at(e):+.2f}" for e in steps)
    return [f"Float training ({P.NETS['resnet8'].float_solver}, {seeds}, a test every epoch; "
            f"{statistics.mean(f['seconds'] for f in fl) / 60:.0f} minutes a seed): test accuracy % by epoch, "
            "mean of the seeds: " + "; ".join(f"epoch {e} {at(e):.2f}" for e in marks) + ". Final, per seed: "
            + ", ".join(f"{c[last]:.2f}" for c in epochs) + f". The lr steps (x{solver.gamma:g}) after epochs "
            f"{' and '.join(map(str, steps))} move it {lifts} points; from epoch {settled} (after the last step) to "
            f"{last} it moved {moved:+.2f} points "
            f"({', '.join(f'{x:+.2f}' for x in late)}): "
            + ("converged at this schedule." if abs(moved) < 0.2 else "still moving: train longer.")]


def timing() -> list[str]:
    t = kept("resnet8_timing")
    if t is None:
        return []
    m = t["ms_per_iteration"]
    rows = list(P.RESNET) + list(P.RESNET_LONGEST)
    est = {r: _iterations(r) * m["resnet8"] / 60000 for r in rows}
    return [f"bench/bench_resnet_mini.py timed a training iteration of ResNet-8 at {m['resnet8']:.0f} ms on a quiet "
            f"core, LeNet's at {m['lenet']:.1f} ms ({t['ratio']:.1f}x). Training alone, one seed of a row takes "
            "about: " + "; ".join(f"`{r}` {est[r]:.0f} min" for r in rows)
            + f" (tests add about 10 %); all rows, 3 seeds: {3 * sum(est.values()) / 60:.0f} hours of one core, "
            f"the float models {3 * 18760 * m['resnet8'] / 3.6e6:.1f} more."]


def table() -> list[str]:
    out = ["| row | float % | INQ % | change (points) | INQ per seed | minutes a seed |", "|---|---|---|---|---|---|"]
    for row in list(P.RESNET) + list(P.RESNET_LONGEST):
        rs = reports(row)
        if rs is None:
            got = [(s, r) for s in SEEDS if (r := report(row, s)) is not None]
            so_far = "".join(f"; seed {s} {r.float_accuracy():.2f} -> {r.accuracy():.2f}" for s, r in got)
            out.append(f"| {ROWS[row].description} | pending ({len(got)}/3 seeds{so_far}) | | | | |")
            continue
        out.append(f"| {ROWS[row].description} | {ms([r.float_accuracy() for r in rs])} | "
                   f"{ms([r.accuracy() for r in rs])} | {ms(change(row))} | "
                   + ", ".join(f"{r.accuracy():.2f}" for r in rs)
                   + f" | {statistics.mean(r.seconds() for r in rs) / 60:.0f} |")
    return out


def goals() -> list[str]:
    L = []
    for row, limit, text, variants in (
            ("r5", -0.2, "5 bits (>= float - 0.2)", ["r5_epoch"]),
            ("r2_mse", -2.0, "2 bits mse (>= float - 2.0; the paper's ResNet-18 gap is 2.25)",
             [r for r in P.RESNET_PHASE_LENGTH if r != "r2_mse"])):
        c = change(row)
        L.append(f"- {text}: " + ("pending." if c is None else
                                  f"{spread(c)} points: {'met' if statistics.mean(c) >= limit else 'MISSED'}."))
        L += tried(variants, limit, f"{ROWS[row].bits} bits, every layer")
    v = verdict("r2_mse", "r2_mse_fl8", "conv1 and ip at 8 bits against all at 2 bits (mse)")
    if v is None:
        L.append("- First and last layers at 8 bits: pending.")
    else:
        beyond = "beyond" in v
        L.append(f"- First and last layers at 8 bits: {v}: "
                 + ("closer to float, beyond the spread." if beyond and v.split(": ")[1].startswith("+")
                    else "a clear null: no difference beyond the seed spread." if not beyond else "worse."))
    c = change("r2")
    L.append("- 2 bits with the paper's max n1: " + ("pending." if c is None else f"{spread(c)} points (seeds "
             + ", ".join(f"{x:+.2f}" for x in c) + ")."))
    return L


def section(made: list[str]) -> list[str]:
    plot = ["", "![ResNet-8](replication_resnet.png)"] if "replication_resnet.png" in made else []
    return ["", "## Residual net: ResNet-8 with BatchNorm", "",
            f"{P.NETS['resnet8'].prototxt}: a 3x3 stem, three basic blocks of two 3x3 convolutions (16/32/64 "
            "channels, strided 1x1 projections), BatchNorm + Scale after every convolution, global average "
            "pooling, one fully-connected layer (`ip`): the paper's ResNet-18 in miniature. The rows follow the "
            "LeNet rows' rules (3 seeds, the same regimes and schedules); BatchNorm and Scale stay float unless "
            "the row says `every-blob0`.", "", *timing(), "", *curve_text(), *plot, "", *table(),
            "", "### The goals on the residual net", "", *goals()]


def _choose(a: str, b: str, what: str) -> str:
    """Which of two rows to use, and the numbers behind it."""
    ca, cb = change(a), change(b)
    if ca is None or cb is None:
        return f"{what}: pending (`{a}` {spread(ca)}, `{b}` {spread(cb)})."
    v = verdict(a, b, f"`{b}` against `{a}`")
    better = _best((a, b))
    return (f"{what}: `{better}` ({ROWS[better].description}); `{a}` {spread(ca)}, `{b}` {spread(cb)} points; {v}"
            + ("." if "beyond" in v else "; within the spread, so this is the better mean, not a proven gain."))


def _best(rows: tuple[str, ...]) -> str | None:
    """The row of the best mean change (the first on a tie), None while one is pending."""
    cs = {r: change(r) for r in rows}
    if None in cs.values():
        return None
    return max(rows, key=lambda r: statistics.mean(cs[r]))


def _phase_length() -> str:
    what = "Phase length and learning rate (lr 0.003, x0.2 steps)"
    rows = P.RESNET_PHASE_LENGTH
    numbers = ", ".join(f"`{r}` {spread(change(r))}" for r in rows)
    best = _best(rows)
    if best is None:
        return f"{what}: pending ({numbers})."
    vs = [verdict(r, best, f"`{best}` against `{r}`") for r in rows if r != best]
    return (f"{what}: `{best}` ({ROWS[best].description}); {numbers} points; {'; '.join(vs)}"
            + ("." if all("beyond" in v for v in vs)
               else "; not beyond the spread of every other, so this is the better mean, not a proven gain."))


def answer() -> list[str]:
    """The section the 2-bit ResNet-18 user asked for, computed from the kept runs."""
    return ["", "## 2-bit ResNet: what to use", "",
            "The answer for 2-bit (ternary) INQ on a residual net with BatchNorm, each choice with the runs behind "
            f"it (change from float, mean ± sd over 3 seeds); {P.RESNET18_SOLVER} carries it for ImageNet. Each "
            "choice is measured on its own against `r2_mse`; the recommendation combines them, and \"Together\" "
            "gives the rows that measure the combination.", "",
            *answer_items()]


def answer_items() -> list[str]:
    """The choices, each with its numbers (docs/REPLICATION.md and the README show the same)."""
    return ["- " + _choose("r2", "r2_mse", "n1 rule"),
            "  - on LeNet, 2 bits: max n1 " + spread(change("b2")) + ", mse n1 " + spread(change("b2_mse")) + ".",
            "- " + _phase_length(),
            "  - on LeNet, 2 bits mse: one epoch a phase " + spread(change("b2_mse_epoch"))
            + ", the author's advice " + spread(change("b2_mse")) + ", the AlexNet solver scaled "
            + spread(change("b2_mse_alexnet")) + ", advice from lr 0.001 " + spread(change("b2_mse_low")) + ".",
            "- " + _choose("r2_mse", "r2_mse_fl8", "Layers kept at 8 bits (the first convolution and the last "
                           "fully-connected layer, which the published ternary ResNets keep at higher precision)"),
            "- " + _together(),
            "- BatchNorm: leave it float (the default). At 5 bits, quantizing BatchNorm/Scale blob 0 as the "
            "original does: ResNet-8 " + spread(change("r5_every")) + " against " + spread(change("r5"))
            + "; LeNet-BN " + spread(change("bn_every")) + " against " + spread(change("bn_default")) + "."]


def _together() -> str:
    """The mse n1 and the 8-bit first and last layers measured in one row, at the phase
    lengths that have such a row, and whether the recommended phase length is among them."""
    rows = P.RESNET_TOGETHER
    numbers = ", ".join(f"`{r}` (`{ROWS[r].regime}`) {spread(change(r))}" for r in rows)
    text = f"Together (mse n1, conv1 and ip at 8 bits), by phase length: {numbers} points"
    best = _best(P.RESNET_PHASE_LENGTH)
    if best is None:
        return text + "; the phase-length rows are pending."
    regime = ROWS[best].regime
    match = [r for r in rows if ROWS[r].regime == regime]
    if not match:
        return text + f"; not measured together at the `{regime}` regime that measured best alone."
    c = change(match[0])
    return text + (f"; at the `{regime}` regime, best alone: pending." if c is None else
                   f"; at the `{regime}` regime, best alone: `{match[0]}` {spread(c)} points, the measured "
                   "number of the recommendation.")


def resnet18_command() -> list[str]:
    """The driver command for ImageNet ResNet-18 with the choices the kept runs support (the
    LeNet evidence while a ResNet-8 row is pending): its n1 rule, and its first convolution
    and last fully-connected layer at 8 bits unless that measured worse."""
    from inq_layer.caffe_edge.caffe_io import read_net
    layers = read_net(os.path.join(ROOT, P.RESNET18_NET)).layer
    first = next(ly.name for ly in layers if ly.type == "Convolution")
    last = [ly.name for ly in layers if ly.type == "InnerProduct"][-1]
    n1 = "max" if _best(("r2", "r2_mse")) == "r2" else "mse"
    eight = f" --layer-bits {first}=8,{last}=8" if _best(("r2_mse", "r2_mse_fl8")) != "r2_mse" else ""
    return ["```sh", f"build/venv/bin/python solver_driver.py --solver {P.RESNET18_SOLVER} \\",
            f"    --weights RESNET18.caffemodel --bits 2 --n1-rule {n1}{eight} \\", f"    --campaign {P.C2}", "```"]


def readme_section() -> list[str]:
    """The README's section "2-bit ResNet: what to use" (README.write_section puts it there)."""
    T3 = P.PAPER_T3
    return ["## 2-bit ResNet: what to use",
            "The question the original's users could not answer: which settings give 2-bit (ternary) ResNet-18 "
            f"its paper result ({100 - T3['2']:.2f} % top-1, {T3['2'] - T3['float']:.2f} points under float). The "
            "ResNet-8 rows on Fashion-MNIST (BatchNorm + Scale after every convolution, 3 seeds a row; "
            "`docs/REPLICATION.md`, section \"2-bit ResNet: what to use\") answer it as far as they have run; "
            "rows still running say pending, and `make replicate` continues them. Each choice with its numbers "
            "(change from float, mean ± sd over 3 seeds; each measured on its own against `r2_mse`), and the "
            "command that combines them for "
            f"`{P.RESNET18_NET}` (ImageNet, reading the LMDBs of the AlexNet data commands below) with "
            f"`{P.RESNET18_SOLVER}`:", "", *resnet18_command(), "", _solver_note(), "", *answer_items()]


def _solver_note() -> str:
    """What the shipped solver's phase length rests on, as far as the runs go."""
    from inq_layer.caffe_edge.caffe_io import read_net, read_solver
    s = read_solver(os.path.join(ROOT, P.RESNET18_SOLVER))
    batch = next(ly.data_param.batch_size for ly in read_net(os.path.join(ROOT, P.RESNET18_NET)).layer
                 if ly.type == "Data" and any(r.phase == 0 for r in ly.include))  # TRAIN
    epochs = lambda it: f"{it * batch / P.IMAGENET:.1f}"
    text = (f"{P.RESNET18_SOLVER} keeps the original AlexNet solver: lr {s.base_lr:g}, x{s.gamma:g} every "
            f"{s.stepsize} iterations ({epochs(s.stepsize)} epochs), {s.max_iter} a phase at batch {batch} "
            f"({epochs(s.max_iter)} epochs; the `alexnet` regime here)")
    best = _best(P.RESNET_PHASE_LENGTH)
    if best is None:
        return text + ": the best mean on LeNet at 2 bits; on ResNet-8 the phase-length rows are pending."
    if ROWS[best].regime == "alexnet":
        return text + ": the best mean on ResNet-8 at 2 bits too (below)."
    return (text + f": ResNet-8 at 2 bits measured the `{ROWS[best].regime}` regime better (below); set the "
            "solver's phase length from it.")
