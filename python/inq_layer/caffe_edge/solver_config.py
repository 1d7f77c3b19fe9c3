"""The solver prototxt: every training setting comes from it, read with caffe_pb2.

The driver hands Caffe a copy in which only what the driver itself takes over is changed:
display, testing and snapshots (the driver does them, after frozen weights are written
back), the snapshot prefix (into --out), max_iter (a phase's length), and net paths made
absolute. Everything else (lr policy, momentum, weight decay, iter_size, type, seed, ...)
reaches Caffe untouched.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from google.protobuf import text_format

from .caffe_io import read_solver
from ..errors import InqError

if TYPE_CHECKING:  # annotations only: pycaffe is not imported at load time
    from caffe.proto.caffe_pb2 import SolverParameter


@dataclass
class SolverConfig:
    path: str
    param: object  # caffe_pb2.SolverParameter as read
    net_path: str | None  # resolved `net` (or `train_net`) file

    @property
    def max_iter(self) -> int:
        return int(self.param.max_iter)

    @property
    def gpu(self) -> bool:
        return self.param.solver_mode == 1  # SolverParameter.GPU

    def test_iters(self) -> list[int]:
        """Forward passes of each test net per test (a negative test_iter runs none)."""
        return [max(0, int(t)) for t in self.param.test_iter]

    def test_iter_of(self, net_index: int) -> int:
        """Forward passes of test net `net_index` per test (1 when test_iter is short)."""
        iters = self.test_iters()
        return iters[net_index] if net_index < len(iters) else 1


def _resolve(path: str, solver_path: str) -> str:
    """Caffe opens net paths relative to the working directory; also accept paths relative
    to the solver file, which is where users expect them to be."""
    if os.path.exists(path):
        return os.path.abspath(path)
    beside = os.path.join(os.path.dirname(os.path.abspath(solver_path)), path)  # an absolute path stays itself
    if os.path.exists(beside):
        return beside
    raise InqError(f"{solver_path}: net file {path!r} not found (relative to the working "
                   f"directory or to the solver file)")


def load_solver(path: str) -> SolverConfig:
    param = read_solver(path)
    net_path = None
    for field in ("net", "train_net"):
        if param.HasField(field):
            net_path = _resolve(getattr(param, field), path)
            setattr(param, field, net_path)
    for i, t in enumerate(param.test_net):
        param.test_net[i] = _resolve(t, path)
    if net_path is None and not param.HasField("net_param") and not param.HasField("train_net_param"):
        raise InqError(f"{path}: the solver names no net (set `net: \"...prototxt\"`)")
    if param.max_iter <= 0:
        raise InqError(f"{path}: max_iter must be positive, got {param.max_iter}")
    check_counts(path, param)
    check_rates(path, param)
    check_lr_policy(path, param)
    if param.snapshot_format == 0:  # HDF5
        raise InqError(f"{path}: snapshot_format HDF5 is not supported (the INQ state is kept beside "
                       f"binary snapshots); remove the line or use BINARYPROTO")
    return SolverConfig(path, param, net_path)


# Values the driver's own loop steps by (a negative one would never reach the next stop) and
# what BVLC master's Solver checks (average_loss >= 1; Caffe divides the loss by iter_size).
_AT_LEAST = {"snapshot": 0, "test_interval": 0, "display": 0, "iter_size": 1, "average_loss": 1}


def check_counts(path: str, p: SolverParameter) -> None:
    for name, low in _AT_LEAST.items():
        v = getattr(p, name)
        if v < low:
            what = "positive" if low else "0 (off) or positive"
            raise InqError(f"{path}: {name} must be {what}, got {v}")


def is_adam(path: str, p: SolverParameter) -> bool:
    """Adam by `type`, or by the old `solver_type` enum (Caffe aborts when both are given)."""
    if p.HasField("solver_type"):
        if p.HasField("type"):
            raise InqError(f"{path}: gives both type and the old solver_type; keep one")
        return p.solver_type == p.ADAM
    return p.type == "Adam"


def check_rates(path: str, p: SolverParameter) -> None:
    """Rates Caffe takes without a word and then trains wrongly with: a negative rate or
    decay climbs the loss; a momentum (or Adam's beta2) of 1 or more never forgets, and
    Adam's update is then 0 or NaN from the first iteration."""
    for name in ("base_lr", "weight_decay"):
        if getattr(p, name) < 0:
            raise InqError(f"{path}: {name} must be 0 or positive, got {getattr(p, name):g}")
    rates = [("momentum", "momentum")] + ([("momentum2", "momentum2 (Adam's beta2)")]
                                         if is_adam(path, p) else [])
    for name, shown in rates:
        if not 0 <= getattr(p, name) < 1:
            raise InqError(f"{path}: {shown} must be in [0, 1), got {getattr(p, name):g}")


# What BVLC Caffe master's SGDSolver::GetLearningRate checks (Caffe 1.0 checks less, and
# dies of a division by zero on a step policy without stepsize).
_POLICY_NEEDS = {"fixed": (), "step": ("stepsize", "gamma"), "exp": ("gamma",), "inv": ("gamma",),
                 "multistep": ("gamma",), "poly": (), "sigmoid": ("gamma", "stepsize")}


def check_lr_policy(path: str, p: SolverParameter) -> None:
    if p.lr_policy not in _POLICY_NEEDS:
        raise InqError(f"{path}: unknown lr_policy {p.lr_policy!r}; use one of {', '.join(_POLICY_NEEDS)}")
    needs = _POLICY_NEEDS[p.lr_policy]
    if "stepsize" in needs and p.stepsize <= 0:
        raise InqError(f"{path}: lr_policy {p.lr_policy!r} needs stepsize > 0, got {p.stepsize}")
    if "gamma" in needs and p.gamma < 0:
        raise InqError(f"{path}: lr_policy {p.lr_policy!r} needs gamma >= 0, got {p.gamma:g}")


def caffe_solver_text(cfg: SolverConfig, prefix: str, max_iter: int) -> str:
    """The solver Caffe runs for one phase (see the module docstring)."""
    p = type(cfg.param)()
    p.CopyFrom(cfg.param)
    p.max_iter = max_iter
    p.display = 0
    p.test_interval = 2**31 - 1  # never reached (Caffe requires > 0 with test nets)
    p.test_initialization = False
    p.snapshot = 0
    p.snapshot_after_train = False
    p.snapshot_prefix = prefix
    return text_format.MessageToString(p)


def lr_at(param: SolverParameter, it: int, max_iter: int | None = None) -> float:
    """Caffe's SGDSolver::GetLearningRate at iteration `it` of a solver running `max_iter`
    iterations (a phase's, where it differs from param's: poly decays over it)."""
    policy, base, gamma = param.lr_policy, param.base_lr, param.gamma
    if policy == "fixed":
        return base
    if policy == "step":
        return base * gamma ** (it // param.stepsize)
    if policy == "exp":
        return base * gamma ** it
    if policy == "inv":
        return base * (1.0 + gamma * it) ** (-param.power)
    if policy == "multistep":
        step = sum(1 for v in param.stepvalue if it >= v)
        return base * gamma ** step
    if policy == "poly":
        return base * (1.0 - it / (param.max_iter if max_iter is None else max_iter)) ** param.power
    if policy == "sigmoid":
        return base * (1.0 / (1.0 + math.exp(-gamma * (it - param.stepsize))))
    raise InqError(f"unknown lr_policy {policy!r}")
