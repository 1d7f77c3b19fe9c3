"""The Fashion-MNIST converter on small IDX files: exact images and labels, the seeded
training order, and the refusals. (This Caffe tree has no convert_mnist_data; the Datums
have its layout: 1 x 28 x 28 uint8, the label, keys %08d.)"""
import gzip
import struct

import numpy as np
import pytest

from inq_layer.errors import InqError
from inq_layer.datasets.fashion_data import load_split, read_idx, train_order
from inq_layer.datasets.datum_db import read_arrays, write_arrays


def idx(path, arr, magic_type=0x08, gz=True):
    """An IDX file of `arr` (gzipped as PATH.gz, as the package ships them)."""
    arr = np.asarray(arr, np.uint8)
    head = bytes([0, 0, magic_type, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    data = head + arr.tobytes()
    if gz:
        path = path.with_name(path.name + ".gz")
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)
    return str(path)


def test_idx_round_trip_and_lmdb_layout(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (7, 28, 28)).astype(np.uint8)
    labels = np.array([0, 9, 3, 3, 1, 8, 2], np.uint8)
    ip = idx(tmp_path / "img", images)
    lp = idx(tmp_path / "lab", labels, gz=False)
    got_i, got_l = load_split(ip, lp, 7)
    assert np.array_equal(got_i, images) and np.array_equal(got_l, labels)
    order = train_order(7, seed=5)
    assert np.array_equal(order, train_order(7, seed=5)) and sorted(order) == list(range(7))
    write_arrays(str(tmp_path / "db"), images[order], labels[order])
    keys, back, lab = read_arrays(str(tmp_path / "db"))
    assert keys == [f"{i:08d}".encode() for i in range(7)]
    assert back.shape == (7, 1, 28, 28) and np.array_equal(back[:, 0], images[order])
    assert np.array_equal(lab, labels[order])


def test_bad_idx_files_are_refused(tmp_path):
    ok = idx(tmp_path / "ok", np.zeros((2, 3, 3)), gz=False)
    for name, data in (("magic", b"\x00\x00\x0d\x03" + b"\x00" * 20),
                       ("short", open(ok, "rb").read()[:-3]),
                       ("empty", b"")):
        p = tmp_path / name
        p.write_bytes(data)
        with pytest.raises(InqError, match="IDX" if name != "short" else "dims"):
            read_idx(str(p))
    imgs = idx(tmp_path / "i", np.zeros((3, 2, 2)))
    with pytest.raises(InqError, match="do not match"):
        load_split(imgs, idx(tmp_path / "l", np.zeros(2)))
    with pytest.raises(InqError, match="outside 0..9"):
        load_split(imgs, idx(tmp_path / "l2", np.array([0, 1, 12])))
    with pytest.raises(InqError, match="expected 60000"):
        load_split(imgs, idx(tmp_path / "l3", np.zeros(3)), 60000)
