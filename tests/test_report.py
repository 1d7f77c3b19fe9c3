import json
import re

from inq_layer.campaign.report import build_report, markdown, write_reports
from inq_layer.campaign.state import Record


def record(rule="reference"):
    layer = {"frozen_fraction": 0.5, "n1": -1, "n2": -8, "count": 10}
    ph = lambda p, a: {"portion": p, "frozen_fraction": p, "layers": {"conv1": dict(layer, frozen_fraction=p)},
                       "test_after_quantize": {"accuracy": a - 0.01, "loss": 0.2},
                       "test_after_training": {"accuracy": a, "loss": 0.1}, "iterations": 5, "seconds": 1.0,
                       "final_state": "phase1/x.inqstate.npz", "unfrozen_by_reselection": 3}
    return Record.from_json({"settings": {"campaign": ["0.5", "1"], "bits": 4, "rule": rule, "strategy": "magnitude",
                                          "seed": None, "quantize": "default", "keep_momentum": True,
                                          "n1_rule": "mse", "keep_zeros": False},
                             "test_float": {"accuracy": 0.9, "loss": 0.3}, "phases": [ph(0.5, 0.91), ph(1.0, 0.92)],
                             "final_model": "/x/final_inq.caffemodel", "init_from_fillers": False}, "campaign.json")


def test_report_files(tmp_path):
    rep = build_report(record(), True)
    assert rep["campaign"] == [0.5, 1.0] and rep["check_passed"] and "final_state" not in rep["phases"][0]
    assert rep["keep_momentum"] is True and rep["n1_rule"] == "mse" and rep["keep_zeros"] is False
    assert "keep_momentum True" in markdown(rep) and "n1_rule mse" in markdown(rep)
    md = markdown(rep)
    assert "| float model | 0 | 0 |  |  | 0.9000 | 0.3000 |  |  |" in md
    assert "| 2 | 1 | 1.0000 | 5 | 1.0 | 0.9100 | 0.2000 | 0.9200 | 0.1000 | 3 |" in md
    write_reports(str(tmp_path), rep)
    assert json.load(open(tmp_path / "report.json"))["bits"] == 4
    assert open(tmp_path / "accuracy.png", "rb").read(4) == b"\x89PNG"
    assert "unfrozen by re-selection" not in markdown(build_report(record("paper"), True))


def test_a_nan_test_output_is_null_in_report_json_and_said_in_report_md(tmp_path):
    rec = record()
    rec.phases[1].test_after_training["loss"] = float("nan")
    write_reports(str(tmp_path), build_report(rec, True))
    text = open(tmp_path / "report.json").read()
    rep = json.loads(text, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))  # strict JSON
    assert rep["phases"][1]["test_after_training"]["loss"] is None and "NaN" not in text
    assert "report.json holds it as null" in open(tmp_path / "report.md").read()


def test_names_with_a_pipe_keep_report_md_tables_whole():
    rec = record()
    layers = rec.phases[1].layers
    layers["a|b"] = layers.pop("conv1")
    for p in rec.phases:
        p.test_after_training["acc|top"] = 0.5
    md = markdown(build_report(rec, True))
    rows = [ln for ln in md.splitlines() if ln.startswith("| a")]
    assert rows and all(len(re.findall(r"(?<!\\)\|", ln)) == 9 for ln in rows)  # 8 cells: the name's pipe escaped
    assert "acc\\|top after training" in md


def test_output_names_with_tex_specials_plot_and_a_failed_plot_fails_nothing(tmp_path, monkeypatch, capsys):
    from inq_layer.campaign import report
    rec = record()
    for p in rec.phases:
        p.test_after_training["acc$\\x{$"] = 0.5
    rep = build_report(rec, True)
    write_reports(str(tmp_path), rep)
    assert open(tmp_path / "accuracy.png", "rb").read(4) == b"\x89PNG"
    monkeypatch.setattr(report, "plot", lambda *a: 1 / 0)
    write_reports(str(tmp_path / "."), rep)
    assert "warning: accuracy.png not drawn (ZeroDivisionError" in capsys.readouterr().err
    assert json.load(open(tmp_path / "report.json"))["bits"] == 4


