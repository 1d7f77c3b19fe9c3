import numpy as np

from inq_layer.net.freezer import FrozenBlob as BlobState
from inq_layer.campaign.state import SnapshotState, newest_complete_snapshot, save_snapshot_state


def snap(folder, it, content=b"model"):
    base = folder / f"inq_iter_{it}"
    (folder / f"inq_iter_{it}.caffemodel").write_bytes(content)
    (folder / f"inq_iter_{it}.solverstate").write_bytes(b"state")
    st = SnapshotState(0, it, [BlobState("ip", 0, -1, -8, np.full((2, 3), 0x3F00, np.uint16))],
                       settings={"bits": 5})
    save_snapshot_state(str(base) + ".inqstate.npz", st, str(base) + ".caffemodel", str(base) + ".solverstate")


def test_newest_complete_snapshot_skips_damaged_ones(tmp_path):
    snap(tmp_path, 4)
    snap(tmp_path, 8)
    snap(tmp_path, 12)
    (tmp_path / "inq_iter_12.caffemodel").write_bytes(b"half-written")  # changed after its state
    (tmp_path / "inq_iter_16.inqstate.npz").write_bytes(b"PK\x03\x04 truncated")  # a broken state
    (tmp_path / ".inq_iter_20.inqstate.npz.abc.tmp").write_bytes(b"temp of a killed write")
    heard = []
    path, st = newest_complete_snapshot(str(tmp_path), lambda p, why: heard.append((p[-22:], why)))
    assert path.endswith("inq_iter_8.inqstate.npz") and st.iteration == 8
    assert [h[0] for h in heard] == ["inq_iter_16.inqstate.npz"[-22:], "inq_iter_12.inqstate.npz"[-22:]]
    assert "damaged INQ state" in heard[0][1] and "missing or changed" in heard[1][1]
    assert st.settings == {"bits": 5} and st.blobs[0].codes.dtype == np.uint16
    assert np.array_equal(st.by_key()[("ip", 0)].codes, np.full((2, 3), 0x3F00, np.uint16))
    assert newest_complete_snapshot(str(tmp_path / "none")) is None


def test_snapshot_state_keeps_the_phase_time_and_reads_older_states(tmp_path):
    """A resumed phase's time adds what its snapshot had counted; states written before
    that field count as 0 s."""
    import io
    import json
    from inq_layer.campaign.state import load_snapshot_state
    snap(tmp_path, 4)
    path = str(tmp_path / "inq_iter_4.inqstate.npz")
    st = load_snapshot_state(path)
    st.seconds = 123.25
    save_snapshot_state(path, st, str(tmp_path / "inq_iter_4.caffemodel"), str(tmp_path / "inq_iter_4.solverstate"))
    assert load_snapshot_state(path).seconds == 123.25
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays.pop("meta")))
    del meta["seconds"]
    buf = io.BytesIO()
    np.savez_compressed(buf, meta=np.array(json.dumps(meta)), **arrays)
    (tmp_path / "inq_iter_4.inqstate.npz").write_bytes(buf.getvalue())
    assert load_snapshot_state(path).seconds == 0.0 and load_snapshot_state(path).iteration == 4


def _rewritten(path, **meta_changes):
    """The state file at `path` written again with meta fields changed (None: removed)."""
    import io
    import json
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays.pop("meta")))
    for k, v in meta_changes.items():
        meta.pop(k) if v is None else meta.__setitem__(k, v)
    buf = io.BytesIO()
    np.savez_compressed(buf, meta=np.array(json.dumps(meta)), **arrays)
    open(path, "wb").write(buf.getvalue())


