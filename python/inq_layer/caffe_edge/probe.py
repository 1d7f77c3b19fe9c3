"""What Caffe would abort on, tried first in a child process.

Caffe ends the whole process on LOG(FATAL) and failed CHECKs (an unknown bottom blob,
momentum with RMSProp, a data source that is no database, a GPU call in a CPU-only build,
...). Checking each cause field by field can never be complete, so the driver lets a child
build the solver and its nets, and turns the child's death into one error line carrying
Caffe's own reason.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys

from ..errors import InqError
from .caffe_io import check_batch_sizes, check_computed_shapes, check_stated_shapes

_FATAL = re.compile(r"^F\d{4,8} [\d:.]+\s+\d+ [^\]]*\] (.*)$")
# glog's info and warnings, its stack trace; Python's frames, and boost's SystemError that
# follows a Python layer's own error (a missing module, an exception in its setup)
_NOT_THE_REASON = re.compile(r"^([IW]\d{4} |\*\*\* |  |Traceback \(|SystemError: <Boost\.Python)")
_GPU: dict[int, bool] = {}
# Building a solver or a net takes seconds; a child still building after this long waits
# for something that never comes (a data layer that never fills a batch), and is stopped.
BUILD_TIMEOUT = 600


def caffe_reason(stderr: str, returncode: int) -> str:
    """Caffe's reason from a dead child's stderr: its glog FATAL line (without glog's
    "Check failed:" prefix), else the last line of a Python error, else the exit status."""
    lines = [ln.rstrip() for ln in stderr.splitlines() if ln.strip()]
    for ln in reversed(lines):
        m = _FATAL.match(ln)
        if m:
            return re.sub(r"^Check failed: ", "", m.group(1)).strip()
    for ln in reversed(lines):
        if not _NOT_THE_REASON.match(ln):
            return ln.strip()
    return f"the process ended with status {returncode}"


def run_child(code: str, *args: str) -> tuple[bool, str]:
    """Run `code` with pycaffe in a child; (True, "") or (False, Caffe's reason)."""
    try:
        r = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                           timeout=BUILD_TIMEOUT)
    except subprocess.TimeoutExpired:
        return False, f"Caffe was still building it after {BUILD_TIMEOUT} s (a data layer waiting for data?)"
    return r.returncode == 0, ("" if r.returncode == 0 else caffe_reason(r.stderr, r.returncode))


def param_shapes(net_path: str) -> dict[str, list[tuple[int, ...]]] | None:
    """Every parameter blob's shape as Caffe computes it when it builds the TEST net of a
    prototxt (from its input dims through every layer), built in a child: {layer: [shape,
    ...]}; None when Caffe cannot build it here (a data source on another machine, ...)."""
    code = ("import sys, json, caffe; caffe.set_mode_cpu(); n = caffe.Net(sys.argv[1], caffe.TEST); "
            "print(json.dumps({k: [list(b.data.shape) for b in v] for k, v in n.params.items()}))")
    try:
        r = subprocess.run([sys.executable, "-c", code, net_path], capture_output=True, text=True,
                           timeout=BUILD_TIMEOUT)
    except subprocess.TimeoutExpired:
        return None
    if r.returncode != 0:
        return None
    try:
        return {k: [tuple(s) for s in v] for k, v in json.loads(r.stdout.strip().splitlines()[-1]).items()}
    except (ValueError, IndexError):
        return None


def check_shapes(model_path: str, net, shapes: dict[str, list[tuple]], source: str,
                 legacy: frozenset[tuple[str, int]] = frozenset()) -> None:
    """Refuse blobs (`shapes`: {layer: [shape, ...]} read from `source`; `legacy`: those in
    the old 4-D fields, caffe_io.legacy_blobs) that contradict what the prototxt states, then
    the shapes Caffe computes for it (where Caffe can build it here; else the stated ones alone)."""
    check_stated_shapes(model_path, net, shapes, source)
    check_batch_sizes(model_path, net)
    computed = param_shapes(model_path)
    if computed is not None:
        check_computed_shapes(model_path, computed, shapes, source, legacy)


def _mode(device: int | None) -> str:
    if device is None:
        return "caffe.set_mode_cpu()"
    return f"caffe.set_device({int(device)}); caffe.set_mode_gpu()"


def gpu_usable(device: int) -> bool:
    if device not in _GPU:
        _GPU[device] = run_child(f"import caffe; {_mode(device)}; caffe.Net")[0]
    return _GPU[device]


def try_solver(solver_path: str, shown_as: str, device: int | None) -> None:
    """Build the solver (train and test nets) in a child; InqError with Caffe's reason."""
    ok, reason = run_child(f"import sys, caffe; {_mode(device)}; caffe.get_solver(sys.argv[1])", solver_path)
    if not ok:
        raise InqError(f"{shown_as}: Caffe cannot build this solver or its nets: {reason}")


def try_net(net_path: str, shown_as: str) -> None:
    """Build the TEST net of a prototxt in a child; InqError with Caffe's reason."""
    ok, reason = run_child("import sys, caffe; caffe.set_mode_cpu(); caffe.Net(sys.argv[1], caffe.TEST)", net_path)
    if not ok:
        raise InqError(f"{shown_as}: Caffe cannot build this net: {reason}")
