"""An INQ campaign: scheduler.quantize_net and freezer.Freezer driven through the phases.

For each accumulated portion p_k: a fresh solver (iteration 0, lr schedule restarted,
momentum zero, as the original's separate runs), the previous phase's final weights,
quantization of the quantizable blobs, a test, training with frozen weights held exact,
a test and a snapshot. State lives in --out so an interrupted campaign resumes.
"""
from __future__ import annotations

import contextlib
import gc
import hashlib
import os
import shutil
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from ..caffe_edge import caffe_io
from ..core import codes, passes
from ..caffe_edge.probe import gpu_usable, try_solver
from ..atomic import remove_stale_temps, scratch_file, written_by_path
from ..datasets.record_shapes import check_record_shapes
from ..caffe_edge.log_format import CaffeLog
from ..errors import InqError
from ..net.freezer import Freezer
from ..net.quantize_net import quantize_net, summary, unfrozen_by_reselection
from ..caffe_edge.solver_config import SolverConfig, caffe_solver_text
from ..options import QuantOptions
from .activations import Activations
from .report_schema import LayerStats, Phase
from .state import (CampaignRecord, Pending, Record, SnapshotState, differing, load_snapshot_state,
                    newest_complete_snapshot, phase_portions, save_snapshot_state, snapshot_files)
from .trainer import check_finite, fast_forward_data, test_and_log, tests_before, train_phase

if TYPE_CHECKING:  # annotations only: pycaffe is not imported at load time
    from caffe import Net
    from caffe._caffe import Solver

DEFAULT_CAMPAIGN = "0.3,0.6,0.8,1.0"  # the original AlexNet one


@dataclass
class PhaseSettings:
    """What any run of phases needs (an INQ campaign, the prune tool's steps): the phase
    list, where to write, how long to train, the starting weights. Subclasses say what a
    phase freezes."""
    campaign: list[str]
    out: str  # the run's folder; no default, so a library run never writes where it was not told
    max_iter: int | None = None  # override of the solver's max_iter
    gpu: int | None = None
    keep_momentum: bool = False  # carry SGD history across phases (the original resets it)
    weights: str | None = None  # None: start from the net's fillers
    inputs: dict = field(default_factory=dict)  # sha256 of the solver, net and weights files (inputs_of)

    final_name: ClassVar[str]  # the final model's file name in --out, given by each kind of run

    def record(self) -> dict:
        """The settings that shape the results (resume refuses a change)."""
        return {"max_iter": self.max_iter, **self.inputs, **self.own_record()}

    def own_record(self) -> dict:
        """The subclass's own settings."""
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def phases(self) -> list[str]:
        """The portion of each phase."""
        return self.campaign

    def iters(self, cfg: SolverConfig, k: int) -> int:
        """Iterations of phase k."""
        return self.max_iter if self.max_iter is not None else cfg.max_iter

    def freeze(self, net: Net, k: int, prev: dict | None, log: CaffeLog) -> dict:
        """Phase k's frozen blobs (FrozenBlob by key), given the previous phase's."""
        raise NotImplementedError

    def unfrozen(self, prev: dict | None, blobs: dict) -> int | None:
        """How many weights frozen in the previous phase are free in this one (None: the
        settings never unfreeze)."""
        return None


@dataclass
class Settings(PhaseSettings):
    """An INQ campaign: phase k quantizes and freezes the k-th accumulated portion."""
    options: QuantOptions = field(default_factory=QuantOptions)
    final_iters: int = 1

    final_name = "final_inq.caffemodel"

    def own_record(self) -> dict:
        return {"campaign": self.campaign, "keep_momentum": self.keep_momentum, "final_iters": self.final_iters,
                **self.options.record()}

    def describe(self) -> str:
        return f"INQ campaign {','.join(self.campaign)} ({self.options.describe()})"

    def phases(self) -> list[str]:
        """The campaign's portions, and with --act-from end one phase more at portion 1."""
        return phase_portions(self.record())

    def iters(self, cfg: SolverConfig, k: int) -> int:
        """The last phase only finishes the quantization (as the original: 1 iteration by
        default)."""
        return self.final_iters if k == len(self.campaign) - 1 else super().iters(cfg, k)

    def freeze(self, net: Net, k: int, prev: dict | None, log: CaffeLog) -> dict:
        """quantize_net at the k-th accumulated portion."""
        blobs = quantize_net(net, self.phases()[k], self.options, prev)
        for b in blobs.values():
            if b.n1 is None:
                log(f"warning: layer {b.layer!r}: all weights are zero, counted as quantized")
        log(f"Phase {k + 1}/{len(self.phases())}: quantized portion {self.phases()[k]} "
            f"(frozen {summary(blobs)['frozen_fraction']:.4f})")
        return blobs

    def unfrozen(self, prev: dict | None, blobs: dict) -> int | None:
        """The reference rule re-selects each phase and can free earlier frozen weights."""
        return unfrozen_by_reselection(prev, blobs) if self.options.rule == "reference" and prev else None


