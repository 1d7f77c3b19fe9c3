"""Image/label arrays as the LMDBs that Caffe's Data layer reads: one Datum per image
(channels x height x width uint8, label), keys %08d in order, as Caffe's converters write.
Datums are built with caffe_pb2 directly: caffe.io's helpers use numpy's removed tostring."""
from __future__ import annotations

import numpy as np

from .atomic import check_output_dir, replaced_dir


def write_lmdb(path: str, images: np.ndarray, labels: np.ndarray) -> None:
    """images: N x H x W (one channel) or N x C x H x W uint8. Written beside `path` and
    renamed into place, so an interrupted run leaves no half database."""
    import lmdb
    from .caffe_io import pb2
    images = np.asarray(images, np.uint8)
    if images.ndim == 3:
        images = images[:, None]
    n, c, h, w = images.shape
    check_output_dir(path, [])
    with replaced_dir(path) as tmp:
        env = lmdb.open(tmp, map_size=max(1 << 26, 4 * images.nbytes))
        datum = pb2().Datum
        with env.begin(write=True) as txn:
            for i in range(n):
                d = datum(channels=c, height=h, width=w, data=images[i].tobytes(), label=int(labels[i]))
                txn.put(f"{i:08d}".encode(), d.SerializeToString())
        env.close()


def read_lmdb(path: str) -> tuple[list[bytes], np.ndarray, np.ndarray]:
    """(keys, images N x C x H x W, labels) of a Datum LMDB with raw uint8 data."""
    import lmdb
    from .caffe_io import pb2
    keys, images, labels = [], [], []
    d = pb2().Datum()
    with lmdb.open(path, readonly=True, lock=False).begin() as txn:
        for k, v in txn.cursor():
            d.ParseFromString(v)
            keys.append(bytes(k))
            images.append(np.frombuffer(d.data, np.uint8).reshape(d.channels, d.height, d.width))
            labels.append(d.label)
    return keys, np.stack(images), np.array(labels)
