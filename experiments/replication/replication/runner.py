"""Runs the plan: float models (`caffe train`), prunings (inq_layer.tools.prune) and campaigns
(solver_driver.py), each once per seed, and collects what each finished run measured
into docs/replication/ once. Interrupted runs continue where they stopped."""
from __future__ import annotations

import contextlib
import fcntl
import glob
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator

from .layout import (OUT, RESULTS, ROOT, driver_command, float_path, float_prefix, prune_command, prune_seed,
                     pruned_path, prototxt, rel, run_dir, solver_path)
from .plan import NETS, PRUNES, REGIMES, ROWS, SEEDS, INQ_SOLVER

PY = sys.executable
ENV = dict(os.environ, OPENBLAS_NUM_THREADS="1", GLOG_minloglevel="1")



@contextlib.contextmanager
def built_once(name: str) -> Iterator[None]:
    """Held while a float model or a pruning is made: another thread or another replicate
    process that needs the same one waits, then finds it made."""
    os.makedirs(os.path.join(OUT, "locks"), exist_ok=True)
    fd = os.open(os.path.join(OUT, "locks", f"{name}.lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def keep(name: str, data: dict) -> None:
    """docs/replication/NAME.json, written atomically."""
    from inq_layer.atomic import write_text_atomic
    os.makedirs(RESULTS, exist_ok=True)
    write_text_atomic(os.path.join(RESULTS, f"{name}.json"), json.dumps(data, indent=1, sort_keys=True))


def is_kept(name: str) -> bool:
    return os.path.exists(os.path.join(RESULTS, f"{name}.json"))


def solver_file(regime: str, net: str, seed: int | None = None) -> str:
    """The shipped solver with the regime's changes, under OUT/solvers."""
    from inq_layer.caffe_edge.caffe_io import read_solver, write_text_proto
    rg = REGIMES[regime]
    p = read_solver(_base_solver(regime, net))
    # Relative to ROOT (every run's working directory): the file, and so the hash a carried
    # campaign's --resume checks, is the same in any checkout.
    p.net = rel(prototxt(net))
    if rg.base == "float":
        p.random_seed = seed
        p.snapshot_prefix = rel(float_prefix(net, seed))
    for name, value in rg.overrides.items():
        if value is None:
            p.ClearField(name)
        else:
            setattr(p, name, value)
    path = solver_path(regime, net, seed)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    write_text_proto(path, p)
    return path


def test_curve(log: str) -> list[list[float]]:
    """[iteration, test accuracy %] of every test in a `caffe train` log (the last one of an
    iteration that a resumed training tested again)."""
    at, curve = None, {}
    with open(log, errors="replace") as f:
        for line in f:
            m = re.search(r"Iteration (\d+), Testing net", line)
            if m:
                at = int(m.group(1))
            m = re.search(r"Test net output #\d+: accuracy = ([0-9.]+)", line)
            if m and at is not None:
                curve[at] = round(100 * float(m.group(1)), 2)
    return [[k, v] for k, v in sorted(curve.items())]


def log_seconds(log: str) -> float:
    """Training time in a `caffe train` log that a resumed training appended to: the sum
    over its runs (each starts at "Initializing solver") of first to last glog timestamp."""
    import datetime
    runs, first, last = 0.0, None, None
    with open(log, errors="replace") as f:
        for line in f:
            m = re.match(r"[IWEF](\d{8} \d\d:\d\d:\d\d\.\d+)", line)
            if not m:
                continue
            t = datetime.datetime.strptime(m.group(1), "%Y%m%d %H:%M:%S.%f").timestamp()
            if "Initializing solver" in line and first is not None:
                runs += last - first
                first = None
            first = t if first is None else first
            last = t
    return round(runs + (last - first if first is not None else 0.0), 1)


def float_model(net: str, seed: int) -> str:
    """The float model of one net and seed, trained once with `caffe train`; an interrupted
    training continues from its newest solverstate (the data layer restarts at its first
    record, as `caffe train --snapshot` does)."""
    from inq_layer.caffe_edge.caffe_io import caffe_tool, caffe_tool_env, read_solver
    final = float_path(net, seed)
    with built_once(f"float_{net}_s{seed}"):
        if os.path.exists(final):
            return final
        solver = solver_file("float", net, seed)
        iters = read_solver(solver).max_iter
        prefix = float_prefix(net, seed)
        states = sorted(glob.glob(prefix + "_iter_*.solverstate"),
                        key=lambda f: int(f[len(prefix) + 6:-len(".solverstate")]))
        cmd = [caffe_tool(), "train", f"--solver={solver}"] + ([f"--snapshot={states[-1]}"] if states else [])
        t = time.time()
        log = prefix + ".log"
        with open(log, "a") as f:  # INFO lines: the test curve
            r = subprocess.run(cmd, cwd=ROOT, env=caffe_tool_env(ENV, GLOG_minloglevel="0"), stdout=f,
                               stderr=subprocess.STDOUT)
        if r.returncode != 0:
            raise RuntimeError(f"caffe train failed for {net} seed {seed}: see {rel(log)}")
        # Kept on every training: a retrained model is not the same one (a resumed training
        # reads its data in another order), and the record describes the model rows start from.
        result = {"seconds": log_seconds(log) if states else round(time.time() - t, 1), "iterations": iters}
        curve = test_curve(log)
        if len(curve) > 1:
            result["curve"] = curve
        if states:
            result["resumed_from"] = os.path.basename(states[-1])
        keep(f"float_{net}_s{seed}", result)
        os.replace(f"{prefix}_iter_{iters}.caffemodel", final)
        print(f"  float {net} seed {seed}: {time.time() - t:.0f} s", flush=True)
    return final


def pruned_model(prune: str, seed: int) -> str:
    """The float LeNet of `seed` pruned as PRUNES[prune] says."""
    with built_once(f"{prune}_s{seed}"):  # two rows of one seed may need it at once
        model, out = pruned_path(prune, seed), run_dir(prune, seed)
        if os.path.exists(model) and collect(prune, seed):
            return model
        p = PRUNES[prune]
        if p.start:  # what the pruning starts from
            pruned_model(p.start, seed)
        else:
            float_model("lenet", seed)
        solver_file(p.regime, "lenet", prune_seed(p, seed))
        _run([PY, *prune_command(prune, seed)], out, "prune.log", f"pruning {prune} seed {seed}")
        collect(prune, seed)
        return model


def _run(cmd: list[str], out: str, log: str, what: str, env: dict = ENV) -> None:
    """A campaign command into `out`; its output goes to OUT.LOG beside that folder (the
    command refuses an --out that holds files other than a campaign's)."""
    if os.path.exists(os.path.join(out, "campaign.json")):
        cmd = [*cmd, "--resume"]  # an interrupted run continues where it stopped
    os.makedirs(os.path.dirname(out), exist_ok=True)
    log = f"{out}.{log}"
    t = time.time()
    with open(log, "a") as f:
        r = subprocess.run(cmd, cwd=ROOT, env=env, stdout=f, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        raise RuntimeError(f"{what} failed ({r.returncode}): see {rel(log)}")
    print(f"  {what}: {time.time() - t:.0f} s", flush=True)


def collect(name: str, seed: int) -> bool:
    """Keep a finished run's report.json (with the .inq size of a pruned row) in
    docs/replication/, once. False while the run has not finished."""
    if is_kept(f"{name}_s{seed}"):
        return True
    path = os.path.join(run_dir(name, seed), "report.json")
    if not os.path.exists(path):
        return False
    with open(path) as f:
        rep = json.load(f)
    if name in ROWS and ROWS[name].pruned:
        rep["size"] = export_size(name, rep, run_dir(name, seed))
    keep(f"{name}_s{seed}", rep)
    return True


def export_size(row: str, rep: dict, folder: str) -> dict:
    """The run's final model exported to .inq: file bytes, the float32 bytes of all its
    blobs, and the sparsity of its quantized weights."""
    from inq_layer.deploy.export import export_model
    from inq_layer.options import QuantOptions
    r = export_model(prototxt(ROWS[row].net), rep["final_model"], QuantOptions.from_record(rep),
                     os.path.join(folder, "model.inq"))
    zeros = sum(ly["sparsity"] * ly["count"] for ly in r["layers"]) / sum(ly["count"] for ly in r["layers"])
    return {"file_bytes": r["file_bytes"], "float_bytes": r["float_bytes"], "sparsity": zeros}


def run(row: str, seed: int) -> None:
    """One row's campaign for one seed, with what it starts from; a failure is printed."""
    if collect(row, seed):
        return
    try:
        r = ROWS[row]
        pruned_model(r.start, seed) if r.pruned else float_model(r.net, seed)
        solver_file(r.regime, r.net)
        _run([PY, *driver_command(row, seed)], run_dir(row, seed), "driver.log", f"{row} seed {seed}")
        collect(row, seed)
    except RuntimeError as e:
        print(f"  {row} seed {seed} FAILED: {e}", flush=True)


def _base_solver(regime: str, net: str) -> str:
    """The shipped solver a regime changes: the net's float solver or the INQ solver."""
    return os.path.join(ROOT, NETS[net].float_solver if REGIMES[regime].base == "float" else INQ_SOLVER)


def phase_iterations(regime: str, net: str) -> int:
    """max_iter of the solver solver_file() writes for a regime: one phase's training."""
    from inq_layer.caffe_edge.caffe_io import read_solver
    max_iter = REGIMES[regime].overrides.get("max_iter")
    return max_iter if max_iter is not None else read_solver(_base_solver(regime, net)).max_iter


def iterations_left(row: str, seed: int) -> int:
    """Training a row's run has left, in iterations: its whole campaign when it has not
    started here."""
    from .carry import dir_resume_point, training_left
    r = ROWS[row]
    done, at = dir_resume_point(run_dir(row, seed))
    # the driver's default --final-iters: the last phase only tests
    return training_left(done, at, phase_iterations(r.regime, r.net), len(r.campaign.split(",")), 1)


def pending(rows: list[str], first: str | None = None) -> list[tuple[str, int]]:
    """The unfinished runs, row by row; within a row the seed with the most training left
    first, so that a seed not started yet does not run alone after the carried ones end.
    With `first`, that row's first run leads (it holds one of the two slots while the
    other slot runs the other rows) and its other runs come last."""
    out = []
    for row in rows:
        seeds = [s for s in SEEDS if not collect(row, s)]
        out += [(row, s) for s in sorted(seeds, key=lambda s: -iterations_left(row, s))]
    if first is not None:
        mine = [r for r in out if r[0] == first]
        out = mine[:1] + [r for r in out if r[0] != first] + mine[1:]
    return out
