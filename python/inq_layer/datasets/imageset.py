"""Images to a Caffe LMDB, as Caffe's convert_imageset does (which needs OpenCV, left out
of this build).

LIST has a `relative/path label` line per image (convert_imageset's format). Each image
becomes a Datum keyed `%08d_relative/path` (its line number after the optional shuffle):
3 x H x W uint8 in BGR order (OpenCV's), or 1 x H x W with --gray, or the encoded file
bytes with --encoded (re-encoded as JPEG when resized). Images are decoded with Pillow in
parallel processes; an unreadable image gets one `warning:` line and is left out (or ends
the run with --stop-on-error). The LMDB is written beside --out and renamed into place, and
the same command gives the same database again. `--backend leveldb` writes a LevelDB
instead (the original INQ AlexNet read LevelDB).

Resizing uses Pillow's bilinear filter, which averages over the source pixels a target
pixel covers when it shrinks an image; OpenCV's INTER_LINEAR (convert_imageset) takes the
four nearest source pixels only. Shrunk images therefore differ by a few grey levels (less
aliasing here); enlarged ones agree up to rounding.

The command: python -m inq_layer.tools.imageset (tools/imageset.py).
"""
from __future__ import annotations

import io
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass


from ..atomic import replaced_dir
from .datum_db import DatumWriter
from .record_shapes import decoded_shape, dims
from ..files import read_regular
from ..errors import InqError


@dataclass
class Options:
    root: str
    resize: tuple[int, int] | None = None  # (height, width), as convert_imageset's resize_height/width
    encoded: bool = False
    gray: bool = False
    mixed_sizes: bool = False  # allow images of several sizes (a net that crops them all to one)


