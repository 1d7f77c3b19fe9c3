"""The image sizes a Data layer's database holds, from a sample spread across it: what
Caffe's data layer would stop on mid-training (records it cannot stack into one batch,
records smaller than the crop) is found before any training starts."""
from __future__ import annotations

import io
import os

from ..caffe_edge.caffe_io import layer_type, model_layers
from ..errors import InqError
from .datum_db import image_error, read_datum

SAMPLE = 256  # records read per database, spread evenly over its keys


def _keys_and_reader(path: str):
    """(every key in order, a function key -> value, close) of an LMDB or LevelDB folder;
    keys are read without their values, so a large database is walked in seconds."""
    if os.path.exists(os.path.join(path, "data.mdb")):
        import lmdb
        env = lmdb.open(path, readonly=True, lock=False)
        txn = env.begin()
        keys = [bytes(k) for k in txn.cursor().iternext(keys=True, values=False)]
        return keys, lambda k: bytes(txn.get(k)), env.close
    if os.path.exists(os.path.join(path, "CURRENT")):
        import plyvel
        db = plyvel.DB(path)
        keys = list(db.iterator(include_value=False))
        return keys, db.get, db.close
    return None


def decoded_shape(im) -> tuple[int, int, int]:
    """Channels, height and width of an encoded image (a PIL image) as Caffe decodes it:
    one channel for grey, else three."""
    return (1 if im.mode in ("L", "1") else 3, im.height, im.width)


def dims(shape: tuple[int, int, int]) -> str:
    """A shape as Caffe's logs write it: 3x32x32."""
    return "x".join(map(str, shape))


def datum_shape(value: bytes, db: str, key: bytes) -> tuple[int, int, int]:
    """Channels, height and width of a record (an encoded one from its image header, as
    Caffe decodes it: one channel for grey, else three); InqError naming a record that is
    no Datum, whose pixels do not fill its shape, or whose image has no readable header."""
    d = read_datum(value, db, key)
    if d.encoded:
        from PIL import Image
        try:
            return decoded_shape(Image.open(io.BytesIO(d.data)))
        except OSError as e:
            raise image_error(db, key, e) from None
    return (d.channels, d.height, d.width)


def sampled_shapes(path: str, limit: int = SAMPLE) -> list[tuple[int, tuple[int, int, int]]] | None:
    """(record index, shape) of up to `limit` records spread over the database (the first
    and the last among them); None when the folder is no database this can read."""
    found = _keys_and_reader(path)
    if found is None:
        return None
    keys, get, close = found
    try:
        n = len(keys)
        picks = range(n) if n <= limit else sorted({i * (n - 1) // (limit - 1) for i in range(limit)})
        return [(i, datum_shape(get(keys[i]), path, keys[i])) for i in picks]
    finally:
        close()


def check_record_shapes(path: str, net) -> None:
    """Refuse a net whose Data layer (either phase) reads records Caffe cannot batch: of
    different sizes where the layer does not crop, of different channel counts, or
    smaller than its crop_size."""
    for ly in model_layers(net):
        if layer_type(ly) not in ("Data", "DATA") or not ly.data_param.source:
            continue
        src, crop = ly.data_param.source, ly.transform_param.crop_size
        shapes = sampled_shapes(src)
        if shapes is None:
            continue
        where = f"{path}: layer {ly.name!r} reads {src}"
        if not shapes:  # Caffe's data layer would abort on its first read
            raise InqError(f"{where}, which holds no records")
        first = shapes[0]
        for i, s in shapes[1:]:
            if s[0] != first[1][0] or (not crop and s != first[1]):
                raise InqError(f"{where}, whose record {i} is {dims(s)} but record {first[0]} is "
                               f"{dims(first[1])}: Caffe cannot batch them" + ("" if crop else
                               " (no crop_size makes them one size); rebuild it with imageset --resize"))
        small = next(((i, s) for i, s in shapes if crop and min(s[1], s[2]) < crop), None)
        if small is not None:
            raise InqError(f"{where}, whose record {small[0]} is {dims(small[1])}, smaller than its crop_size "
                           f"{crop}")