def inputs_of(cfg: SolverConfig, weights: str | None) -> dict:
    """What a resume must find unchanged besides the options: the solver file, the net files
    it names and the starting weights, by content."""
    from ..atomic import sha256_file
    from ..files import read_regular
    net = hashlib.sha256()
    for path in filter(None, [cfg.net_path, *cfg.param.test_net]):
        net.update(read_regular(path, "net prototxt"))
    return {"solver_sha256": sha256_file(cfg.path), "net_sha256": net.hexdigest(),
            "weights_sha256": sha256_file(weights) if weights else None}


def _net_shapes(solver: Solver) -> dict[str, list[tuple]]:
    """Every layer of the train net with its blob shapes ([] for a layer without any)."""
    net = solver.net
    return {name: [tuple(b.data.shape) for b in layer.blobs] for name, layer in net.layer_dict.items()}


def load_weights(solver: Solver, path: str) -> list[str]:
    """Validate with caffe_pb2, then let Caffe copy (it would abort on a mismatch).
    Returns the net's parameter layers that the file lacks (they keep their fillers)."""
    model = caffe_io.read_caffemodel(path)
    shapes = _net_shapes(solver)
    caffe_io.check_weights_fit(path, model, shapes)
    arrays = caffe_io.model_arrays(model)
    for name, arrs in arrays.items():
        for i, a in enumerate(arrs):
            if not np.isfinite(a).all():
                raise InqError(f"{path}: layer {name!r} blob {i} contains NaN or Inf")
    solver.net.copy_from(path)
    return [name for name, blobs in shapes.items() if blobs and name not in arrays]


def _histories(p) -> int:
    """How many copies of the parameters Caffe's solver of SolverParameter `p` keeps in its
    solverstate: two for Adam and AdaDelta, one for the others."""
    if p.HasField("solver_type"):  # the old enum (load_solver refuses it beside `type`)
        return 2 if p.solver_type in (p.ADADELTA, p.ADAM) else 1
    return 2 if p.type in ("Adam", "AdaDelta") else 1


