"""An INQ campaign: the scheduler half of INQ (which weights to freeze when).

For each accumulated portion p_k: a fresh solver (iteration 0, lr schedule restarted,
momentum zero, as the original's separate runs), the previous phase's final weights,
quantization of the quantizable blobs, a test, training with frozen weights held exact,
a test and a snapshot. State lives in --out so an interrupted campaign resumes.
"""
from __future__ import annotations

import gc
import os
import subprocess
import sys
import time
from dataclasses import dataclass

import numpy as np

from . import caffe_io, writeback
from .atomic import scratch_file
from .caffe_log import CaffeLog
from .errors import InqError
from .freezer import Freezer
from .scheduler import quantize_net, summary, unfrozen_by_reselection
from .solver_config import SolverConfig, caffe_solver_text
from .state import (CampaignRecord, SnapshotState, load_snapshot_state,
                    newest_complete_snapshot, save_snapshot_state, snapshot_files)
from .trainer import loss_weights, test_and_log, train_phase

DEFAULT_CAMPAIGN = "0.3,0.6,0.8,1.0"  # the original AlexNet one


@dataclass
class Settings:
    campaign: list[str]
    bits: int = 5
    rule: str = "paper"
    strategy: str = "magnitude"
    seed: int | None = None
    quantize: str = "default"
    out: str = "inq_out"
    max_iter: int | None = None  # override of the solver's max_iter (phases before the last)
    final_iters: int = 1
    gpu: int | None = None
    keep_momentum: bool = False  # carry SGD history across phases (the original resets it)
    n1_rule: str = "max"  # max (the paper's) or mse (least squared error, chosen once)
    keep_zeros: bool = False  # weights 0 in the starting model stay 0 (INQ after pruning)
    weights: str | None = None  # None: start from the net's fillers

    def record(self) -> dict:
        """The settings that shape the campaign's results (resume refuses a change)."""
        return {"campaign": self.campaign, "bits": self.bits, "rule": self.rule,
                "strategy": self.strategy, "seed": self.seed, "quantize": self.quantize,
                "keep_momentum": self.keep_momentum, "n1_rule": self.n1_rule,
                "keep_zeros": self.keep_zeros}


def phase_iters(s: Settings, cfg: SolverConfig, k: int) -> int:
    if k == len(s.campaign) - 1:
        return s.final_iters
    return s.max_iter if s.max_iter is not None else cfg.max_iter


def _net_shapes(solver) -> dict[str, list[tuple]]:
    return {name: [tuple(b.data.shape) for b in blobs] for name, blobs in solver.net.params.items()}


def load_weights(solver, path: str) -> None:
    """Validate with caffe_pb2, then let Caffe copy (it would abort on a mismatch)."""
    model = caffe_io.read_caffemodel(path)
    caffe_io.check_weights_fit(path, model, _net_shapes(solver))
    for name, arrays in caffe_io.model_arrays(model).items():
        for i, a in enumerate(arrays):
            if not np.isfinite(a).all():
                raise InqError(f"{path}: layer {name!r} blob {i} contains NaN or Inf")
    solver.net.copy_from(path)


_GPU_PROBE: dict[int, bool] = {}


def gpu_usable(device: int) -> bool:
    if device not in _GPU_PROBE:
        code = f"import caffe; caffe.set_device({int(device)}); caffe.set_mode_gpu(); caffe.Net"
        r = subprocess.run([sys.executable, "-c", code], capture_output=True)
        _GPU_PROBE[device] = r.returncode == 0
    return _GPU_PROBE[device]


