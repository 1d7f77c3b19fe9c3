"""What solver_driver.py and the prune tool share: the solver and starting weights checked
before anything runs, a writable --out, one campaign per --out, Caffe's log format, and
errors of the file system as one line."""
from __future__ import annotations

import contextlib
import os
import sys
from typing import Iterator

from ..caffe_edge import caffe_io
from ..caffe_edge.log_format import CaffeLog
from ..errors import InqError
from ..caffe_edge.solver_config import SolverConfig, load_solver


def solver_with_net_file(path: str) -> SolverConfig:
    cfg = load_solver(path)
    if cfg.net_path is None:  # the final check reads the net file
        raise InqError(f"{path}: inline nets (net_param) are not supported; put the net in a "
                       f"file and name it with `net:`")
    return cfg


def starting_weights(weights: str | None, fillers: bool, default: str | None) -> str | None:
    """The float model to start from: --weights, else the documented default path; None
    only with --init-from-fillers. Read once here so a bad file fails before any work."""
    if weights is None and not fillers:
        weights = default
        if weights is None or not os.path.exists(weights):
            where = f"put it at {weights}" if weights else "give it with --weights"
            raise InqError(f"no float model: {where} (or use --init-from-fillers for a smoke run)")
    if weights is not None:
        caffe_io.read_caffemodel(weights)
    return weights


def writable_out(out: str, inputs: list[str | None]) -> str:
    """--out, made if missing, after the check that it is no input and holds none."""
    from ..atomic import check_disjoint
    check_disjoint(out, inputs)
    try:
        os.makedirs(out, exist_ok=True)
        probe = os.path.join(out, ".write_probe")
        with open(probe, "w"):
            pass
        os.unlink(probe)
    except OSError as e:
        raise InqError(f"--out {out}: not writable ({e.strerror})") from None
    return out


@contextlib.contextmanager
def campaign_log(out: str) -> Iterator[CaffeLog]:
    """The --out lock and train.log for the time of a campaign; OSErrors (a full disk
    above all) become one line that says to resume."""
    from ..atomic import describe_os_error
    from .lock import OutLock
    with OutLock(out), open(os.path.join(out, "train.log"), "a") as logf:
        try:
            yield CaffeLog(sys.stdout, logf)
        except OSError as e:
            raise InqError(describe_os_error(e, e.filename or out) + "; then rerun with --resume") from None
