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