class Campaign:
    def __init__(self, cfg: SolverConfig, s: Settings, log: CaffeLog):
        import caffe  # the only Caffe import of the campaign
        self.caffe, self.cfg, self.s, self.log = caffe, cfg, s, log
        self.out = os.path.abspath(s.out)
        self.record = CampaignRecord(os.path.join(self.out, "campaign.json"),
                                     {"settings": s.record(), "test_float": None, "phases": [],
                                      "init_from_fillers": s.weights is None})
        self.weights_of_loss = {}
        for path in filter(None, [cfg.net_path, *cfg.param.test_net]):
            net = caffe_io.read_net(path)
            caffe_io.check_net_for_caffe(path, net, list(caffe.layer_type_list()))
            if path == cfg.net_path:
                self.weights_of_loss = loss_weights(net)

    # -- solver handling ------------------------------------------------------------
    def _set_mode(self) -> None:
        """--gpu, else the solver's solver_mode (pycaffe ignores it). A CPU-only Caffe
        aborts on any GPU call, so GPU use is probed in a child process first."""
        device = self.s.gpu if self.s.gpu is not None else (self.cfg.param.device_id if self.cfg.gpu else None)
        if device is not None and not gpu_usable(device):
            if self.s.gpu is not None:
                raise InqError(f"--gpu {device}: this Caffe cannot use GPU {device} (CPU-only build?)")
            self.log(f"warning: {self.cfg.path} asks for solver_mode GPU but this Caffe has no "
                     f"usable GPU; running on the CPU")
            device = None
            self.cfg.param.solver_mode = 0
        if device is not None:
            self.caffe.set_device(device)
            self.caffe.set_mode_gpu()
        else:
            self.caffe.set_mode_cpu()

    def _new_solver(self, k: int):
        phase_dir = os.path.join(self.out, f"phase{k + 1}")
        os.makedirs(phase_dir, exist_ok=True)
        text = caffe_solver_text(self.cfg, os.path.join(phase_dir, "inq"), phase_iters(self.s, self.cfg, k))
        with scratch_file(phase_dir, ".prototxt", text.encode()) as path:
            self._set_mode()
            return self.caffe.get_solver(path)

    # -- quantization ---------------------------------------------------------------
    def _quantize(self, solver, k: int, prev: dict | None) -> dict:
        s = self.s
        blobs = quantize_net(solver.net, s.campaign[k], s.bits, prev=prev, rule=s.rule,
                             strategy=s.strategy, seed=s.seed, quantize=s.quantize,
                             n1_rule=s.n1_rule, keep_zeros=s.keep_zeros)
        for b in blobs.values():
            if b.n1 is None:
                self.log(f"warning: layer {b.layer!r}: all weights are zero, counted as quantized")
        return blobs

    def _snapshot(self, solver, k: int, blobs: dict) -> str:
        solver.snapshot()
        base = os.path.join(self.out, f"phase{k + 1}", f"inq_iter_{solver.iter}")
        model, sstate = base + ".caffemodel", base + ".solverstate"
        state_path = base + ".inqstate.npz"
        save_snapshot_state(state_path, SnapshotState(k, solver.iter, list(blobs.values()), settings=self.s.record()),
                            model, sstate)
        self.log(f"Snapshotting to {model} (+ .solverstate, .inqstate.npz)")
        return state_path

    def _restore(self, solver, state_path: str, history_only: bool = False) -> None:
        """Resume from a snapshot; with history_only, take only its momentum history
        (iteration and lr schedule stay at 0, weights stay as they are)."""
        model, sstate = snapshot_files(state_path)
        if not history_only:
            load_weights(solver, model)
        # The solverstate names its caffemodel by the path at writing time; point it here.
        st = caffe_io.read_binary_proto(sstate, caffe_io.pb2().SolverState(), "solverstate")
        if history_only:
            st.ClearField("learned_net")
            st.iter, st.current_step = 0, 0
        else:
            st.learned_net = model
        with scratch_file(os.path.dirname(state_path), ".solverstate", st.SerializeToString()) as tmp:
            solver.restore(tmp)

    # -- the campaign ---------------------------------------------------------------
    def run(self, resume: bool) -> dict:
        s, log = self.s, self.log
        old = CampaignRecord.load(self.record.path)
        if old is not None:
            if not resume:
                raise InqError(f"{self.out} already holds a campaign; use --resume to continue "
                               f"it or choose another --out")
            old.check_same(s.record())
            self.record = old
        log("Solving INQ campaign " + ",".join(s.campaign) + f" ({s.bits} bits, {s.rule} rule, "
            f"{s.strategy} partition) into {self.out}")
        if writeback.KERNEL != "compiled":
            log(f"warning: {writeback.LIBRARY} is not built (make setup): frozen weights are "
                f"written back with numpy, same results but a few percent slower on small nets")
        for k in range(len(self.record.data["phases"]), len(s.campaign)):
            self._run_phase(k)
            gc.collect()
        return self.record.data

    def _run_phase(self, k: int) -> None:
        s, log, rec = self.s, self.log, self.record.data
        iters = phase_iters(s, self.cfg, k)
        t0 = time.time()
        solver = self._new_solver(k)
        try:
            snap = newest_complete_snapshot(os.path.join(self.out, f"phase{k + 1}"))
            if snap is not None:
                state_path, st = snap
                if st.settings and st.settings != s.record():
                    raise InqError(f"{state_path}: written by a campaign with other settings "
                                   f"({st.settings}); use another --out")
                self._restore(solver, state_path)
                blobs = st.by_key()
                log(f"Resuming phase {k + 1} from {state_path} (iteration {solver.iter})")
                after_q = rec.get("pending", {}).get("test_after_quantize", {})
                extra = rec.get("pending", {}).get("extra", {})
            else:
                prev = None
                if k == 0:
                    if s.weights:
                        load_weights(solver, s.weights)
                    if rec["test_float"] is None:
                        rec["test_float"] = test_and_log(solver, self.cfg, log, 0)
                else:
                    prev_state = rec["phases"][k - 1]["final_state"]
                    pst = load_snapshot_state(os.path.join(self.out, prev_state))
                    load_weights(solver, snapshot_files(os.path.join(self.out, prev_state))[0])
                    prev = pst.by_key()
                blobs = self._quantize(solver, k, prev)
                if k > 0 and s.keep_momentum:
                    self._restore(solver, os.path.join(self.out, prev_state), history_only=True)
                extra = self._rule_difference(prev, blobs)
                log(f"Phase {k + 1}/{len(s.campaign)}: quantized portion {s.campaign[k]} "
                    f"(frozen {summary(blobs)['frozen_fraction']:.4f})")
                after_q = test_and_log(solver, self.cfg, log, 0)
                rec["pending"] = {"test_after_quantize": after_q, "extra": extra}
                self.record.save()
            freezer = Freezer(blobs)
            train_phase(solver, self.cfg, freezer, iters, log,
                        lambda it: self._snapshot(solver, k, blobs), self.weights_of_loss,
                        label=f"phase {k + 1}/{len(s.campaign)}")
            after_t = test_and_log(solver, self.cfg, log, solver.iter)
            if freezer.violations(solver.net.params):
                raise InqError("internal error: frozen weights moved")  # never expected
            state_path = self._snapshot(solver, k, blobs)
            phase = {"portion": float(s.campaign[k]), **summary(blobs),
                     "test_after_quantize": after_q, "test_after_training": after_t,
                     "iterations": iters, "seconds": round(time.time() - t0, 3),
                     "final_state": os.path.relpath(state_path, self.out), **extra}
            if k == len(s.campaign) - 1:
                final = os.path.join(self.out, "final_inq.caffemodel")
                tmp = final + ".tmp"
                solver.net.save(tmp)
                os.replace(tmp, final)
                rec["final_model"] = final
            rec["phases"].append(phase)
            rec.pop("pending", None)
            self.record.save()
        finally:
            del solver
            gc.collect()

    def _rule_difference(self, prev: dict | None, blobs: dict) -> dict:
        """Reference rule: how many weights the paper rule would treat differently (frozen
        before but re-selected as float now: the original's masks are not monotonic)."""
        if self.s.rule != "reference" or prev is None:
            return {}
        return {"unfrozen_by_reselection": unfrozen_by_reselection(prev, blobs)}
