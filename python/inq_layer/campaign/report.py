"""Campaign reports: report.json, report.md (a table) and accuracy.png."""
from __future__ import annotations

import json
import math
import os
import sys


from ..atomic import write_text_atomic, written_by_path
from .report_schema import Report, json_safe, parse_report
from .state import Record


def build_report(record: Record, check_passed: bool) -> dict:
    """report.json's content: every setting (from the one campaign record), the float
    test, each phase's record without its state path, the final model and the check."""
    rep = dict(record.settings)
    rep["campaign"] = [float(p) for p in rep["campaign"]]
    acts = record.activations or {}
    rep.update({"init_from_fillers": record.init_from_fillers, "test_float": record.test_float or {},
                "phases": [ph.to_json(acts) for ph in record.phases], "final_model": record.final_model,
                "check_passed": check_passed})
    if record.activations is not None:  # each quantizer as the last phase with quantizers left it
        last = next((ph for ph in reversed(record.phases) if ph.saturated is not None), None)
        rep["activations"] = last.to_json(acts)["activations"] if last else \
            {n: {"bits": q["bits"], "f": q["f"], "signed": q["signed"], "saturated": None} for n, q in acts.items()}
    return rep


def _metric_names(rep: Report) -> list[str]:
    names = list(rep.test_float)
    for ph in rep.phases:
        names += [n for n in ph.test_after_training if n not in names]
    return names


def _typed(rep: dict | Report) -> Report:
    return rep if isinstance(rep, Report) else parse_report(rep)


