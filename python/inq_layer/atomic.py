"""File helpers. Atomic writes: a temp file in the same folder, fsync, then rename over
the target, so a crash or a full disk leaves the previous file intact; checksums."""
from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import tempfile
from typing import IO, Callable, Iterator


def write_atomic(path: str, writer: Callable[[IO[bytes]], None]) -> None:
    """Call writer(f) on a temp file beside `path`, then rename it to `path`."""
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=d)
    try:
        with os.fdopen(fd, "wb") as f:
            writer(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_bytes_atomic(path: str, data: bytes) -> None:
    write_atomic(path, lambda f: f.write(data))


def write_text_atomic(path: str, text: str) -> None:
    write_bytes_atomic(path, text.encode())


@contextlib.contextmanager
def scratch_file(folder: str, suffix: str, data: bytes) -> Iterator[str]:
    """A file holding `data` in `folder` while the block runs (for Caffe, which reads
    solvers and solver states only from paths); removed afterwards."""
    fd, path = tempfile.mkstemp(suffix=suffix, dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        yield path
    finally:
        os.unlink(path)


def check_output(out: str, inputs: list[str | None], option: str = "--out") -> str:
    """An output file path that can be written without losing anything: not one of the
    inputs, not a directory, in a folder that exists. Returns it; InqError otherwise."""
    from .errors import InqError
    real = os.path.realpath(out)
    for i in filter(None, inputs):
        if os.path.exists(i) and os.path.realpath(i) == real:
            raise InqError(f"{option} {out} is also an input file; write to another path (the input is untouched)")
    if os.path.isdir(out):
        raise InqError(f"{option} {out} is a directory; give a file name")
    folder = os.path.dirname(real)
    if not os.path.isdir(folder):
        raise InqError(f"{option} {out}: folder {os.path.dirname(out) or '.'} does not exist")
    if not os.access(folder, os.W_OK):
        raise InqError(f"{option} {out}: folder {os.path.dirname(out) or '.'} is not writable")
    return out


def describe_os_error(e: OSError, path: str) -> str:
    if e.errno == errno.ENOSPC:
        return f"{path}: no space left on device; free space and rerun (earlier files are intact)"
    return f"{path}: {e.strerror or e}"


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()
