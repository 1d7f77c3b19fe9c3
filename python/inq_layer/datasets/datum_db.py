"""Datum databases, the folders Caffe's Data layer reads: LMDB or LevelDB, one serialized
Datum per record, records in key order. One writer and one reader for both backends.

Datums are built with caffe_pb2 directly: caffe.io's helpers use numpy's removed tostring.
"""
from __future__ import annotations

import io
import os
from typing import Iterator, TYPE_CHECKING

import numpy as np

from ..atomic import check_output_dir, replaced_dir
from ..errors import InqError

if TYPE_CHECKING:  # annotations only: pycaffe is not imported at load time
    from caffe.proto.caffe_pb2 import Datum

BACKENDS = ("lmdb", "leveldb")


def map_size_allowed() -> int:
    """The LMDB map to ask for: 1 TiB of address space (a sparse file holds only what is
    written), or under an address-space limit (ulimit -v) half of it, which leaves the
    rest to this process."""
    import resource
    soft = resource.getrlimit(resource.RLIMIT_AS)[0]
    return 1 << 40 if soft == resource.RLIM_INFINITY else max(1 << 20, min(1 << 40, soft // 2))


class DatumWriter:
    """Puts records in batches into a new LMDB or LevelDB folder."""

    def __init__(self, path: str, backend: str = "lmdb"):
        if backend not in BACKENDS:
            raise InqError(f"unknown backend {backend!r}: use one of {', '.join(BACKENDS)}")
        self.backend, self.pending = backend, []
        self.path = path
        if backend == "lmdb":
            import lmdb
            self.map_size = map_size_allowed()
            try:
                self.db = lmdb.open(path, map_size=self.map_size, subdir=True)  # sparse: only what is written
            except lmdb.Error as e:
                raise InqError(f"{path}: LMDB cannot map {self.map_size:,} bytes here ({e})") from None
        else:
            import plyvel
            self.db = plyvel.DB(path, create_if_missing=True, error_if_exists=True)

    def put(self, key: bytes, value: bytes) -> None:
        self.pending.append((key, value))
        if len(self.pending) >= 1000:
            self.commit()

    def commit(self) -> None:
        if self.backend == "lmdb":
            import lmdb
            try:
                with self.db.begin(write=True) as txn:
                    for k, v in self.pending:
                        txn.put(k, v)
            except lmdb.MapFullError:
                raise InqError(f"{self.path}: the database outgrew the {self.map_size:,} bytes of address space "
                               f"this process may map (ulimit -v); raise the limit") from None
        else:
            with self.db.write_batch() as wb:
                for k, v in self.pending:
                    wb.put(k, v)
        self.pending = []

    def close(self) -> None:
        self.commit()
        self.db.close()


def records(path: str) -> tuple[Iterator[tuple[bytes, bytes]], int | None]:
    """(key, value) pairs of an LMDB or LevelDB folder, in key order, and their count (None
    for LevelDB, which does not keep one)."""
    if os.path.exists(os.path.join(path, "data.mdb")):
        import lmdb
        env = lmdb.open(path, readonly=True, lock=False)
        txn = env.begin()

        def it():
            try:
                for k, v in txn.cursor():
                    yield bytes(k), bytes(v)
            finally:
                env.close()
        return it(), txn.stat()["entries"]
    if os.path.exists(os.path.join(path, "CURRENT")):
        import plyvel
        db = plyvel.DB(path)

        def it():
            try:
                yield from db.iterator()
            finally:
                db.close()
        return it(), None
    raise InqError(f"{path}: not an LMDB or LevelDB folder")


def record_name(db: str, key: bytes) -> str:
    return f"{db}: record '{key.decode(errors='replace')}'"


def read_datum(value: bytes, db: str, key: bytes) -> Datum:
    """A record parsed as a Caffe Datum whose pixels fill its stated shape; InqError naming
    the database and the record otherwise (Caffe aborts on such a record, or its data
    layer waits forever)."""
    from google.protobuf.message import DecodeError

    from ..caffe_edge.caffe_io import pb2
    d = pb2().Datum()
    try:
        d.ParseFromString(value)
    except DecodeError:
        raise InqError(f"{record_name(db, key)} is not a Caffe Datum") from None
    if not d.encoded:
        shape = f"{d.channels}x{d.height}x{d.width}"
        if min(d.channels, d.height, d.width) <= 0:
            raise InqError(f"{record_name(db, key)} has shape {shape}: no pixels")
        have = len(d.data) if d.data else len(d.float_data)
        if have != d.channels * d.height * d.width:
            raise InqError(f"{record_name(db, key)} holds {have} values, but its shape {shape} needs "
                           f"{d.channels * d.height * d.width}")
    return d


def image_error(db: str, key: bytes, e: OSError) -> InqError:
    """An encoded record PIL cannot decode, named (PIL's own text names a memory buffer)."""
    from PIL import UnidentifiedImageError
    why = "no image format PIL reads" if isinstance(e, UnidentifiedImageError) else str(e)
    return InqError(f"{record_name(db, key)}: its encoded image does not decode ({why})")


def record_array(value: bytes, db: str, key: bytes) -> tuple[np.ndarray, int]:
    """(C x H x W, label) of a record (read_datum's checks; an encoded image that does not
    decode is named too)."""
    d = read_datum(value, db, key)
    try:
        return datum_array(d), d.label
    except OSError as e:  # PIL: no image, or a cut one
        raise image_error(db, key, e) from None


def datum_array(d: Datum) -> np.ndarray:
    """C x H x W of a Datum: uint8 (encoded ones decoded as convert_imageset stored them,
    BGR for colour), or float32 for float_data."""
    if d.encoded:
        from PIL import Image
        im = Image.open(io.BytesIO(d.data))
        a = np.asarray(im.convert("L" if im.mode in ("L", "1") else "RGB"), np.uint8)
        return a[None] if a.ndim == 2 else a[:, :, ::-1].transpose(2, 0, 1)
    if d.data:
        return np.frombuffer(d.data, np.uint8).reshape(d.channels, d.height, d.width)
    return np.asarray(d.float_data, np.float32).reshape(d.channels, d.height, d.width)


def write_arrays(path: str, images: np.ndarray, labels: np.ndarray, backend: str = "lmdb") -> None:
    """images: N x H x W (one channel) or N x C x H x W uint8, keys %08d in order, as Caffe's
    converters write. Written beside `path` and renamed into place, so an interrupted run
    leaves no half database."""
    from ..caffe_edge.caffe_io import pb2
    images = np.asarray(images, np.uint8)
    if images.ndim == 3:
        images = images[:, None]
    n, c, h, w = images.shape
    check_output_dir(path, [])
    datum = pb2().Datum
    with replaced_dir(path) as tmp:
        db = DatumWriter(tmp, backend)
        try:
            for i in range(n):
                d = datum(channels=c, height=h, width=w, data=images[i].tobytes(), label=int(labels[i]))
                db.put(f"{i:08d}".encode(), d.SerializeToString())
        finally:
            db.close()


def read_arrays(path: str) -> tuple[list[bytes], np.ndarray, np.ndarray]:
    """(keys, images N x C x H x W, labels) of a Datum database."""
    keys, images, labels = [], [], []
    for k, v in records(path)[0]:
        a, label = record_array(v, path, k)
        keys.append(k)
        images.append(a)
        labels.append(label)
    return keys, np.stack(images), np.array(labels)
