"""One phase of training on a pycaffe solver with frozen weights held exact.

The loop steps Caffe in blocks of iterations (the freezer writes the frozen values back
before every iteration's forward pass, from Caffe's on_start callback), then displays,
tests and snapshots at the solver's intervals in Caffe's order and log format (Caffe's own
display/test/snapshot are switched off in the solver it runs).
"""
from __future__ import annotations

import sys
import time
from typing import Callable, TYPE_CHECKING

import numpy as np

from ..caffe_edge.log_format import CaffeLog
from ..errors import InqError
from ..net.user_layers import naming_user_layers
from .evaluate import flatten, test_all
from ..net.freezer import Freezer
from ..caffe_edge.solver_config import SolverConfig, lr_at

if TYPE_CHECKING:  # annotations only: pycaffe is not imported at load time
    from caffe import Net
    from caffe._caffe import Solver


def test_and_log(solver: Solver, cfg: SolverConfig, log: CaffeLog, it: int) -> dict[str, float]:
    """Run every test net, log it as Caffe does at iteration `it`, return the results
    as one dict (evaluate.flatten)."""
    with naming_user_layers(lambda: [solver.net, *solver.test_nets], lambda: f"at iteration {it}"):
        results = test_all(solver, cfg)
    for i, r in enumerate(results):
        log.test(it, i, r)
    return flatten(results)


def train_outputs(net: Net) -> dict[str, float]:
    return {name: float(np.mean(net.blobs[name].data)) for name in net.outputs}


def fast_forward_data(net: Net, batches: int) -> int:
    """Advance a net's data layers by `batches` forward passes of those layers alone (the
    leading layers without bottoms): a restored solver's data layers start again at the
    first record, where the interrupted run had read further. Returns the layers run."""
    names = list(net.layer_dict)
    lead = 0
    while lead < len(names) and not net.bottom_names[names[lead]]:
        lead += 1
    if lead and batches > 0:
        for _ in range(batches):
            net.forward(start=names[0], end=names[lead - 1])
    return lead


def tests_before(cfg: SolverConfig, it: int) -> int:
    """Test passes the training loop ran before iteration `it` of a phase (at every
    test_interval above 0, at the start of that iteration)."""
    ti = cfg.param.test_interval
    return (it - 1) // ti if ti and it > 0 else 0


def check_finite(solver: Solver, cfg: SolverConfig) -> None:
    """Diverged weights (NaN or Inf) must never reach a snapshot: the last update can blow
    them up after the last forward pass looked fine."""
    for name, blobs in solver.net.params.items():
        for b in blobs:
            if not np.isfinite(b.data).all():
                raise InqError(f"training diverged at iteration {solver.iter - 1} (loss nan; layer {name!r} holds "
                               f"NaN or Inf); lower base_lr in {cfg.path} (the snapshots before it are kept)")


def _next_stop(p, it: int, iters: int) -> int:
    """Where the current block of iterations must end: before a test (tests run at the
    start of an iteration), after a display iteration, at a snapshot, at the end."""
    stops = [iters]
    if p.test_interval:
        stops.append((it // p.test_interval + 1) * p.test_interval)
    if p.display:
        stops.append(-(-it // p.display) * p.display + 1)
    if p.snapshot:
        stops.append((it // p.snapshot + 1) * p.snapshot)
    return min(stops)


def train_phase(solver: Solver, cfg: SolverConfig, freezer: Freezer, iters: int, log: CaffeLog,
                snapshot: Callable[[int], None], label: str = "") -> None:
    """Run `solver` from its current iteration up to `iters`, in blocks between the
    display, test and snapshot iterations; the frozen weights are written back before
    every iteration's forward pass by the freezer's callback."""
    p = cfg.param
    if not freezer.attached_to(solver):
        freezer.attach(solver)
    params = solver.net.params
    weights_of_loss = dict(solver.net.blob_loss_weights)  # Caffe's own: 1 for a *Loss top, else loss_weight
    bar = None
    if sys.stderr.isatty():
        try:
            from tqdm import tqdm
            bar = tqdm(total=iters, initial=solver.iter, desc=label, unit="it", leave=False)
        except ImportError:
            pass
    t0, done = time.perf_counter(), 0
    while solver.iter < iters:
        it = solver.iter
        if p.test_interval and it % p.test_interval == 0 and it > 0:
            test_and_log(solver, cfg, log, it)
        stop = _next_stop(p, it, iters)
        with naming_user_layers(lambda: [solver.net, *solver.test_nets],
                                lambda: f"at iteration {solver.iter}; the snapshots before it are kept"):
            solver.step(stop - it)
        freezer.restore(params)  # undo the block's last update on frozen weights
        done += stop - it
        last = stop - 1
        outs = train_outputs(solver.net)
        loss = sum(v * weights_of_loss.get(k, 0.0) for k, v in outs.items())
        if not np.isfinite(loss):  # NaN or Inf stays: stop before a snapshot keeps it
            raise InqError(f"training diverged at iteration {last} (loss {loss}); lower base_lr in "
                           f"{cfg.path} (the snapshots before it are kept)")
        if p.display and last % p.display == 0:
            rate = done / max(time.perf_counter() - t0, 1e-9)
            log.iteration(last, loss, outs, lr_at(p, last, iters), rate)
        if bar is not None:
            bar.update(stop - it)
        if p.snapshot and solver.iter % p.snapshot == 0 and solver.iter < iters:
            check_finite(solver, cfg)
            snapshot(solver.iter)
    if bar is not None:
        bar.close()
