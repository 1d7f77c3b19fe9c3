"""The digits LMDB layout, on a synthetic digits.png (the real one comes from opencv-doc)."""
import numpy as np

from inq_layer.datasets.digits_data import cut_digits, split
from inq_layer.datasets.datum_db import write_arrays


def test_cut_split_and_lmdb(tmp_path):
    import matplotlib.image
    grid = np.zeros((1000, 2000), np.uint8)
    for r in range(50):
        for c in range(100):
            grid[r * 20:(r + 1) * 20, c * 20:(c + 1) * 20] = (r // 5) * 20 + 5 + (c % 3)  # class in the value
    png = tmp_path / "digits.png"
    matplotlib.image.imsave(str(png), grid, cmap="gray", vmin=0, vmax=255)
    images, labels = cut_digits(str(png))
    assert images.shape == (5000, 28, 28) and images.dtype == np.uint8
    assert np.all(images[:, :4] == 0) and np.all(images[:, 24:] == 0)  # 20x20 centred in 28x28
    assert np.all(np.abs(images[:, 14, 14].astype(int) - (labels * 20 + 6)) <= 2)
    tr, te = split(labels)
    assert len(tr) == 4000 and len(te) == 1000 and not set(tr) & set(te)
    assert np.all(np.bincount(labels[tr]) == 400) and np.all(np.bincount(labels[te]) == 100)
    tr2, te2 = split(labels)
    assert np.array_equal(tr, tr2) and np.array_equal(te, te2)  # seeded
    write_arrays(str(tmp_path / "db"), images[te], labels[te])
    import lmdb
    from inq_layer.caffe_edge.caffe_io import pb2
    with lmdb.open(str(tmp_path / "db"), readonly=True).begin() as txn:
        assert txn.stat()["entries"] == 1000
        d = pb2().Datum()
        d.ParseFromString(txn.get(b"00000000"))
        assert (d.channels, d.height, d.width, d.label) == (1, 28, 28, labels[te[0]])
        assert np.frombuffer(d.data, np.uint8).reshape(28, 28).tolist() == images[te[0]].tolist()