def _with_activations():
    layer = {"frozen_fraction": 0.5, "n1": -1, "n2": -8, "count": 10}
    ph = lambda p, a, sat: {"portion": p, "frozen_fraction": p,
                            "layers": {"conv1": dict(layer, frozen_fraction=p, count=1000, zero_fraction=0.25, bits=6,
                                                     n2=-6), "ip1": dict(layer, frozen_fraction=p)},
                            "test_after_quantize": {"accuracy": a - 0.01, "loss": 0.2},
                            "test_after_training": {"accuracy": a, "loss": 0.1}, "iterations": 5, "seconds": 1.0,
                            "final_state": "phase1/x.inqstate.npz", "unfrozen_by_reselection": 0,
                            "saturated": {"data_q": 0.0, "conv1_q": sat}}
    return Record.from_json({"settings": {"campaign": ["0.5", "1"], "bits": 4, "rule": "paper",
                                          "strategy": "random", "seed": 7, "quantize": "default",
                                          "keep_momentum": False, "n1_rule": "max", "keep_zeros": True,
                                          "layer_bits": "conv1=6", "act_bits": 8, "act_calibration": "mse",
                                          "act_calibration_batches": 20, "act_from": "start"},
                             "activations": {"data_q": {"blob": "data_q", "bits": 8, "f": 8, "signed": False},
                                             "conv1_q": {"blob": "conv1_q", "bits": 8, "f": 3, "signed": True}},
                             "test_float": {"accuracy": 0.9, "loss": 0.3},
                             "phases": [ph(0.5, 0.91, 0.00125), ph(1.0, 0.92, 0.0025)],
                             "final_model": "/x/final_inq.caffemodel", "init_from_fillers": False}, "campaign.json")


def _pruning():
    layer = {"frozen_fraction": 0.5, "n1": None, "n2": None, "count": 10, "pruned_fraction": 0.25}
    ph = lambda p, a, pf: {"portion": p, "frozen_fraction": p,
                       "layers": {"conv1": dict(layer, pruned_fraction=pf),
                                  "ip|1": dict(layer, pruned_fraction=pf / 2)},
                       "test_after_quantize": {"accuracy": a - 0.05}, "test_after_training": {"accuracy": a},
                       "iterations": 7, "seconds": 12.25, "final_state": "x", "unfrozen_by_reselection": 0}
    return Record.from_json({"settings": {"tool": "prune", "campaign": ["0.5", "1"], "quantize": "default", "seed": 3,
                                          "sparsity": "0.8"},
                             "test_float": {"accuracy": 0.9}, "phases": [ph(0.5, 0.88, 0.4), ph(1.0, 0.87, 0.8)],
                             "final_model": "/p/final.caffemodel", "init_from_fillers": True}, "campaign.json")


ACTIVATIONS_MD = (
    '# INQ report: 4 bits, paper rule, random partition\n'
    '\n'
    'Settings: campaign [0.5, 1.0], seed 7, quantize default, n1_rule max, layer_bits conv1=6, keep_zeros True, '
    'keep_momentum False\n'
    '\n'
    '| phase | portion | frozen | iterations | seconds | accuracy after quantize | loss after quantize '
    '| accuracy after training | loss after training |\n'
    '|---|---|---|---|---|---|---|---|---|\n'
    '| float model | 0 | 0 |  |  | 0.9000 | 0.3000 |  |  |\n'
    '| 1 | 0.5 | 0.5000 | 5 | 1.0 | 0.9000 | 0.2000 | 0.9100 | 0.1000 |\n'
    '| 2 | 1 | 1.0000 | 5 | 1.0 | 0.9100 | 0.2000 | 0.9200 | 0.1000 |\n'
    '\n'
    'Final model: /x/final_inq.caffemodel\n'
    'Check: passed\n'
    '\n'
    'Activations: 2 quantizers, 8 bits (mse calibration over 20 batches, in from the start); a value is q * 2^-f:\n'
    '\n'
    '| blob | bits | f | signed | saturated in the last test |\n'
    '|---|---|---|---|---|\n'
    '| data_q | 8 | 8 | False | 0.000000 |\n'
    '| conv1_q | 8 | 3 | True | 0.002500 |\n'
    '\n'
    'Per layer after the last phase:\n'
    '\n'
    '| layer | weights | bits | frozen | zero | pruned | n1 | n2 |\n'
    '|---|---|---|---|---|---|---|---|\n'
    '| conv1 | 1,000 | 6 | 1.0000 | 0.2500 | 0.0000 | -1 | -6 |\n'
    '| ip1 | 10 | 4 | 1.0000 | 0.0000 | 0.0000 | -1 | -8 |\n'
)