def test_the_state_file_holds_version_1_the_checksums_and_the_pruned_masks(tmp_path):
    """What a state file holds, as later versions of the tool must read it: version 1, the
    snapshot's two files by name and sha256, each blob's codes, and a pruned mask only for a
    blob that has one."""
    import hashlib
    import json
    from inq_layer.campaign.state import load_snapshot_state
    (tmp_path / "m.caffemodel").write_bytes(b"model")
    (tmp_path / "m.solverstate").write_bytes(b"state")
    mask = np.array([[True, False, True], [False, False, True]])
    blobs = [BlobState("ip", 0, -1, -8, np.full((2, 3), 0x3F00, np.uint16), mask, 4),
             BlobState("fc", 0, -2, -9, np.full((2,), 0xFFFF, np.uint16))]
    path = str(tmp_path / "m.inqstate.npz")
    save_snapshot_state(path, SnapshotState(1, 7, blobs), str(tmp_path / "m.caffemodel"),
                        str(tmp_path / "m.solverstate"))
    with np.load(path) as z:
        meta = json.loads(str(z["meta"]))
        assert sorted(z.files) == ["codes_0", "codes_1", "meta", "pruned_0"]
    assert meta["version"] == 1 and meta["seconds"] == 0.0 and meta["settings"] == {}
    assert meta["files"] == {"caffemodel": {"name": "m.caffemodel", "sha256": hashlib.sha256(b"model").hexdigest()},
                             "solverstate": {"name": "m.solverstate", "sha256": hashlib.sha256(b"state").hexdigest()}}
    st = load_snapshot_state(path)
    assert (st.phase, st.iteration) == (1, 7) and np.array_equal(st.blobs[0].pruned, mask)
    assert st.blobs[1].pruned is None and st.blobs[0].bits == 4 and st.blobs[1].bits is None
    fresh = SnapshotState(0, 0, [])
    assert fresh.files == {} and fresh.settings == {} and fresh.seconds == 0.0
    fresh.files["x"] = 1
    assert SnapshotState(0, 0, []).files == {}  # each state its own dicts


def test_each_damaged_state_is_one_line_naming_it(tmp_path):
    import pytest
    from inq_layer.campaign.state import load_snapshot_state
    from inq_layer.errors import InqError
    snap(tmp_path, 4)
    path = str(tmp_path / "inq_iter_4.inqstate.npz")
    _rewritten(path, version=2)
    with pytest.raises(InqError) as e:
        load_snapshot_state(path)
    assert str(e.value) == f"{path}: INQ state version 2 is not 1"
    _rewritten(path, version=None)
    with pytest.raises(InqError) as e:
        load_snapshot_state(path)
    assert str(e.value) == f"{path}: INQ state version None is not 1"
    snap(tmp_path, 4)
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["codes_0"] = np.array([object()], dtype=object)  # a pickled array: never unpickled
    np.savez(path, **arrays)
    with pytest.raises(InqError) as e:
        load_snapshot_state(path)
    assert str(e.value).startswith(f"{path}: damaged INQ state (") and "pickle" in str(e.value)
    with pytest.raises(InqError) as e:
        load_snapshot_state(str(tmp_path))
    assert str(e.value) == f"{tmp_path}: is a directory, expected a regular INQ state file"
    snap(tmp_path, 4)
    (tmp_path / "inq_iter_4.solverstate").write_bytes(b"cut")
    with pytest.raises(InqError) as e:
        load_snapshot_state(path)
    assert str(e.value) == f"{path}: its solverstate {tmp_path / 'inq_iter_4.solverstate'} is missing or changed"
    assert load_snapshot_state(path, verify=False).iteration == 4


def test_a_campaign_record_read_back_field_by_field():
    """What campaign.json gives, and what a record without the optional fields defaults to;
    a campaign that is not a list of portion strings is named."""
    import pytest
    from inq_layer.campaign.state import Pending, Record
    from inq_layer.errors import InqError
    bare = Record.from_json({"settings": {"campaign": ["0.5", "1"]}}, "c.json")
    assert (bare.init_from_fillers, bare.test_float, bare.phases, bare.pending, bare.final_model,
            bare.activations) == (False, None, [], None, None, None)
    assert (Record({}).init_from_fillers, Record({}).pending, Record({}).final_model) == (False, None, None)
    full = Record.from_json({"settings": {"campaign": ["1"]}, "init_from_fillers": True, "final_model": "/m",
                             "test_float": {"accuracy": 0.5},
                             "pending": {"test_after_quantize": {"accuracy": 0.25}},
                             "phases": [{"portion": 1.0, "frozen_fraction": 1.0, "iterations": 3, "seconds": 1.0,
                                         "test_after_quantize": {}, "test_after_training": {}, "layers": {},
                                         "final_state": "phase1/x.inqstate.npz"}]}, "c.json")
    assert full.init_from_fillers is True and full.final_model == "/m" and full.test_float == {"accuracy": 0.5}
    assert len(full.phases) == 1 and full.phases[0].iterations == 3 and full.phases[0].unfrozen_by_reselection is None
    assert full.pending.test_after_quantize == {"accuracy": 0.25} and full.pending.unfrozen_by_reselection is None
    for campaign in ([], ["0.5", 1.0]):
        with pytest.raises(InqError) as e:
            Record.from_json({"settings": {"campaign": campaign}}, "c.json")
        assert str(e.value) == (f"c.json: damaged campaign record: settings.campaign is {campaign!r}, not a list "
                                f"of portions")
    with pytest.raises(InqError, match=r"^c\.json: damaged campaign record: field 'campaign' is str"):
        Record.from_json({"settings": {"campaign": "0.5,1"}}, "c.json")
    with pytest.raises(InqError, match=r"^c\.json: damaged campaign record: no field 'settings'$"):
        Record.from_json({}, "c.json")
    assert Pending({}).unfrozen_by_reselection is None  # a resume whose record lost its pending part


