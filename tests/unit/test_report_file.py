"""report_file: report.json read back as typed records, every field checked."""
import json

import pytest

from inq_layer.errors import InqError
from inq_layer.campaign.report_schema import load_report, parse_report

LAYER = {"count": 500, "frozen_fraction": 1.0, "n1": 0, "n2": -7, "zero_fraction": 0.01, "pruned_fraction": 0.0}
PHASE = {"portion": 1.0, "frozen_fraction": 1.0, "iterations": 1, "seconds": 0.5, "layers": {"conv1": LAYER},
         "test_after_quantize": {"accuracy": 0.9}, "test_after_training": {"accuracy": 0.91, "loss": 0.3},
         "unfrozen_by_reselection": None}
REPORT = {"bits": 5, "campaign": [1.0], "rule": "paper", "test_float": {"accuracy": 0.92}, "phases": [PHASE],
          "final_model": "m.caffemodel", "check_passed": True, "init_from_fillers": False}


def test_fields_and_settings():
    r = parse_report(REPORT)
    assert r.tool == "inq" and r.get("bits") == 5 and r.settings["campaign"] == [1.0]
    assert r.accuracy() == pytest.approx(91.0) and r.float_accuracy() == pytest.approx(92.0)
    assert r.accuracy("test_after_quantize") == pytest.approx(90.0)
    assert r.phases[0].layers["conv1"].n2 == -7 and r.phases[0].layers["conv1"].bits is None
    assert r.seconds() == 0.5 and r.size is None


@pytest.mark.parametrize("edit, message", [
    (lambda d: d.update(check_passed="yes"), "field 'check_passed' is str 'yes', not bool"),
    (lambda d: d["phases"][0].update(iterations=True), "phase 1: field 'iterations' is bool True, not int"),
    (lambda d: d["phases"][0]["layers"]["conv1"].update(n1="0"),
     "layer 'conv1': field 'n1' is str '0', not int or null"),
    (lambda d: d["test_float"].update(accuracy="0.9"), "test_float.accuracy is '0.9', not a number"),
    (lambda d: d.pop("phases"), "no field 'phases'"),
    (lambda d: d.update(size={"file_bytes": 1.5, "float_bytes": 2, "sparsity": 0}), "'file_bytes' is float 1.5"),
])
def test_a_wrong_field_is_named(edit, message):
    d = json.loads(json.dumps(REPORT))
    edit(d)
    with pytest.raises(InqError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_report(d, "r.json")


def test_load_report_names_the_file(tmp_path):
    p = tmp_path / "report.json"
    p.write_text("{not json")
    with pytest.raises(InqError, match="report.json: not JSON"):
        load_report(str(p))
    p.write_text("[]")
    with pytest.raises(InqError, match="not a JSON object"):
        load_report(str(p))
