"""docs/REPLICATION.md from the plan and the kept results alone: no training, no export."""
from __future__ import annotations

import statistics

from inq_layer.atomic import write_text_atomic

from . import plan as P
from . import readme, render_act, render_resnet
from .figures import plots
from .layout import DOC, driver_command, prune_command, rel
from .plan import PRUNES, REGIMES, ROWS, SEEDS
from .results import (bits_per_nonzero, change, desc, goal, kept, ms, pruned, pruned_from, ratio, report, reports,
                      spread, table, tried, verdict, baseline)


def phase_length_answer() -> list[str]:
    L = ["### One epoch per phase lost 2-3 points on AlexNet: is phase length the cause?", ""]
    for bits, rows in P.PHASE_LENGTH.items():
        parts = [f"{ROWS[r].regime}: " + spread(change(r)) for r in rows]
        L.append(f"- {bits}, change from float by phase length: " + "; ".join(parts) + ".")
        for a, b in ((rows[0], rows[1]), (rows[1], rows[2])):
            v = verdict(a, b, f"{ROWS[b].regime} against {ROWS[a].regime}")
            if v:
                L.append(f"  - {v}.")
    return L


def goals() -> list[str]:
    L = ["", "### The goals", ""]
    rs = reports("b5")
    if rs:
        fl = [r.float_accuracy() for r in rs]
        L.append(f"- Float LeNet at {P.FLOAT_GOAL:.0f} % or more: {ms(fl)} %: "
                 f"{'met' if min(fl) >= P.FLOAT_GOAL else 'MISSED'} (lowest seed {min(fl):.2f}).")
    g = P.FIVE_BIT_GOAL
    L.append(goal(g.row, g.limit, g.text))
    L += tried(P.five_bit_variants(), g.limit, "5 bits")
    L += [goal(g.row, g.limit, g.text) for g in P.GOALS]
    held = [(got[2], prune, statistics.mean(b - a for a, b in zip(got[0], got[1])))
            for prune in PRUNES if (got := pruned(prune))]
    best = max((h for h in held if h[2] >= P.PRUNING_HOLDS), default=None)
    if held:
        text = f"`{best[1]}` ({100 * best[0]:.1f} %, {best[2]:+.2f} points)" if best else "none of the prunings tried"
        L.append(f"- Pruning alone, the highest sparsity that holds within {-P.PRUNING_HOLDS:g} points of float: "
                 f"{text}.")
    times, within = P.SIZE_GOAL
    for row in P.pruned_5bit_rows():
        c = change(row)
        if c is None:
            L.append(f"- {desc(row)}: at least {times}x smaller than float32 within {-within:g} points: pending.")
            continue
        x = statistics.mean(ratio(r) for r in reports(row))
        ok = x >= times and statistics.mean(c) >= within
        L.append(f"- {desc(row)}: {x:.1f}x smaller than float32, {spread(c)} points (seeds "
                 + ", ".join(f"{v:+.2f}" for v in c) + f"): {'met' if ok else 'MISSED'} (goal: {times}x within "
                 f"{-within:g} points, mean of the seeds)" + ("; a seed misses it" if ok and min(c) < within else "")
                 + ".")
    return L


def answers() -> list[str]:
    L = phase_length_answer()
    L += ["", "### 2-bit (ternary) INQ could not be reproduced: does it work here?", ""]
    L += [f"- {desc(r)}: " + spread(change(r), " points") for r in P.TERNARY]
    v = verdict(*P.TERNARY, "mse n1 against the paper's max n1 at 2 bits")
    if v:
        L.append(f"- {v}.")
    L += ["", "### Other choices", ""]
    for a, b, what in P.OTHER_CHOICES:
        v = verdict(a, b, what)
        L.append(f"- {v}." if v else f"- {what}: pending.")
    return L + goals()