def _phase(portion, final_state="phase1/x.inqstate.npz"):
    p = {"portion": portion, "frozen_fraction": 1.0, "iterations": 3, "seconds": 1.0, "test_after_quantize": {},
         "test_after_training": {}, "layers": {}}
    return p if final_state is None else {**p, "final_state": final_state}


def test_a_damaged_phase_record_names_the_phase():
    import pytest
    from inq_layer.campaign.state import Record
    from inq_layer.errors import InqError
    settings = {"campaign": ["0.5", "1"]}
    with pytest.raises(InqError) as e:
        Record.from_json({"settings": settings, "phases": [_phase(0.5), _phase(1.0, None)]}, "c.json")
    assert str(e.value) == "c.json: damaged campaign record, phase 2: no field 'final_state'"
    with pytest.raises(InqError) as e:  # one phase more than the campaign has
        Record.from_json({"settings": settings, "phases": [_phase(0.5), _phase(1.0), _phase(1.0)]}, "c.json")
    assert str(e.value) == ("c.json: damaged campaign record, phase 3: portion 1 is not portion 3 of the campaign "
                            "0.5,1 (a duplicated or foreign phase record)")
    with pytest.raises(InqError) as e:
        Record.from_json({"settings": settings, "phases": [_phase(0.75)]}, "c.json")
    assert str(e.value).startswith("c.json: damaged campaign record, phase 1: portion 0.75 is not portion 1 of")
    assert len(Record.from_json({"settings": settings, "phases": [_phase(0.5), _phase(1.0)]}, "c.json").phases) == 2
    pending = Record.from_json({"settings": settings, "pending": {"test_after_quantize": {"accuracy": 0.5},
                                                                  "unfrozen_by_reselection": 3}}, "c.json").pending
    assert (pending.test_after_quantize, pending.unfrozen_by_reselection) == ({"accuracy": 0.5}, 3)
    q = {"data_q": {"blob": "data", "bits": 8, "f": 4, "signed": False}}
    assert Record.from_json({"settings": settings, "activations": q}, "c.json").activations == q
    for damage, message in (
            ({"pending": {"test_after_quantize": "x"}},
             ", pending: field 'test_after_quantize' is str 'x', not dict or null"),
            ({"pending": {"test_after_quantize": {}, "unfrozen_by_reselection": "x"}},
             ", pending: field 'unfrozen_by_reselection' is str 'x', not int or null"),
            ({"activations": {"data_q": {**q["data_q"], "f": "x"}}},
             ", activations.data_q: field 'f' is str 'x', not int"),
            ({"activations": []}, ": field 'activations' is list [], not dict or null"),
            ({"activations": {"data_q": 3}}, ", activations.data_q: not an object"),
            ({"activations": {"data_q": {**q["data_q"], "blob": 1}}},
             ", activations.data_q: field 'blob' is int 1, not str"),
            ({"activations": {"data_q": {**q["data_q"], "bits": 8.0}}},
             ", activations.data_q: field 'bits' is float 8.0, not int"),
            ({"activations": {"data_q": {**q["data_q"], "signed": 0}}},
             ", activations.data_q: field 'signed' is int 0, not bool")):
        with pytest.raises(InqError) as e:
            Record.from_json({"settings": settings, **damage}, "c.json")
        assert str(e.value) == "c.json: damaged campaign record" + message


