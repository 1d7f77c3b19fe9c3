"""One campaign per --out at a time: an flock'ed lock file holding the owner's pid.
The kernel drops the lock when the owner dies, even by SIGKILL, so no stale locks."""
from __future__ import annotations

import fcntl
import os

from ..errors import InqError


class OutLock:
    def __init__(self, folder: str):
        self.path = os.path.join(folder, ".lock")
        self.fd: int | None = None

    def __enter__(self) -> "OutLock":
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise InqError(f"{os.path.dirname(self.path)}: another campaign (pid {owner}) is "
                           f"running in this --out; wait for it or use another --out") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
