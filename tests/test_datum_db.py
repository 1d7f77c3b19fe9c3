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
