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