PRUNING_MD = (
    '# Pruning report: sparsity 0.8\n'
    '\n'
    'Settings: campaign [0.5, 1.0], seed 3, quantize default\n'
    '\n'
    "Started from the net's fillers (--init-from-fillers): a smoke run, not a result.\n"
    '\n'
    '| step | step sparsity | frozen | iterations | seconds | accuracy after pruning | accuracy after training |\n'
    '|---|---|---|---|---|---|---|\n'
    '| float model | 0 | 0 |  |  | 0.9000 |  |\n'
    '| 1 | 0.5 | 0.5000 | 7 | 12.2 | 0.8300 | 0.8800 |\n'
    '| 2 | 1 | 1.0000 | 7 | 12.2 | 0.8200 | 0.8700 |\n'
    '\n'
    'Final model: /p/final.caffemodel\n'
    'Target sparsity: NOT reached\n'
    '\n'
    'Sparsity per layer after each step:\n'
    '\n'
    '| step | conv1 | ip\\|1 |\n'
    '|---|---|---|\n'
    '| 1 | 0.4000 | 0.2000 |\n'
    '| 2 | 0.8000 | 0.4000 |\n'
)


def test_report_md_word_for_word_with_activations_and_per_layer_bits():
    """What report.md says of a campaign with activation quantizers and a layer at its own
    bits, and of a pruning run from fillers that missed its target: line for line."""
    assert markdown(build_report(_with_activations(), True)) == ACTIVATIONS_MD
    assert markdown(build_report(_pruning(), False)) == PRUNING_MD


def test_report_json_keeps_each_quantizer_as_the_last_phase_left_it():
    rep = build_report(_with_activations(), True)
    assert rep["activations"] == {"data_q": {"bits": 8, "f": 8, "signed": False, "saturated": 0.0},
                                  "conv1_q": {"bits": 8, "f": 3, "signed": True, "saturated": 0.0025}}
    assert rep["phases"][0]["activations"]["conv1_q"]["saturated"] == 0.00125
    assert rep["act_bits"] == 8 and rep["layer_bits"] == "conv1=6" and rep["init_from_fillers"] is False
    assert rep["test_float"] == {"accuracy": 0.9, "loss": 0.3} and rep["final_model"] == "/x/final_inq.caffemodel"
    rec = record()
    rec.test_float = None  # never tested: an empty object, and report.md says no tests ran
    for p in rec.phases:
        p.test_after_quantize.clear()
        p.test_after_training.clear()
    rep = build_report(rec, False)
    assert rep["test_float"] == {} and rep["check_passed"] is False and "activations" not in rep
    md = markdown(rep)
    assert "No tests ran: the solver has no test net or its test_iter is 0.\n" in md and "Check: FAILED" in md