class Campaign:
    """The phases of one campaign in an --out folder. Each phase is three steps: begin
    (resume from a snapshot, or load the weights and quantize), train, finish (test, check,
    snapshot, record)."""

    def __init__(self, cfg: SolverConfig, s: PhaseSettings, log: CaffeLog):
        import caffe  # the only Caffe import of the campaign
        self.caffe, self.cfg, self.s, self.log = caffe, cfg, s, log
        self.out = os.path.abspath(s.out)
        self.record = CampaignRecord(os.path.join(self.out, "campaign.json"),
                                     Record(s.record(), init_from_fillers=s.weights is None))
        for path in filter(None, [cfg.net_path, *cfg.param.test_net]):
            net = caffe_io.read_net(path)
            caffe_io.check_net_for_caffe(path, net, list(caffe.layer_type_list()))
            check_record_shapes(path, net)
        opts = getattr(s, "options", None)
        self.act = (Activations(cfg, self.out, opts, len(s.phases()))
                    if opts is not None and opts.act_bits is not None else None)

    def _cfg(self, k: int) -> SolverConfig:
        """The solver of phase k: with quantized activations from then on, the rewritten net."""
        return self.act.cfg if self.act is not None and self.act.active(k) else self.cfg

    # -- solver handling ------------------------------------------------------------
    def _choose_device(self) -> None:
        """--gpu, else the solver's solver_mode (pycaffe ignores it). A CPU-only Caffe
        aborts on any GPU call, so GPU use is probed in a child process first. Once per
        campaign: the mode holds for every solver built afterwards."""
        device = self.s.gpu if self.s.gpu is not None else (self.cfg.param.device_id if self.cfg.gpu else None)
        if device is not None and not gpu_usable(device):
            if self.s.gpu is not None:
                raise InqError(f"--gpu {device}: this Caffe cannot use GPU {device} (CPU-only build?)")
            self.log(f"warning: {self.cfg.path} asks for solver_mode GPU but this Caffe has no "
                     f"usable GPU; running on the CPU")
            device = None  # the solver's solver_mode stays: pycaffe's Solver never reads it
        if device is not None:
            self.caffe.set_device(device)
            self.caffe.set_mode_gpu()
        else:
            self.caffe.set_mode_cpu()
        self.device = device

    def _clean_up_after_a_killed_run(self) -> None:
        """What a killed run of ours left (the --out lock is ours now): its scratch folder,
        and the temp files of writes it did not finish (named for a process that is gone).
        Nothing else is touched."""
        shutil.rmtree(self._scratch(), ignore_errors=True)
        for folder in [self.out] + [self._phase_dir(k) for k in range(len(self.s.phases()))]:
            if os.path.isdir(folder):
                remove_stale_temps(folder)

    def _scratch(self) -> str:
        """The private folder of the solver files Caffe reads only by path."""
        return os.path.join(self.out, ".inq_scratch")

    def _scratch_file(self, suffix: str, data: bytes):
        """scratch_file in the private folder (made when missing)."""
        os.makedirs(self._scratch(), exist_ok=True)
        return scratch_file(self._scratch(), suffix, data)

    def _try_in_child(self) -> None:
        """Build the first phase's solver in a child process: what Caffe would abort on
        becomes one error line before any phase runs."""
        os.makedirs(self._phase_dir(0), exist_ok=True)
        text = caffe_solver_text(self._cfg(0), os.path.join(self._phase_dir(0), "inq"), self.s.iters(self.cfg, 0))
        with self._scratch_file(".prototxt", text.encode()) as path:
            try_solver(path, self.cfg.path, self.device)

    def _phase_dir(self, k: int) -> str:
        return os.path.join(self.out, f"phase{k + 1}")

    def _new_solver(self, k: int):
        os.makedirs(self._phase_dir(k), exist_ok=True)
        text = caffe_solver_text(self._cfg(k), os.path.join(self._phase_dir(k), "inq"), self.s.iters(self.cfg, k))
        with self._scratch_file(".prototxt", text.encode()) as path:
            return self.caffe.get_solver(path)

    def _check_space(self, solver, folder: str, blobs: dict | None = None) -> None:
        """Caffe's own writers abort on a full disk (and may leave a cut file): refuse
        before one starts when the folder cannot hold what it writes. The final model: a
        caffemodel. A snapshot (`blobs`, its frozen blobs) adds a solverstate, which holds
        every parameter once per history its solver type keeps, and the INQ state (codes
        and pruning masks, at most their bytes once compressed). 1 MiB more for framing."""
        floats = sum(b.data.size for params in solver.net.params.values() for b in params)
        need = 4 * floats + (1 << 20)
        if blobs is not None:
            need += 4 * floats * _histories(self.cfg.param) + sum(
                b.codes.nbytes + (0 if b.pruned is None else b.pruned.nbytes) for b in blobs.values())
        free = shutil.disk_usage(folder).free
        if free < need:
            what = "a snapshot" if blobs is not None else "the final model"
            raise InqError(f"{folder}: no space left on device for {what} ({free:,} bytes free, about "
                           f"{need:,} needed); free space, then rerun with --resume (earlier snapshots are intact)")

    def _snapshot(self, solver, k: int, blobs: dict) -> str:
        self._check_space(solver, self._phase_dir(k), blobs)
        solver.snapshot()
        base = os.path.join(self._phase_dir(k), f"inq_iter_{solver.iter}")
        model, sstate = base + ".caffemodel", base + ".solverstate"
        state_path = base + ".inqstate.npz"
        state = SnapshotState(k, solver.iter, list(blobs.values()), settings=self.s.record(),
                              seconds=time.time() - self._t0)
        save_snapshot_state(state_path, state, model, sstate)
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
        with self._scratch_file(".solverstate", st.SerializeToString()) as tmp:
            solver.restore(tmp)

    def _final_here(self) -> None:
        """A finished record's final model is the one in this --out (the folder may have been
        moved or copied since it was written). When that file is gone, the last phase ends
        again from its end snapshot: no training, its test and the save."""
        rec = self.record.data
        if rec.final_model is None:
            return
        rec.final_model = os.path.join(self.out, self.s.final_name)
        if os.path.lexists(rec.final_model):
            return
        self.log(f"warning: {rec.final_model} is missing; the last phase ends again from its snapshot")
        last = rec.phases.pop()
        rec.final_model = None
        rec.pending = Pending(last.test_after_quantize, last.unfrozen_by_reselection)

    # -- the campaign ---------------------------------------------------------------
    def run(self, resume: bool) -> Record:
        s, log = self.s, self.log
        old = CampaignRecord.load(self.record.path)
        if old is not None:
            if not resume:
                raise InqError(f"{self.out} already holds a campaign; use --resume to continue "
                               f"it or choose another --out")
            old.check_same(s.record())
            self.record = old
            self._final_here()
        log(f"Solving {s.describe()} into {self.out}")
        if codes.KERNEL != "compiled":
            log(f"warning: {codes.LIBRARY} is not built (make setup): frozen weights are "
                f"written back with numpy, same results but a few percent slower on small nets")
        if passes.KERNEL != "compiled":
            log(f"warning: {passes.LIBRARY} is not built (make setup): blobs are quantized with numpy, "
                f"same results, about 6 times slower at each phase boundary")
        self._choose_device()
        self._clean_up_after_a_killed_run()
        if self.act is not None:
            self.act.write(self.record.data.activations)
        self._try_in_child()
        if not any(self.cfg.test_iters()):  # none, or all at 0 or below
            log(f"warning: {self.cfg.path} has no test_iter above 0: no tests will run, the report has "
                f"no accuracy")
        for k in range(len(self.record.data.phases), len(s.phases())):
            if self.act is not None and self.act.active(k) and self.record.data.activations is None:
                self._calibrate(k)
            solver = self._new_solver(k)
            try:
                blobs, pending = self._begin(solver, k)
                self._train(solver, k, blobs)
                self._finish(solver, k, blobs, pending)
            finally:
                del solver  # before the next phase's solver opens the same LMDB
                gc.collect()
        return self.record.data

    def _calibrate(self, k: int) -> None:
        """Each quantizer's f, from the weights phase k starts from, before its solver opens
        the training data."""
        rec = self.record.data
        weights = self.s.weights if k == 0 else snapshot_files(os.path.join(self.out, rec.phases[k - 1].final_state))[0]
        t = time.time()
        rec.activations = self.act.calibrate(self.caffe, weights)
        self.record.save()
        o = self.act.options
        self.log(f"Calibrated {len(rec.activations)} activation quantizers ({o.act_bits} bits, {o.act_calibration} "
                 f"rule, {o.act_calibration_batches} batches, {time.time() - t:.1f} s): "
                 + ", ".join(f"{n} f={q['f']}{' signed' if q['signed'] else ''}" for n, q in rec.activations.items()))

    def _begin(self, solver, k: int) -> tuple[dict, Pending]:
        """Resume phase k from its newest complete snapshot, or start it: the previous
        phase's weights (or the float model), quantization, a test. Starts the phase's
        clock, which a resumed phase sets back by the time its snapshot had counted."""
        self._t0 = time.time()
        snap = newest_complete_snapshot(self._phase_dir(k), lambda p, why: self.log(
            f"warning: skipping snapshot {p}: {why}; resuming from an older one"))
        if snap is not None:
            state_path, st = snap
            mine = self.s.record()
            if st.settings and st.settings != mine:
                other = ", ".join(f"{k} = {st.settings.get(k)!r}, not {mine.get(k)!r}"
                                  for k in differing(st.settings, mine))
                raise InqError(f"{state_path}: written by a campaign with other settings ({other}); "
                               f"use another --out")
            self._restore(solver, state_path)
            self._fast_forward(solver, k)
            self.log(f"Resuming phase {k + 1} from {state_path} (iteration {solver.iter})")
            self._t0 -= st.seconds
            return st.by_key(), self.record.data.pending or Pending({})
        return self._start(solver, k)

    def _fast_forward(self, solver, k: int) -> None:
        """Put the data layers where the interrupted run had them: the train net past
        iter * iter_size batches, each test net past the test passes of this phase so far
        (the float test of phase 1, the test after quantizing, the interval tests)."""
        t = time.time()
        train = solver.iter * max(1, self.cfg.param.iter_size)
        passes = (2 if k == 0 else 1) + tests_before(self.cfg, solver.iter)
        fast_forward_data(solver.net, train)
        for i, net in enumerate(solver.test_nets):
            fast_forward_data(net, passes * self.cfg.test_iter_of(i))
        self.log(f"Fast-forwarded the data layers by {train} training batches and {passes} test passes "
                 f"({time.time() - t:.1f} s)")

    def _start(self, solver, k: int) -> tuple[dict, Pending]:
        s, rec = self.s, self.record.data
        prev, prev_path = None, None
        if k == 0:
            if s.weights:
                missing = load_weights(solver, s.weights)
                if missing:
                    self.log(f"warning: {s.weights} has no weights for layer(s) {', '.join(missing)}: they keep "
                             f"the values of their fillers")
            if rec.test_float is None:
                quantizers = self.act.passing(solver.test_nets) if self.act is not None else contextlib.nullcontext()
                with quantizers:  # the float model: float weights, float activations
                    rec.test_float = test_and_log(solver, self.cfg, self.log, 0)
            else:  # measured by an interrupted run: skip its batches, as that run did
                for i, net in enumerate(solver.test_nets):
                    fast_forward_data(net, self.cfg.test_iter_of(i))
        else:
            prev_path = os.path.join(self.out, rec.phases[k - 1].final_state)
            prev = load_snapshot_state(prev_path).by_key()
            load_weights(solver, snapshot_files(prev_path)[0])
        blobs = s.freeze(solver.net, k, prev, self.log)
        if prev_path is not None and s.keep_momentum:
            self._restore(solver, prev_path, history_only=True)
        pending = Pending(test_and_log(solver, self.cfg, self.log, 0), s.unfrozen(prev, blobs))
        rec.pending = pending
        self.record.save()
        return blobs, pending

    def _train(self, solver, k: int, blobs: dict) -> None:
        train_phase(solver, self.cfg, Freezer(blobs), self.s.iters(self.cfg, k), self.log,
                    lambda it: self._snapshot(solver, k, blobs),
                    label=f"phase {k + 1}/{len(self.s.phases())}")

    def _finish(self, solver, k: int, blobs: dict, pending: Pending) -> None:
        """Test, check that no frozen weight moved, snapshot, record; after the last
        phase, the final model."""
        rec = self.record.data
        check_finite(solver, self.cfg)
        act = self.act is not None and self.act.active(k)
        for net in solver.test_nets if act else []:
            self.act.reset_counts(net)
        after = test_and_log(solver, self.cfg, self.log, solver.iter)
        saturated = self.act.saturated(solver.test_nets) if act else None
        if Freezer(blobs).violations(solver.net.params):
            raise InqError("internal error: frozen weights moved")  # never expected
        state_path = self._snapshot(solver, k, blobs)
        summ = summary(blobs)
        rec.phases.append(Phase(
            portion=float(self.s.phases()[k]), frozen_fraction=summ["frozen_fraction"],
            layers={n: LayerStats.parse(c, f"layer {n!r}") for n, c in summ["layers"].items()},
            test_after_quantize=pending.test_after_quantize, test_after_training=after,
            iterations=self.s.iters(self.cfg, k), seconds=round(time.time() - self._t0, 3),
            final_state=os.path.relpath(state_path, self.out),
            unfrozen_by_reselection=pending.unfrozen_by_reselection, saturated=saturated))
        if k == len(self.s.phases()) - 1:
            final = os.path.join(self.out, self.s.final_name)
            self._check_space(solver, self.out)
            with written_by_path(final) as tmp:
                solver.net.save(tmp)
            rec.final_model = final
            if self.act is not None:
                self.act.write_deploy(solver.test_nets[0] if solver.test_nets else solver.net)
        rec.pending = None
        self.record.save()
