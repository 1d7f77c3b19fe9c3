"""lock: one campaign per --out at a time; the lock dies with its owner."""
import os
import subprocess
import sys

import pytest

from inq_layer.errors import InqError
from inq_layer.campaign.lock import OutLock


def test_a_second_owner_is_refused_with_the_first_ones_pid(tmp_path):
    with OutLock(str(tmp_path)):
        with pytest.raises(InqError, match=f"another campaign \\(pid {os.getpid()}\\) is running"):
            with OutLock(str(tmp_path)):
                pass
    with OutLock(str(tmp_path)):  # released on exit
        pass


def test_a_killed_owner_leaves_no_stale_lock(tmp_path):
    code = ("import sys, os; from inq_layer.campaign.lock import OutLock; "
            "l = OutLock(sys.argv[1]).__enter__(); os.kill(os.getpid(), 9)")
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path)])
    assert r.returncode == -9 and os.path.exists(tmp_path / ".lock")
    with OutLock(str(tmp_path)):
        pass


def _held_by_another(tmp_path, content: bytes):
    """The --out lock held (flock) by an owner that wrote `content` in it."""
    import fcntl
    fd = os.open(tmp_path / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    os.write(fd, content)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return fd


@pytest.mark.parametrize("content, shown", [(b"", "unknown"), (b"\xff\xfe\n", "\ufffd\ufffd"),
                                             (b"7" * 40, "7" * 32)])
def test_the_owner_named_is_what_its_lock_file_says(tmp_path, content, shown):
    """An empty file: unknown; bytes that are no text: replaced; the first 32 bytes only."""
    fd = _held_by_another(tmp_path, content)
    try:
        with pytest.raises(InqError) as e:
            with OutLock(str(tmp_path)):
                pass
        assert str(e.value) == (f"{tmp_path}: another campaign (pid {shown}) is running in this --out; wait for it "
                                f"or use another --out")
    finally:
        os.close(fd)


def test_the_lock_file_holds_the_pid_alone_with_the_umask_mode(tmp_path):
    (tmp_path / ".lock").write_text("123456789012\n")  # a longer pid left by an earlier owner
    old = os.umask(0o022)
    try:
        os.unlink(tmp_path / ".lock")
        with OutLock(str(tmp_path)):
            assert (tmp_path / ".lock").read_text() == f"{os.getpid()}\n"
            assert os.stat(tmp_path / ".lock").st_mode & 0o777 == 0o644
        (tmp_path / ".lock").write_text("123456789012\n")
        with OutLock(str(tmp_path)):
            assert (tmp_path / ".lock").read_text() == f"{os.getpid()}\n"
    finally:
        os.umask(old)


def test_leaving_twice_or_without_entering_is_harmless(tmp_path):
    lock = OutLock(str(tmp_path))
    lock.__exit__(None, None, None)
    with lock:
        pass
    lock.__exit__(None, None, None)
    assert lock.fd is None
