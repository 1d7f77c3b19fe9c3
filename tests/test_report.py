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
