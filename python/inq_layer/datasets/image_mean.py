"""The mean image of a Datum database, as Caffe's compute_image_mean writes it (which
needs OpenCV, left out of this build).

DB is an LMDB or a LevelDB folder (told apart by their files). OUT is a BlobProto
1 x C x H x W of float32: the per-pixel mean over every Datum (raw or encoded), summed in
double precision, read in one streaming pass with a progress bar.

The command: python -m inq_layer.tools.image_mean (tools/image_mean.py).
"""
from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InqError
from .datum_db import record_array, records

if TYPE_CHECKING:  # annotations only: pycaffe is not imported at load time
    from caffe.proto.caffe_pb2 import BlobProto


def mean_image(db_path: str, progress: bool = True) -> tuple[np.ndarray, int]:
    """(mean C x H x W float32, number of images) of a Datum database, in one pass."""
    from tqdm import tqdm

    items, count = records(db_path)
    total, n, shape = None, 0, None
    with tqdm(total=count, unit="img", file=sys.stderr, disable=None if progress else True) as bar:
        for key, value in items:
            a, _ = record_array(value, db_path, key)
            if shape is None:
                shape, total = a.shape, np.zeros(a.shape, np.float64)
            elif a.shape != shape:
                raise InqError(f"{db_path}: datum {key.decode(errors='replace')!r} is {a.shape}, the first "
                               f"was {shape}: a mean needs one size (resize when converting)")
            total += a
            n += 1
            bar.update(1)
    if not n:
        raise InqError(f"{db_path}: the database is empty")
    return (total / n).astype(np.float32), n


def blob_proto(mean: np.ndarray) -> BlobProto:
    from ..caffe_edge.caffe_io import pb2
    b = pb2().BlobProto()
    c, h, w = mean.shape
    b.num, b.channels, b.height, b.width = 1, c, h, w  # the legacy dims, as compute_image_mean
    b.data.extend(mean.reshape(-1).tolist())
    return b