def markdown(rep: dict | Report) -> str:
    rep = _typed(rep)
    names = _metric_names(rep)
    pruning = rep.tool == "prune"
    step, after = ("step", "after pruning") if pruning else ("phase", "after quantize")
    reference = rep.get("rule") == "reference"
    shown = lambda keys: "Settings: " + ", ".join(f"{k} {rep.settings[k]}" for k in keys if k in rep.settings)
    if pruning:
        lines = [f"# Pruning report: sparsity {rep.get('sparsity')}", "", shown(("campaign", "seed", "quantize")), ""]
    else:
        lines = [f"# INQ report: {rep.get('bits')} bits, {rep.get('rule')} rule, {rep.get('strategy')} partition", "",
                 shown(("campaign", "seed", "quantize", "n1_rule", "layer_bits", "keep_zeros",
                        "keep_momentum")), ""]
    if rep.init_from_fillers:
        lines += ["Started from the net's fillers (--init-from-fillers): a smoke run, not a result.", ""]
    if not names:
        lines += ["No tests ran: the solver has no test net or its test_iter is 0.", ""]
    if any(math.isnan(v) for m in [rep.test_float] + [p.test_after_quantize for p in rep.phases]
           + [p.test_after_training for p in rep.phases] for v in m.values()):
        lines += ["A test gave NaN (the net diverged there): report.json holds it as null.", ""]
    head = [step, "step sparsity" if pruning else "portion", "frozen", "iterations", "seconds"]
    head += [f"{_cell(n)} {after}" for n in names] + [f"{_cell(n)} after training" for n in names]
    if reference:
        head.append("unfrozen by re-selection")
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    flt = ["float model", "0", "0", "", ""] + [f"{rep.test_float.get(n, float('nan')):.4f}" for n in names]
    flt += [""] * (len(names) + reference)
    lines.append("| " + " | ".join(flt) + " |")
    for i, ph in enumerate(rep.phases, 1):
        row = [str(i), f"{ph.portion:g}", f"{ph.frozen_fraction:.4f}", str(ph.iterations), f"{ph.seconds:.1f}"]
        row += [f"{ph.test_after_quantize.get(n, float('nan')):.4f}" for n in names]
        row += [f"{ph.test_after_training.get(n, float('nan')):.4f}" for n in names]
        if reference:
            row.append(str(ph.unfrozen_by_reselection or 0))
        lines.append("| " + " | ".join(row) + " |")
    verdict = ("reached" if rep.check_passed else "NOT reached") if pruning else \
        ("passed" if rep.check_passed else "FAILED")
    lines += ["", f"Final model: {rep.final_model}", f"{'Target sparsity' if pruning else 'Check'}: {verdict}", ""]
    if pruning and rep.phases:
        layers = list(rep.phases[0].layers)
        lines += ["Sparsity per layer after each step:", "", "| step | " + " | ".join(map(_cell, layers)) + " |",
                  "|" + "---|" * (len(layers) + 1)]
        for i, ph in enumerate(rep.phases, 1):
            lines.append(f"| {i} | " + " | ".join(f"{ph.layers[n].pruned_fraction:.4f}" for n in layers) + " |")
    acts = rep.raw.get("activations")
    if acts:
        lines += [f"Activations: {len(acts)} quantizers, {rep.get('act_bits')} bits ({rep.get('act_calibration')} "
                  f"calibration over {rep.get('act_calibration_batches')} batches, in from the {rep.get('act_from')}); "
                  "a value is q * 2^-f:", "", "| blob | bits | f | signed | saturated in the last test |",
                  "|---|---|---|---|---|"]
        for name, q in acts.items():
            sat = "" if q.get("saturated") is None else f"{q['saturated']:.6f}"
            lines.append(f"| {_cell(name)} | {q['bits']} | {q['f']} | {q['signed']} | {sat} |")
        lines.append("")
    if not pruning and rep.phases:
        lines += ["Per layer after the last phase:", "",
                  "| layer | weights | bits | frozen | zero | pruned | n1 | n2 |", "|---|---|---|---|---|---|---|---|"]
        for name, ly in rep.phases[-1].layers.items():
            bits = ly.bits if ly.bits is not None else rep.get("bits")
            lines.append(f"| {_cell(name)} | {ly.count:,} | {bits} | {ly.frozen_fraction:.4f} | "
                         f"{ly.zero_fraction:.4f} | {ly.pruned_fraction:.4f} | {ly.n1} | {ly.n2} |")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def plot(rep: dict | Report, path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rep = _typed(rep)
    pruning = rep.tool == "prune"
    names = [n for n in _metric_names(rep) if "acc" in n.lower()] or _metric_names(rep)[:1]
    fig, ax = plt.subplots(figsize=(6, 4))
    xs = [ph.portion for ph in rep.phases]
    for n in names:
        text = n.replace("$", r"\$")  # a name is text, not mathtext
        ax.plot(xs, [ph.test_after_quantize.get(n) for ph in rep.phases], "o--",
                label=f"{text} after {'pruning' if pruning else 'quantizing'}")
        ax.plot(xs, [ph.test_after_training.get(n) for ph in rep.phases], "s-", label=f"{text} after retraining")
        if n in rep.test_float:
            ax.axhline(rep.test_float[n], color="gray", lw=0.8, label=f"{text} float model")
    ax.set_xlabel("step (fraction of the target sparsity)" if pruning else "accumulated portion quantized")
    ax.set_ylabel("test value")
    ax.set_title(f"pruning to {rep.get('sparsity')}" if pruning
                 else f"INQ {rep.get('bits')} bits, {rep.get('rule')} rule")
    if names:
        ax.legend(fontsize=7)
    else:  # a legend of nothing would only warn on stderr
        ax.text(0.5, 0.5, "no tests ran (no test net, or test_iter is 0)", ha="center", va="center",
                transform=ax.transAxes)
    fig.tight_layout()
    with written_by_path(path, ".png") as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)


def write_reports(out: str, rep: dict) -> None:
    rep = json_safe(rep)
    typed = parse_report(rep, os.path.join(out, "report.json"))
    write_text_atomic(os.path.join(out, "report.json"), json.dumps(rep, indent=1, allow_nan=False))
    write_text_atomic(os.path.join(out, "report.md"), markdown(typed))
    try:
        plot(typed, os.path.join(out, "accuracy.png"))
    except Exception as e:  # a picture never fails a campaign whose results are written
        print(f"warning: accuracy.png not drawn ({type(e).__name__}: {e})", file=sys.stderr)
