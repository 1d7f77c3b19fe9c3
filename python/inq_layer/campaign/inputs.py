"""What solver_driver.py and the prune tool share: the solver and starting weights checked
before anything runs, a writable --out, one campaign per --out, Caffe's log format, and
errors of the file system as one line."""
from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
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


def refuse_test_only_weights(net_path: str) -> None:
    """Before any training: a layer with weights in the TEST net alone would never be
    trained, quantized or saved (the campaign's models are its TRAIN net's)."""
    from ..net.selection import test_only_weights
    names = test_only_weights(caffe_io.read_net(net_path))
    if names:
        raise InqError(f"{net_path}: layer {names[0]!r} has weights but is in the TEST net only: no training "
                       f"updates or quantizes it and no saved model holds it; share its weights with a TRAIN "
                       f"layer (param {{ name: ... }}) or remove it"
                       + (f" (and {len(names) - 1} more such layers)" if len(names) > 1 else ""))


# What a campaign of ours leaves in --out before its record (campaign.json) exists.
_BEFORE_RECORD = re.compile(r"^(\.lock|train\.log|\.inq_scratch|phase\d+)$")


def writable_out(out: str, inputs: list[str | None]) -> str:
    """--out, made if missing, after the checks that it is no input and holds none, and
    that a folder which exists holds a campaign of ours or nothing else: the campaign
    writes report.md, final_inq.caffemodel and more there, and must not write over a
    user's files of those names."""
    from ..atomic import check_disjoint, check_not_a_file
    check_disjoint(out, inputs)
    check_not_a_file(out, "--out", " for the campaign")
    if os.path.isdir(out) and not os.path.exists(os.path.join(out, "campaign.json")):
        foreign = sorted(n for n in os.listdir(out) if not _BEFORE_RECORD.match(n))
        if foreign:
            shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
            raise InqError(f"--out {out}: holds files of no campaign ({shown}); give an empty or new folder "
                           f"(nothing in it was changed)")
    try:
        os.makedirs(out, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):  # a name of its own: no file of --out is touched
            pass
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