def read_list(path: str) -> list[tuple[str, int]]:
    """(relative path, label) per non-empty line; the label is the last field, so paths
    may contain spaces (as in convert_imageset)."""
    data = read_regular(path, "image list")
    if data.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte order mark (Windows editors) is no part of the first path
        data = data[3:]
    out = []
    for n, raw in enumerate(data.splitlines(), 1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise InqError(f"{path}:{n}: not UTF-8 text (byte {e.start + 1}: {raw[e.start:e.start + 1]!r})") from None
        if not line.strip():
            continue
        name, _, label = line.rstrip().rpartition(" ")
        if not name or not label.lstrip("-").isdigit():
            raise InqError(f"{path}:{n}: expected `relative/path label`, got {line.strip()!r}")
        if not -2**31 <= int(label) < 2**31:
            raise InqError(f"{path}:{n}: label {label} does not fit a Datum's int32 label")
        out.append((name, int(label)))
    if not out:
        raise InqError(f"{path}: no images listed")
    return out


def encode_datum(opt: Options, name: str, label: int) -> tuple[bytes, tuple[int, int, int]]:
    """The serialized Datum of one image and its channels, height and width as Caffe will
    decode it (raises OSError/ValueError for a bad image)."""
    from PIL import Image

    from ..caffe_edge.caffe_io import pb2
    path = os.path.join(opt.root, name)
    d = pb2().Datum(label=label)
    if opt.encoded and opt.resize is None:
        with open(path, "rb") as f:
            data = f.read()
        im = Image.open(io.BytesIO(data))
        shape = decoded_shape(im)
        im.verify()  # readable as an image
        d.data, d.encoded = data, True
        return d.SerializeToString(), shape
    with Image.open(path) as im:
        mode = "L" if opt.gray else "RGB"
        if im.mode != mode:
            im = im.convert(mode)
        if opt.resize is not None:
            h, w = opt.resize
            im = im.resize((w, h), Image.BILINEAR)
        shape = (1 if opt.gray else 3, im.height, im.width)
        if opt.encoded:
            buf = io.BytesIO()
            im.save(buf, format="JPEG", quality=95)
            d.data, d.encoded = buf.getvalue(), True
            return d.SerializeToString(), shape
        planes = [im] if opt.gray else im.split()[::-1]  # channel planes in BGR order: C x H x W
        d.channels, d.height, d.width = len(planes), im.height, im.width
        d.data = b"".join(p.tobytes() for p in planes)
    return d.SerializeToString(), shape


def _work(args: tuple[Options, str, int]) -> tuple[bytes | None, str, tuple[int, int, int] | None]:
    opt, name, label = args
    try:
        return *encode_datum(opt, name, label), ""
    except Exception as e:  # any decoder failure: report the file, go on
        return None, None, f"{type(e).__name__}: {e}"




RECORD_MAX = 2**31 - 1 - (1 << 16)  # protobuf's message limit, less a Datum's other fields


def memory_available() -> int:
    """Bytes this process can still use: the kernel's MemAvailable, or the address-space
    limit (ulimit -v) when that is lower."""
    import resource
    avail = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
    except OSError:
        pass
    soft = resource.getrlimit(resource.RLIMIT_AS)[0]
    limits = [v for v in (avail, None if soft == resource.RLIM_INFINITY else soft) if v]
    return min(limits) if limits else 1 << 62


def check_resize(opt: Options, jobs: int) -> None:
    """Refuse up front a --resize whose records can never be stored (a Datum is a protobuf
    message: under 2 GiB) or whose decoding cannot fit in memory (each process holds the
    image, its planes and its record: about four copies)."""
    if opt.resize is None:
        return
    h, w = opt.resize
    record = (1 if opt.gray else 3) * h * w
    if record > RECORD_MAX:
        raise InqError(f"--resize {h} {w}: a record would hold {record:,} bytes, beyond the {RECORD_MAX:,} a "
                       f"Datum (a protobuf message) can; nothing was written")
    need, avail = 4 * record * max(1, jobs), memory_available()
    if need > avail:
        raise InqError(f"--resize {h} {w}: {max(1, jobs)} processes would need about {need:,} bytes, {avail:,} "
                       f"are available; use fewer --jobs or a smaller size; nothing was written")


def _unreadable(opt: Options, name: str, err: str, stop: bool) -> None:
    print(f"warning: {os.path.join(opt.root, name)}: cannot read ({err}); left out", file=sys.stderr)
    if stop:
        raise InqError(f"{os.path.join(opt.root, name)}: cannot read ({err}); nothing was written")


def _mixed(opt: Options, this: tuple[str, tuple], first: tuple[str, tuple]) -> None:
    """Caffe stacks a batch's images into one blob: images of two sizes break it."""
    raise InqError(f"{os.path.join(opt.root, this[0])} is {dims(this[1])} but {os.path.join(opt.root, first[0])} "
                   f"is {dims(first[1])}: Caffe cannot batch images of different sizes; give --resize HEIGHT "
                   f"WIDTH, or --mixed-sizes if the net's data layer crops every image to one size; nothing "
                   f"was written")


def convert(opt: Options, items: list[tuple[str, int]], out: str, jobs: int = 0, stop_on_error: bool = False,
            progress: bool = True, backend: str = "lmdb") -> dict:
    """Write the database; returns counts and the rate. Items go in the given order."""
    if jobs < 0:
        raise ValueError(f"jobs must be 0 (one per core) or positive, got {jobs}")
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(items)))  # no process without an image to decode
    check_resize(opt, jobs)
    written, bad, t0 = 0, [], time.perf_counter()
    with replaced_dir(out) as tmp:
        env = DatumWriter(tmp, backend)
        bar = None
        if progress:
            from tqdm import tqdm
            bar = tqdm(total=len(items), unit="img", file=sys.stderr, disable=None)
        try:
            with ProcessPoolExecutor(jobs) as pool:
                work = ((opt, n, lab) for n, lab in items)
                first = None  # (name, shape) of the first image written
                try:
                    for i, ((name, _), (data, shape, err)) in enumerate(
                            zip(items, pool.map(_work, work, chunksize=16))):
                        if data is None:
                            bad.append(name)
                            _unreadable(opt, name, err, stop_on_error)
                        else:
                            first = first or (name, shape)
                            if shape != first[1] and not opt.mixed_sizes:
                                _mixed(opt, (name, shape), first)
                            env.put(f"{i:08d}_{name}".encode(), data)
                            written += 1
                        if bar is not None:
                            bar.update(1)
                except BaseException:
                    pool.shutdown(wait=True, cancel_futures=True)  # not every image queued
                    raise
        finally:
            env.close()
            if bar is not None:
                bar.close()
        if not written:
            raise InqError("no image could be read; nothing was written")
    secs = time.perf_counter() - t0
    return {"written": written, "bad": bad, "seconds": secs, "rate": written / max(secs, 1e-9)}