def pruning_tables() -> list[str]:
    L = ["| pruning | float % | pruned % | change (points) | pruned per seed | sparsity |", "|---|---|---|---|---|---|"]
    for prune, p in PRUNES.items():
        origin = f", from `{p.start}`" if p.start else ""
        name = f"`{prune}`: {p.sparsity} (steps {p.steps}, `{p.regime}`{origin})"
        got = pruned(prune)
        if got is None:
            L.append(f"| {name} | pending | | | | |")
            continue
        fl, pr, sp = got
        L.append(f"| {name} | {ms(fl)} | {ms(pr)} | {ms([b - a for a, b in zip(fl, pr)])} | "
                 + ", ".join(f"{x:.2f}" for x in pr) + f" | {100 * sp:.1f} % |")
    L += ["", "INQ on the pruned models (`--keep-zeros`); size: the final model exported to .inq "
          "(entropy-coded where smaller), ratio against the float32 caffemodel's blobs (weights and biases):", "",
          "| row | float % | pruned % | INQ % | change from float (points) | INQ per seed | sparsity | .inq bytes "
          "| bits per non-zero | ratio |", "|---|---|---|---|---|---|---|---|---|---|"]
    for row in P.TABLES["pruned"]:
        rs, c = reports(row), change(row)
        if rs is None or c is None:
            L.append(f"| {desc(row)} | pending | | | | | | | | |")
            continue
        L.append(f"| {desc(row)} | {ms([baseline(row, s) for s in SEEDS])} | {ms([r.float_accuracy() for r in rs])} "
                 f"| {ms([r.accuracy() for r in rs])} | {ms(c)} | " + ", ".join(f"{r.accuracy():.2f}" for r in rs)
                 + f" | {100 * statistics.mean(r.size.sparsity for r in rs):.1f} % | "
                 f"{statistics.mean(r.size.file_bytes for r in rs):,.0f} | "
                 f"{statistics.mean(bits_per_nonzero(r) for r in rs):.2f} | {ms([ratio(r) for r in rs])}x |")
    own = [(statistics.mean(r.accuracy() - r.float_accuracy() for r in rs), row) for row in P.pruned_5bit_rows()
           if (rs := reports(row))]
    if own:
        L += ["", "INQ's own change at 5 bits (INQ % - pruned %, mean of the seeds), best first: "
              + "; ".join(f"{desc(row)} {d:+.2f}" for d, row in sorted(own, reverse=True)) + "."]
    L += ["", "Bits per non-zero: the whole file's bits (biases and headers included) over the non-zero "
          "quantized weights. It includes the cost of coding where the zeros are; between rows of equal "
          "sparsity it grows when the surviving weights spread over more of the grid's levels."]
    L += ["", f"Paper, AlexNet INQ + pruning (Table 5): {P.PAPER_T5['5']}x at 5 bits, {P.PAPER_T5['4']}x at 4, "
          f"{P.PAPER_T5['3']}x at 3. Deep Compression (prune + quantize + Huffman): {P.DEEP_COMPRESSION['AlexNet']}x "
          f"on AlexNet, {P.DEEP_COMPRESSION['LeNet-5']}x on LeNet-5."]
    return L


def compute_minutes() -> tuple[float, int]:
    """Minutes of the finished runs (campaign phases + float training), and their count."""
    total, n = 0.0, 0
    for row in ROWS:
        for s in SEEDS:
            r = report(row, s)
            if r:
                total += r.seconds()
                n += 1
    for net in P.NETS:
        for s in SEEDS:
            total += (kept(f"float_{net}_s{s}") or {}).get("seconds", 0.0)
    for prune in PRUNES:
        for s in SEEDS:
            r = report(prune, s)
            total += r.seconds() if r else 0.0
    return total / 60, n


def retrained_floats() -> list[str]:
    """Chains and dense rows whose float models are not the ones the dense rows started from
    (a fresh checkout trains them again: build/ is not committed), with both accuracies per seed."""
    dense = reports("b5")
    if dense is None:
        return []
    base = [r.float_accuracy() for r in dense]
    starts = [(f"`{prune}` (and the prunings and rows that start from it)", [pruned_from(prune, s) for s in SEEDS])
              for prune, p in PRUNES.items() if not p.start]
    starts += [(f"`{row}`", [x.float_accuracy() for x in reports(row)]) for row, r in ROWS.items()
               if row != "b5" and not r.pruned and r.net == ROWS["b5"].net and reports(row)]
    out = []
    for who, fl in starts:
        if None in fl or fl == base:
            continue
        out.append(f"{who} started from float models trained again on a fresh checkout, with the same solver, "
                   "seeds and data: "
                   + ", ".join(f"seed {s} {a:.2f} % (the other rows' {b:.2f} %)" for s, a, b in zip(SEEDS, fl, base))
                   + ". Caffe's CPU training did not repeat itself exactly here, so each change is measured "
                   "from the float models of its own chain.")
    return ["", *out] if out else []


def per_phase() -> list[str]:
    L = []
    for row in P.PER_PHASE:
        rs = reports(row)
        if rs:
            mean = lambda i, key, rs=rs: statistics.mean(100 * getattr(r.phases[i], key)["accuracy"] for r in rs)
            steps = [f"{ph.portion:g}: {mean(i, 'test_after_quantize'):.1f} -> {mean(i, 'test_after_training'):.1f}"
                     for i, ph in enumerate(rs[0].phases)]
            L.append(f"- {desc(row)}: " + "; ".join(steps))
    return L


def commands() -> list[str]:
    L = ["", "## Commands", "",
         "Float models: `caffe train --solver=build/replicate_fashion/solvers/float_<net>_s<seed>.prototxt` "
         f"({P.FLOAT_SOLVER} with random_seed = seed). Campaigns, seed 1 shown "
         "(`python experiments/replication/replicate.py ROW...` runs chosen rows):", "", "```"]
    for prune in PRUNES:
        L.append(f"# pruning {prune}\npython " + " ".join(rel(a) for a in prune_command(prune, 1)))
    for row in ROWS:
        L.append(f"# {row}\npython " + " ".join(rel(a) for a in driver_command(row, 1)))
    return L + ["```", ""]


