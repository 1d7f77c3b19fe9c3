"""datasets/datum_db.py: the one Datum writer and reader, for LMDB and LevelDB."""
import numpy as np
import pytest

from inq_layer.caffe_edge.caffe_io import pb2
from inq_layer.datasets.datum_db import DatumWriter, datum_array, read_arrays, records, write_arrays
from inq_layer.errors import InqError


@pytest.mark.parametrize("backend", ["lmdb", "leveldb"])
def test_arrays_round_trip(tmp_path, backend):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (2500, 3, 4, 5), dtype=np.uint8)  # more than one batch of puts
    labels = rng.integers(0, 10, 2500)
    path = str(tmp_path / "db")
    write_arrays(path, images, labels, backend)
    keys, got, got_labels = read_arrays(path)
    assert keys == [f"{i:08d}".encode() for i in range(2500)]
    assert np.array_equal(got, images) and np.array_equal(got_labels, labels)
    assert records(path)[1] == (2500 if backend == "lmdb" else None)


def test_one_channel_images_and_a_rewrite(tmp_path):
    path = str(tmp_path / "db")
    write_arrays(path, np.zeros((3, 2, 2), np.uint8), np.arange(3))
    write_arrays(path, np.ones((2, 2, 2), np.uint8), np.arange(2))  # replaces its own database
    _, images, labels = read_arrays(path)
    assert images.shape == (2, 1, 2, 2) and images.max() == 1 and labels.tolist() == [0, 1]


def test_writer_and_reader_refuse_what_they_do_not_know(tmp_path):
    with pytest.raises(InqError, match="unknown backend 'rocksdb'"):
        DatumWriter(str(tmp_path / "x"), "rocksdb")
    (tmp_path / "plain").mkdir()
    with pytest.raises(InqError, match="not an LMDB or LevelDB folder"):
        records(str(tmp_path / "plain"))


def test_datum_array_of_float_data():
    d = pb2().Datum(channels=1, height=1, width=2, float_data=[0.5, -1.0])
    assert datum_array(d).tolist() == [[[0.5, -1.0]]]


def _db_of(path, values):
    db = DatumWriter(path, "lmdb")
    for i, v in enumerate(values):
        db.put(f"{i:08d}".encode(), v)
    db.close()
    return path


_GOOD = dict(channels=1, height=2, width=2, data=bytes(4))
_DAMAGED = [
    (b"\xff\xfe junk", " is not a Caffe Datum"),
    (pb2().Datum(channels=1, height=2, width=2, data=bytes(3)).SerializeToString(),
     " holds 3 values, but its shape 1x2x2 needs 4"),
    (pb2().Datum(channels=1, height=1, width=2, float_data=[0.5]).SerializeToString(),
     " holds 1 values, but its shape 1x1x2 needs 2"),
    (b"", " has shape 0x0x0: no pixels"),  # an empty message parses as an empty Datum
    (pb2().Datum(encoded=True, data=b"no image").SerializeToString(),
     ": its encoded image does not decode (no image format PIL reads)"),
]


@pytest.mark.parametrize("value, tail", _DAMAGED)
def test_a_damaged_record_is_named_by_every_reader(tmp_path, value, tail):
    """Caffe aborts on such a record or its data layer waits forever: every reader of ours
    names the database and the record instead (the arrays, a record's shape for the
    pre-flight sample, the engine's batches)."""
    from inq_layer.datasets.record_shapes import sampled_shapes
    path = _db_of(str(tmp_path / "db"), [pb2().Datum(**_GOOD).SerializeToString(), value])
    want = f"{path}: record '00000001'{tail}"
    for read in (read_arrays, sampled_shapes):
        with pytest.raises(InqError) as e:
            read(path)
        assert str(e.value) == want
