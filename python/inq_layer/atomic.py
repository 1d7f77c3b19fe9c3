"""File helpers. Atomic writes: a temp file in the same folder, fsync, then rename over
the target, so a crash or a full disk leaves the previous file intact; checksums."""
from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import shutil
import tempfile
from typing import IO, Callable, Iterator


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# A temp file of ours: "." + the target's name + "." + the writer's pid + "." + mkstemp's
# random characters + a suffix (".tmp", or the extension a writer reads).
_TEMP = re.compile(r"^\.(?P<base>.+)\.(?P<pid>\d+)\.[a-z0-9_]+(?P<suffix>\.\w+)$")


def remove_stale_temps(folder: str, base: str | None = None) -> None:
    """Temp files (of `base`, or of any target) that a writer of ours left when it died
    (kill -9, a Caffe abort): their name holds its pid, and that process is gone."""
    for name in os.listdir(folder):
        m = _TEMP.match(name)
        if m and (base is None or m["base"] == base) and not _alive(int(m["pid"])):
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(folder, name))


def _new_file_mode() -> int:
    """The mode open() would give a new file under the process's umask (mkstemp's 0600
    would not follow it, where Caffe's own snapshots do)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _refuse_dir(path: str) -> None:
    """A folder at the target: refused before anything is written, naming the target (the
    rename would fail naming the temp file)."""
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)


def write_atomic(path: str, writer: Callable[[IO[bytes]], None]) -> None:
    """Call writer(f) on a temp file beside `path`, then rename it to `path`."""
    _refuse_dir(path)
    d = os.path.dirname(os.path.abspath(path))
    base = os.path.basename(path)
    remove_stale_temps(d, base)
    fd, tmp = tempfile.mkstemp(prefix=f".{base}.{os.getpid()}.", suffix=".tmp", dir=d)
    try:
        with os.fdopen(fd, "wb") as f:
            writer(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _new_file_mode())
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
def written_by_path(path: str, suffix: str = ".tmp") -> Iterator[str]:
    """A temp path beside `path` for writers that take only a file name (Caffe's Net.save,
    matplotlib's savefig: `suffix` keeps the extension it reads); renamed to `path` when the
    block ends without an error, removed otherwise."""
    _refuse_dir(path)
    d, base = os.path.split(os.path.abspath(path))
    remove_stale_temps(d, base)
    fd, tmp = tempfile.mkstemp(prefix=f".{base}.{os.getpid()}.", suffix=suffix, dir=d)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, _new_file_mode())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def move_into_place(src: str, dst: str) -> None:
    """Rename a finished file (made beside dst, on its filesystem) to dst: readers see the
    old file or the new one, never a part."""
    os.replace(src, dst)


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


def _within(path: str, folder: str) -> bool:
    return os.path.commonpath([path, folder]) == folder


def check_disjoint(out: str, inputs: list[str | None], option: str = "--out") -> None:
    """Refuse an output path that is an input, holds one (a folder around it) or lies inside
    one (in an input folder): writing it could destroy what it reads."""
    from .errors import InqError
    real = os.path.realpath(out)
    for i in filter(None, inputs):
        if not os.path.exists(i):
            continue
        inp = os.path.realpath(i)
        if inp == real:
            raise InqError(f"{option} {out} is also an input ({i}); write to another path (the input is untouched)")
        if _within(inp, real):
            raise InqError(f"{option} {out} holds the input {i}; write to another path (the input is untouched)")
        if os.path.isdir(inp) and _within(real, inp):
            raise InqError(f"{option} {out} lies inside the input folder {i}; write elsewhere (the input is untouched)")


def check_output(out: str, inputs: list[str | None], option: str = "--out") -> str:
    """An output file path that can be written without losing anything: not one of the
    inputs nor around or inside one, not a directory, in a folder that exists. Returns it;
    InqError otherwise."""
    from .errors import InqError
    check_disjoint(out, inputs, option)
    real = os.path.realpath(out)
    if os.path.isdir(out):
        raise InqError(f"{option} {out} is a directory; give a file name")
    folder = os.path.dirname(real)
    if not os.path.isdir(folder):
        raise InqError(f"{option} {out}: folder {os.path.dirname(out) or '.'} does not exist")
    if not os.access(folder, os.W_OK):
        raise InqError(f"{option} {out}: folder {os.path.dirname(out) or '.'} is not writable")
    return out


def check_not_a_file(path: str, option: str, purpose: str = "") -> None:
    """Refuse a file where an output folder goes (made later, or kept): nothing is written."""
    from .errors import InqError
    if os.path.exists(path) and not os.path.isdir(path):
        raise InqError(f"{option} {path} is a file; give a folder{purpose} (nothing was changed)")


MADE = ".made-by-inq_layer"  # marks a folder this project wrote, and may therefore replace


def made_here(folder: str) -> bool:
    return os.path.isfile(os.path.join(folder, MADE))


def check_output_dir(out: str, inputs: list[str | None], option: str = "--out") -> str:
    """An output folder (a database) that can be replaced without losing anything: disjoint
    from the inputs, and either absent, empty or written by this project before."""
    from .errors import InqError
    check_disjoint(out, inputs, option)
    for path in (out, out.rstrip("/") + ".partial"):
        if os.path.exists(path) and not os.path.isdir(path):
            raise InqError(f"{option} {out}: {path} is a file; give a folder for the database")
        if os.path.isdir(path) and os.listdir(path) and not made_here(path):
            raise InqError(f"{option} {out}: {path} exists and was not written by this tool; remove it "
                           f"or choose another {option} (nothing was changed)")
    return out


@contextlib.contextmanager
def replaced_dir(out: str) -> Iterator[str]:
    """A scratch folder beside `out` to write into; when the block ends without an error it
    replaces `out` (only a folder this project made, see check_output_dir), else it goes."""
    tmp = out.rstrip("/") + ".partial"
    for path in (out, tmp):
        if os.path.isdir(path) and os.listdir(path) and not made_here(path):
            raise RuntimeError(f"{path} was not made here")  # check_output_dir refuses this first
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    try:
        yield tmp
        open(os.path.join(tmp, MADE), "w").close()
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)


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
