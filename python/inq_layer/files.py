"""Reading the user's files with bounded memory: only regular files (a FIFO would block, a
device such as /dev/zero never ends), and what a file declares checked against what the
machine can hold before anything is allocated for it."""
from __future__ import annotations

import os
import stat

from .errors import InqError

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def check_regular(path: str, what: str) -> int:
    """The size of `path` if it is a regular file (links followed); InqError otherwise."""
    if not path:
        raise InqError(f"no {what} file given")
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise InqError(f"{path}: {what} file not found") from None
    except OSError as e:
        raise InqError(f"{path}: cannot read {what} file ({e.strerror})") from None
    for test, kind in _KINDS:
        if test(st.st_mode):
            raise InqError(f"{path}: is {kind}, expected a regular {what} file")
    return st.st_size


def read_regular(path: str, what: str) -> bytes:
    """The whole content of a regular file."""
    check_regular(path, what)
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise InqError(f"{path}: cannot read {what} file ({e.strerror})") from None


def available_memory() -> int:
    """Bytes this process can still allocate without swapping (MemAvailable), or a large
    number where the system does not say."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 1 << 62


def check_fits_memory(nbytes: int, source: str, what: str) -> None:
    """Refuse to decode what would not fit in memory, naming what declared it."""
    free = available_memory()
    if nbytes > free:
        raise InqError(f"{source}: {what} would take {nbytes / 2**30:.1f} GiB to decode, more than the "
                       f"{free / 2**30:.1f} GiB of memory available: the file is damaged or not for this machine")