def write_doc() -> None:
    """docs/REPLICATION.md, its plots, and the README's sections written from the runs."""
    write_text_atomic(DOC, doc_text(plots()))
    readme.write_sections()


def doc_text(made: list[str]) -> str:
    """The doc's text; `made`: the plots that exist."""
    minutes, finished = compute_minutes()
    L = ["# Replication on Fashion-MNIST", "",
         "Measured by `make replicate` (experiments/replication/replicate.py) on this project's 2-core CPU "
         "machine, two "
         f"runs at a time, one BLAS thread each. {finished} of {len(ROWS) * len(SEEDS)} runs finished; "
         f"their compute time (float training + campaign phases) adds up to {minutes:.0f} minutes.", "",
         "Task: Caffe's LeNet on Fashion-MNIST (Debian's dataset-fashion-mnist: 60,000 training "
         "images, accuracy on all 10,000 test images; `make data`). Each row: 3 seeds (1, 2, 3); the "
         "seed sets the float model (`random_seed` of its `caffe train` solver, "
         f"{P.FLOAT_SOLVER}: 20 epochs, lr 0.01 falling tenfold after epochs 10 and 15) and `--seed` of "
         "the campaign. Values: test "
         "accuracy in %, mean ± sample standard deviation over the seeds, then each seed. "
         "\"Weights at 0\": mean over layers of the final zero fraction.", "",
         f"Retraining: {P.INQ_SOLVER}, paper rule, pruning-inspired partition, max n1, unless the row "
         "says otherwise. The last phase (portion 1) runs 1 iteration, as the original.", "",
         "Phase lengths:", ""]
    L += [f"- `{k}`: {v.description}." for k, v in REGIMES.items()]
    L += ["", "The paper's ImageNet numbers stand beside ours for shape only: another task, another net.", ""]
    if made:
        L += ["![accuracy by bit width](replication_bits.png)", "", "![per phase](replication_phases.png)", ""]
    L += ["## What the runs answer", ""] + answers() + render_resnet.answer() + [""]
    L += ["## Phase length (the question of the original's users)", ""]
    L += table(P.TABLES["phase_length"])
    L += ["", "## Bit width (the paper's Table 3 shape)", "",
          f"Schedules: 5 bits {P.C5}; 4 bits {P.C4}; 3 bits {P.C3}; 2 bits {P.C2} (the paper's).", ""]
    L += table(P.TABLES["bits"])
    T3 = P.PAPER_T3
    L += ["", f"Paper, ResNet-18 on ImageNet, top-1 error % (Table 3): float {T3['float']}; 5 bits "
          f"{T3['5']}; 4 bits {T3['4']}; 3 bits {T3['3']}; 2 bits {T3['2']} (2.25 points above float).", ""]
    L += ["## Retraining learning rate", "",
          "The float models end their training at lr 0.0001; the original's INQ retraining starts "
          "each phase at 0.003. The same campaigns from 0.001:", ""]
    L += table(P.TABLES["lr"])
    L += ["", "## Partition (the paper's Table 2 shape)", ""]
    L += table(P.TABLES["partition"])
    L += ["", f"Paper, ResNet-18 5 bits, top-1 error %: random {P.PAPER_T2['random']}, pruning-inspired "
          f"{P.PAPER_T2['pruning']}.", ""]
    L += ["## Rules: reference (the original's re-selection) and paper", ""]
    L += table(P.TABLES["rules"])
    for row in P.TABLES["rules"][1:]:
        rs = reports(row)
        if rs:
            cols = list(zip(*[[p.unfrozen_by_reselection or 0 for p in r.phases[1:]] for r in rs]))
            L.append(f"\n{desc(row)}: weights unfrozen by re-selection in phases 2..: "
                     + ", ".join(f"{statistics.mean(c):,.0f}" for c in cols) + " (mean over seeds).")
    L += ["", "## Momentum between phases", "",
          "The original starts each phase with a fresh solver (momentum history zero); "
          "`--keep-momentum` carries it over.", ""]
    L += table(P.TABLES["momentum"])
    L += ["", "## BatchNorm", "",
          "LeNet-BN (BatchNorm + Scale after each convolution). Default: only convolution and "
          "fully-connected weights are quantized; `every-blob0`: blob 0 of every layer, BatchNorm "
          "running means and Scale gammas included, as the original code does.", ""]
    L += table(P.TABLES["bn"])
    L += render_resnet.section(made)
    L += render_act.doc_section(made)
    L += ["", "## Pruning + INQ (the paper's Table 5 shape)", "",
          "Float LeNet pruned by magnitude with retraining (`python -m inq_layer.tools.prune`, each step "
          "retrained with the solver of the regime named in the row), then INQ with `--keep-zeros` "
          "(retrained with `advice` unless the row names another regime). The change is measured from "
          "the float model the pruning started from.", ""]
    L += pruning_tables() + retrained_floats()
    L += ["", "## Per phase", "", "Mean over seeds, accuracy % after quantizing -> after retraining:", ""]
    L += per_phase()
    L += commands()
    return "\n".join(L)
