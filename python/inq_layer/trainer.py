"""One phase of training on a pycaffe solver with frozen weights held exact.

The loop steps Caffe one iteration at a time and writes the frozen values back after each
update, then displays, tests and snapshots at the solver's intervals in Caffe's order and
log format (Caffe's own display/test/snapshot are switched off in the solver it runs).
"""
from __future__ import annotations

import sys
import time
from typing import Callable

import numpy as np

from .caffe_log import CaffeLog
from .evaluate import flatten, test_all
from .freezer import Freezer
from .solver_config import SolverConfig, lr_at


def loss_weights(net_param) -> dict[str, float]:
    """{top name: loss weight} for the train net's loss outputs (Caffe's defaults: 1 for
    *Loss layers' first top, else the explicit loss_weight)."""
    out = {}
    for layer in list(net_param.layer):
        tops = list(layer.top)
        weights = list(layer.loss_weight)
        if not weights and str(layer.type).endswith("Loss") and tops:
            weights = [1.0]
        for t, w in zip(tops, weights):
            if w:
                out[t] = float(w)
    return out


def test_and_log(solver, cfg: SolverConfig, log: CaffeLog, it: int) -> dict[str, float]:
    """Run every test net, log it as Caffe does at iteration `it`, return the results
    as one dict (evaluate.flatten)."""
    results = test_all(solver, cfg.test_iters())
    for i, r in enumerate(results):
        log.test(it, i, r)
    return flatten(results)


def train_outputs(net) -> dict[str, float]:
    return {name: float(np.mean(net.blobs[name].data)) for name in net.outputs}


def train_phase(solver, cfg: SolverConfig, freezer: Freezer, iters: int, log: CaffeLog,
                snapshot: Callable[[int], None], weights_of_loss: dict[str, float],
                label: str = "") -> None:
    """Run `solver` from its current iteration up to `iters`."""
    p = cfg.param
    bar = None
    if sys.stderr.isatty():
        try:
            from tqdm import tqdm
            bar = tqdm(total=iters, initial=solver.iter, desc=label, unit="it", leave=False)
        except ImportError:
            pass
    freezer.restore(solver.net.params)
    t0, done = time.perf_counter(), 0
    while solver.iter < iters:
        it = solver.iter
        if p.test_interval and it % p.test_interval == 0 and it > 0:
            test_and_log(solver, cfg, log, it)
        solver.step(1)
        freezer.restore(solver.net.params)
        done += 1
        if p.display and it % p.display == 0:
            outs = train_outputs(solver.net)
            loss = sum(v * weights_of_loss.get(k, 0.0) for k, v in outs.items())
            rate = done / max(time.perf_counter() - t0, 1e-9)
            log.iteration(it, loss, outs, lr_at(p, it), rate)
        if bar is not None:
            bar.update(1)
        if p.snapshot and solver.iter % p.snapshot == 0 and solver.iter < iters:
            snapshot(solver.iter)
    if bar is not None:
        bar.close()
