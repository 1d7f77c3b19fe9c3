"""report_schema: report.json read back as typed records, every field checked."""
import dataclasses
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
    assert r.settings == {"bits": 5, "campaign": [1.0], "rule": "paper"}  # what the records do not hold


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
    with pytest.raises(InqError) as e:
        load_report(str(p))
    assert str(e.value).startswith(f"{p}: not JSON (Expecting property name")
    p.write_text("[]")
    with pytest.raises(InqError, match="not a JSON object"):
        load_report(str(p))


def test_field_of_defaults_types_and_bool():
    from inq_layer.campaign.report_schema import field_of
    d = {"n": 3, "b": True, "z": None}
    assert field_of(d, "n", int, "w") == 3
    assert field_of(d, "gone", int, "w", None) is None  # a default of None is a default
    assert field_of(d, "gone", int, "w", 7) == 7
    assert field_of(d, "b", (bool, int), "w") is True
    assert field_of(d, "z", (int, type(None)), "w") is None
    for key, types, message in [
        ("gone", int, "w: no field 'gone'"),
        ("b", int, "w: field 'b' is bool True, not int"),
        ("b", (int, float), "w: field 'b' is bool True, not int or float"),
        ("n", (str, type(None)), "w: field 'n' is int 3, not str or null"),
    ]:
        with pytest.raises(InqError) as e:
            field_of(d, key, types, "w")
        assert str(e.value) == message


def test_metrics_null_is_nan_and_numbers_are_floats():
    from inq_layer.campaign.report_schema import metrics_of
    assert metrics_of({}, "m", "w") == {}
    assert metrics_of({"m": None}, "m", "w") == {}
    got = metrics_of({"m": {"a": 1, "b": 0.5, "c": None}}, "m", "w")
    assert got["a"] == 1.0 and type(got["a"]) is float and got["b"] == 0.5 and got["c"] != got["c"]
    for bad in (True, "1", [1]):
        with pytest.raises(InqError) as e:
            metrics_of({"m": {"a": bad}}, "m", "w")
        assert str(e.value) == f"w: m.a is {bad!r}, not a number"


def test_json_safe_makes_every_non_finite_number_null():
    from inq_layer.campaign.report_schema import json_safe
    nan, inf = float("nan"), float("inf")
    assert json_safe({"a": [1.0, nan, {"b": -inf, "c": inf}], "d": 2, "e": "x", "f": None}) == \
        {"a": [1.0, None, {"b": None, "c": None}], "d": 2, "e": "x", "f": None}
    assert json_safe(nan) is None and json_safe(0.0) == 0.0


def test_layer_stats_forms_and_defaults():
    from inq_layer.campaign.report_schema import LayerStats
    s = LayerStats.parse({"count": 4, "frozen_fraction": 1, "n1": None}, "w")
    assert s == LayerStats(4, 1.0, None, None, 0.0, 0.0, None)
    assert type(s.frozen_fraction) is float
    assert s.to_json() == {"count": 4, "frozen_fraction": 1.0, "zero_fraction": 0.0, "pruned_fraction": 0.0,
                           "n1": None, "n2": None}
    full = LayerStats(9, 0.5, 2, -3, 0.25, 0.125, 4)
    assert full.to_json() == {"count": 9, "frozen_fraction": 0.5, "zero_fraction": 0.25, "pruned_fraction": 0.125,
                              "n1": 2, "n2": -3, "bits": 4}
    assert LayerStats.parse(full.to_json(), "w") == full
    with pytest.raises(InqError) as e:
        LayerStats.parse([1], "w")
    assert str(e.value) == "w: not an object"


ACT = {"c1_q": {"bits": 8, "f": 4, "signed": False, "blob": "c1"}}


