"""Testing as Caffe's Solver::TestAll does it, on nets that share the trained weights."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # annotations only: pycaffe is not imported at load time
    from caffe import Net
    from caffe._caffe import Solver

    from ..caffe_edge.solver_config import SolverConfig


def test_net_outputs(net: Net, iters: int) -> dict[str, float]:
    """Mean of every output blob over `iters` forward passes (scalar outputs; larger
    outputs are averaged over their elements too); {} for no pass."""
    sums: dict[str, float] = {}
    for _ in range(iters):
        out = net.forward()
        for name in net.outputs:
            sums[name] = sums.get(name, 0.0) + float(np.mean(out[name]))
    return {k: v / iters for k, v in sums.items()}


def test_all(solver: Solver, cfg: SolverConfig) -> list[dict[str, float]]:
    """Results of every test net; `share_with` first, since pycaffe's test nets do not
    see the trained weights until Caffe's own test step runs."""
    results = []
    for i, net in enumerate(solver.test_nets):
        net.share_with(solver.net)
        results.append(test_net_outputs(net, cfg.test_iter_of(i)))
    return results


def flatten(results: list[dict[str, float]]) -> dict[str, float]:
    """One dict for reports: net 0's names as they are, later nets prefixed."""
    out = {}
    for i, r in enumerate(results):
        for k, v in r.items():
            out[k if i == 0 else f"test{i}/{k}"] = v
    return out