def test_the_phases_of_a_campaign_record():
    """An extra phase at portion 1 only for activation quantizers that come in at the end."""
    from inq_layer.campaign.state import phase_portions
    c = {"campaign": ["0.5", "1"]}
    assert phase_portions(c) == ["0.5", "1"]
    assert phase_portions({**c, "act_bits": 8, "act_from": "end"}) == ["0.5", "1", "1"]
    assert phase_portions({**c, "act_bits": 8, "act_from": "start"}) == ["0.5", "1"]
    assert phase_portions({**c, "act_bits": None, "act_from": "end"}) == ["0.5", "1"]


def test_a_campaign_record_that_is_no_regular_file_is_one_line(tmp_path):
    import pytest
    from inq_layer.campaign.state import CampaignRecord
    from inq_layer.errors import InqError
    assert CampaignRecord.load(str(tmp_path / "campaign.json")) is None
    (tmp_path / "campaign.json").mkdir()
    with pytest.raises(InqError) as e:
        CampaignRecord.load(str(tmp_path / "campaign.json"))
    assert str(e.value) == f"{tmp_path}/campaign.json: is a directory, expected a regular campaign record file"


def test_a_resume_names_the_setting_or_file_that_changed(tmp_path):
    import pytest
    from inq_layer.campaign.state import CampaignRecord, Record
    from inq_layer.errors import InqError
    path = str(tmp_path / "campaign.json")
    old = {"campaign": ["1"], "bits": 5, "net_sha256": "0123456789abcdef0123"}
    rec = CampaignRecord(path, Record(old))
    rec.check_same(dict(old))
    for new, message in (
            ({**old, "bits": 4}, "this --out was written with bits = 5, not 4; use another --out or the same settings"),
            ({**old, "layer_bits": {"ip": 8}},  # an option the record does not have
             "this --out was written with layer_bits = None, not {'ip': 8}; use another --out or the same settings"),
            ({**old, "net_sha256": "fedcba9876543210fedc"},
             "the net file differs from the one this --out was written with (sha256 0123456789ab..., now "
             "fedcba987654...); use another --out or the same file")):
        with pytest.raises(InqError) as e:
            rec.check_same(new)
        assert str(e.value) == f"{path}: {message}"
    (tmp_path / "campaign.json").write_text("[1]")
    with pytest.raises(InqError) as e:
        CampaignRecord.load(path)
    assert str(e.value) == f"{path}: damaged campaign record (not a JSON object)"
    (tmp_path / "campaign.json").write_text("{not json")
    with pytest.raises(InqError) as e:
        CampaignRecord.load(path)
    assert str(e.value) == (f"{path}: unreadable campaign record (Expecting property name enclosed in double quotes: "
                            f"line 1 column 2 (char 1))")
    with pytest.raises(InqError) as e:  # a portion that is no number
        Record.from_json({"settings": {"campaign": ["abc"]}, "phases": [_phase(1.0)]}, "c.json")
    assert str(e.value) == ("c.json: damaged campaign record (could not convert string to float: 'abc'); move it "
                            "away or use another --out")


def test_a_campaign_record_saved_reads_back_the_same(tmp_path):
    import json
    from inq_layer.campaign.state import CampaignRecord, Pending, Record
    path = str(tmp_path / "campaign.json")
    phases = Record.from_json({"settings": {"campaign": ["0.5", "1"]}, "phases": [_phase(0.5)]}, "c.json").phases
    rec = Record({"campaign": ["0.5", "1"]}, True, {"accuracy": 0.5}, phases, Pending({"accuracy": 0.25}, 2),
                 "/o/final_inq.caffemodel")
    CampaignRecord(path, rec).save()
    assert "activations" not in json.load(open(path))  # without quantizers: the record of before
    assert CampaignRecord.load(path).data == rec
    rec.activations = {"data_q": {"blob": "data", "bits": 8, "f": 4, "signed": False}}
    CampaignRecord(path, rec).save()
    assert CampaignRecord.load(path).data == rec