def _drawn(monkeypatch, rep, tmp_path):
    """The figure plot() draws for `rep`, kept open, and the PNG's size in pixels."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image
    from inq_layer.campaign import report
    kept = []
    monkeypatch.setattr(plt, "close", lambda fig: kept.append(fig))
    report.plot(rep, str(tmp_path / "a.png"))
    return kept[0], Image.open(tmp_path / "a.png").size


def test_the_plot_shows_each_accuracy_after_quantizing_and_retraining(monkeypatch, tmp_path):
    rec = record()
    for p in rec.phases:
        p.test_after_training["acc$1"] = 0.5
        p.test_after_quantize["acc$1"] = 0.4
    fig, size = _drawn(monkeypatch, build_report(rec, True), tmp_path)
    assert size == (600, 400)  # 6 x 4 inches at 100 dpi
    (ax,) = fig.axes
    assert ax.get_title() == "INQ 4 bits, reference rule" and ax.get_ylabel() == "test value"
    assert ax.get_xlabel() == "accumulated portion quantized"
    legend = ax.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == [
        "accuracy after quantizing", "accuracy after retraining", "accuracy float model",
        r"acc\$1 after quantizing", r"acc\$1 after retraining"]  # names with "acc" only; no loss
    assert legend.get_texts()[0].get_fontsize() == 7
    lines = ax.get_lines()
    assert list(lines[0].get_xdata()) == [0.5, 1.0] and list(lines[0].get_ydata()) == [0.9, 0.91]
    assert list(lines[1].get_ydata()) == [0.91, 0.92] and list(lines[2].get_ydata()) == [0.9, 0.9]
    assert [ln.get_linewidth() for ln in lines] == [1.5, 1.5, 0.8, 1.5, 1.5]  # the float line thin, gray
    assert lines[2].get_color() == "gray"


def test_the_plot_of_a_pruning_run_and_of_a_run_without_accuracy(monkeypatch, tmp_path):
    fig, _ = _drawn(monkeypatch, build_report(_pruning(), True), tmp_path)
    (ax,) = fig.axes
    assert ax.get_title() == "pruning to 0.8" and ax.get_xlabel() == "step (fraction of the target sparsity)"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "accuracy after pruning", "accuracy after retraining", "accuracy float model"]
    rec = record()
    for m in [rec.test_float] + [p.test_after_quantize for p in rec.phases] + [p.test_after_training
                                                                              for p in rec.phases]:
        m["top5_error"] = m.pop("accuracy")
    fig, _ = _drawn(monkeypatch, build_report(rec, True), tmp_path)
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == [
        "loss after quantizing", "loss after retraining", "loss float model"]  # the first output alone


def test_the_plot_of_a_run_without_tests_says_so_and_warns_of_nothing(monkeypatch, tmp_path, recwarn):
    rec = record()
    rec.test_float = None
    for p in rec.phases:
        p.test_after_quantize.clear()
        p.test_after_training.clear()
    fig, _ = _drawn(monkeypatch, build_report(rec, True), tmp_path)
    (ax,) = fig.axes
    assert ax.get_legend() is None and ax.get_lines() == []
    assert [t.get_text() for t in ax.texts] == ["no tests ran (no test net, or test_iter is 0)"]
    fig.canvas.draw()
    inside, note = ax.get_window_extent(), ax.texts[0].get_window_extent()
    assert inside.x0 < note.x0 < note.x1 < inside.x1 and inside.y0 < note.y0 < note.y1 < inside.y1  # on the plot
    assert [str(w.message) for w in recwarn.list if w.category is UserWarning] == []


def test_report_md_of_a_reference_run_without_tests_and_of_one_with_nan(tmp_path):
    rec = record()
    rec.test_float = None
    for p in rec.phases:
        p.test_after_quantize.clear()
        p.test_after_training.clear()
    assert markdown(build_report(rec, True)).splitlines()[4:9] == [
        "No tests ran: the solver has no test net or its test_iter is 0.", "",
        "| phase | portion | frozen | iterations | seconds | unfrozen by re-selection |",
        "|---|---|---|---|---|---|", "| float model | 0 | 0 |  |  |  |"]
    rec = record()
    rec.phases[1].test_after_training["loss"] = float("nan")
    md = markdown(build_report(rec, True)).splitlines()
    assert md[4:6] == ["A test gave NaN (the net diverged there): report.json holds it as null.", ""]
    assert md[10] == "| 2 | 1 | 1.0000 | 5 | 1.0 | 0.9100 | 0.2000 | 0.9200 | nan | 3 |"
    rep = build_report(record(), True)
    rep["phases"][0]["unfrozen_by_reselection"] = 0  # none unfrozen: 0, not an empty cell
    assert markdown(rep).splitlines()[7].endswith("| 0.9100 | 0.1000 | 0 |")


def test_report_md_picks_the_first_step_for_pruning_columns_and_the_last_phase_for_layers():
    rep = build_report(_pruning(), True)
    rep["phases"][1]["layers"] = dict(reversed(list(rep["phases"][1]["layers"].items())))  # another order
    md = markdown(rep)
    assert "Target sparsity: reached" in md and "| step | conv1 | ip\\|1 |" in md
    rec = _with_activations()
    three = build_report(rec, True)
    three["phases"].append(dict(three["phases"][1], layers={"conv1": dict(three["phases"][1]["layers"]["conv1"],
                                                                          zero_fraction=0.5)}))
    assert "| conv1 | 1,000 | 6 | 1.0000 | 0.5000 | 0.0000 | -1 | -6 |" in markdown(three)


def test_quantizers_no_phase_has_tested_yet_are_reported_without_saturation():
    """Activations in an extra phase at the end that has not run: each quantizer with its
    bits, f and signedness, and no saturation (report.md leaves the cell empty)."""
    rec = _with_activations()
    rec.phases = rec.phases[:0]
    rep = build_report(rec, True)
    assert rep["activations"] == {"data_q": {"bits": 8, "f": 8, "signed": False, "saturated": None},
                                  "conv1_q": {"bits": 8, "f": 3, "signed": True, "saturated": None}}
    md = markdown(rep)
    assert "| data_q | 8 | 8 | False |  |" in md and "| conv1_q | 8 | 3 | True |  |" in md


def test_write_reports_names_report_json_and_says_when_the_plot_fails(tmp_path, monkeypatch, capsys):
    from inq_layer.campaign import report
    from inq_layer.errors import InqError
    bad = build_report(record(), True)
    bad["phases"][0]["iterations"] = "five"
    import pytest
    with pytest.raises(InqError, match=f"^{tmp_path}/report.json phase 1: field 'iterations'"):
        write_reports(str(tmp_path), bad)
    monkeypatch.setattr(report, "plot", lambda *a: 1 / 0)
    write_reports(str(tmp_path), build_report(record(), True))
    assert capsys.readouterr().err == "warning: accuracy.png not drawn (ZeroDivisionError: division by zero)\n"
    assert json.load(open(tmp_path / "report.json"))["phases"][1]["unfrozen_by_reselection"] == 3