def test_a_phase_in_both_forms():
    from inq_layer.campaign.report_schema import Phase
    d = json.loads(json.dumps(PHASE))
    p = Phase.parse({**d, "final_state": "s.npz", "saturated": {"c1_q": 0.25}}, "w")
    assert (p.final_state, p.saturated, p.unfrozen_by_reselection) == ("s.npz", {"c1_q": 0.25}, None)
    campaign_form = p.to_json()
    assert campaign_form["final_state"] == "s.npz" and campaign_form["saturated"] == {"c1_q": 0.25}
    assert Phase.parse(campaign_form, "w") == p
    report_form = p.to_json(ACT)
    assert "final_state" not in report_form and "saturated" not in report_form
    assert report_form["activations"] == {"c1_q": {"bits": 8, "f": 4, "signed": False, "saturated": 0.25}}
    assert Phase.parse(report_form, "w").saturated == {"c1_q": 0.25}  # read back from report.json's form
    plain = Phase.parse(d, "w")
    assert "saturated" not in plain.to_json() and "activations" not in plain.to_json(ACT)
    assert plain.to_json()["final_state"] is None
    assert set(plain.to_json()) == {"portion", "frozen_fraction", "layers", "test_after_quantize",
                                    "test_after_training", "iterations", "seconds", "unfrozen_by_reselection",
                                    "final_state"}
    assert Phase.parse({**d, "activations": {"q": 0.5}}, "w").saturated == {"q": 0.5}
    assert Phase.parse({**d, "saturated": {"q": None}}, "w").saturated == {"q": None}


@pytest.mark.parametrize("saturated", [True, 1.5, -0.1, "0.5"])
def test_a_saturated_fraction_outside_0_1_is_named(saturated):
    from inq_layer.campaign.report_schema import Phase
    with pytest.raises(InqError) as e:
        Phase.parse({**PHASE, "saturated": {"q": saturated}}, "w")
    assert str(e.value) == f"w: saturated.q is {saturated!r}, not a fraction"
    for ok in (0, 1, 0.0, 1.0):
        assert Phase.parse({**PHASE, "saturated": {"q": ok}}, "w").saturated == {"q": ok}


def test_a_phase_that_is_not_an_object():
    from inq_layer.campaign.report_schema import Phase
    with pytest.raises(InqError) as e:
        parse_report({**REPORT, "phases": [PHASE, 3]}, "r.json")
    assert str(e.value) == "r.json phase 2: not an object"
    with pytest.raises(InqError):
        Phase.parse(None, "w")


def test_report_defaults_settings_and_size():
    d = {k: v for k, v in REPORT.items() if k not in ("init_from_fillers", "final_model")}
    r = parse_report(d)
    assert (r.tool, r.init_from_fillers, r.final_model, r.size) == ("inq", False, None, None)
    assert r.settings == {"bits": 5, "campaign": [1.0], "rule": "paper"} and r.raw is d
    assert r.get("nothing") is None and r.get("nothing", 3) == 3
    p = parse_report({**REPORT, "tool": "prune", "size": {"file_bytes": 10, "float_bytes": 40, "sparsity": 1}})
    assert p.tool == "prune" and p.size.file_bytes == 10 and p.size.float_bytes == 40 and p.size.sparsity == 1.0
    assert "size" not in p.settings and "tool" not in p.settings
    two = parse_report({**REPORT, "phases": [{**PHASE, "seconds": 2, "test_after_training": {"accuracy": 0.5}},
                                             PHASE]})
    assert two.seconds() == 2.5 and two.accuracy() == pytest.approx(91.0)  # the last phase's


def test_a_report_that_cannot_be_read_is_named(tmp_path):
    with pytest.raises(InqError) as e:
        load_report(str(tmp_path / "gone.json"))
    assert str(e.value) == f"{tmp_path / 'gone.json'}: cannot read (No such file or directory)"
    p = tmp_path / "r.json"
    p.write_text(json.dumps(REPORT))
    assert load_report(str(p)).get("bits") == 5


def test_the_default_name_and_a_short_repr():
    with pytest.raises(InqError) as e:
        parse_report([])
    assert str(e.value) == "report.json: not a JSON object"
    assert "raw" not in repr(parse_report(REPORT))  # the file's whole content is not printed twice


def test_what_was_read_cannot_be_changed_by_a_reader():
    r = parse_report({**REPORT, "size": {"file_bytes": 10, "float_bytes": 40, "sparsity": 1}})
    for record, name in ((r, "check_passed"), (r.size, "sparsity"), (r.phases[0], "seconds"),
                         (r.phases[0].layers["conv1"], "count")):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(record, name, 0)
