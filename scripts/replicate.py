#!/usr/bin/env python3
"""`make replicate`: the paper's questions measured on Fashion-MNIST (60,000 / 10,000).

Trains float LeNets (3 seeds, `caffe train`), runs the INQ campaigns of every row below
through solver_driver.py for each seed, and writes docs/REPLICATION.md (tables with
mean +- sample sd and the per-seed values, the exact commands, computed answers) and its
plots. Runs live in build/replicate_fashion/<row>_s<seed>; what a finished run measured
(its report.json, with the .inq size of pruned rows) is kept in docs/replication/ , which is
committed: a run found there is not run again, even on a fresh checkout, and an interrupted
one continues with --resume. So this can run in the background across sessions (two runs
at a time, one BLAS thread each). The doc is rewritten after every finished run; rows still
running show as pending.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python"))
OUT = os.path.join(ROOT, "build", "replicate_fashion")
DOC = os.path.join(ROOT, "docs", "REPLICATION.md")
RESULTS = os.path.join(ROOT, "docs", "replication")  # committed: one JSON per finished run
PY = sys.executable
SEEDS = (1, 2, 3)
ENV = dict(os.environ, OPENBLAS_NUM_THREADS="1", GLOG_minloglevel="1")
EPOCH = 938  # batches of 64 in 60,000 images (937.5)
IMAGENET = 1281167  # ILSVRC-2012 training images
# The original AlexNet solver (63000 iterations, a step every 15000, batch 256) in epochs,
# scaled to this dataset's 937.5 batches of 64.
ALEX_ITERS = round(63000 * 256 / IMAGENET * 60000 / 64)
ALEX_STEP = round(15000 * 256 / IMAGENET * 60000 / 64)

# The paper's schedules (ResNet-18, Table 3) and the original's AlexNet campaign.
C5 = "0.5,0.75,0.875,1"
C4 = "0.3,0.5,0.8,0.9,0.95,1"
C3 = "0.2,0.4,0.6,0.7,0.8,0.9,0.95,1"
C2 = "0.2,0.4,0.6,0.7,0.8,0.85,0.9,0.95,0.975,1"
ORIGINAL = "0.3,0.6,0.8,1"

NETS = {"lenet": "prototxt/fashion_lenet_train_test.prototxt",
        "lenet_bn": "prototxt/fashion_lenet_bn_train_test.prototxt"}
FLOAT_SOLVER = "prototxt/fashion_lenet_solver.prototxt"
INQ_SOLVER = "prototxt/fashion_lenet_inq_solver.prototxt"

# Phase lengths ("regimes"); all but float* with the original's lr 0.003, gamma 0.2, momentum 0.9.
REGIMES = {
    "advice": "each phase until lr reaches 1e-5, a step every 1/3 epoch (the author's advice): "
              "1252 iterations = 1.33 epochs",
    "epoch": "one epoch per phase (938 iterations), lr 0.003 fixed: the original solver cut to one "
             "epoch, whose first step would come after 3 epochs",
    "low": "as `advice`, with base_lr 0.001 instead of the original's 0.003 (the float model ended "
           "at lr 0.0001: 0.003 is 30 times that)",
    "long": "4 epochs per phase (3752 iterations), lr 0.003 falling x0.2 every epoch (938); used to retrain "
            "pruning steps",
    "float": "the float model's own solver (20 epochs, lr 0.01 falling tenfold after epochs 10 and 15); "
             "used to retrain a pruned model at its final sparsity",
    "float_low": "as `float`, from lr 0.001 (to 1e-5): the retrained weights stay closer to the pruned model's",
    "alexnet": f"the original AlexNet solver scaled by epochs: 63000 x 256 images = "
               f"{63000 * 256 / IMAGENET:.2f} ImageNet epochs -> {ALEX_ITERS} iterations of 64 here, a step "
               f"(x0.2) every 15000 x 256 = {15000 * 256 / IMAGENET:.2f} epochs -> {ALEX_STEP}",
}

# row: (net, regime, driver options, description). Order = run order (the longest last).
ROWS = {
    "b5": ("lenet", "advice", ["--bits", "5", "--campaign", C5], "5 bits"),
    "b4": ("lenet", "advice", ["--bits", "4", "--campaign", C4], "4 bits"),
    "b5_mse": ("lenet", "advice", ["--bits", "5", "--campaign", C5, "--n1-rule", "mse"], "5 bits, mse n1"),
    "b3": ("lenet", "advice", ["--bits", "3", "--campaign", C3], "3 bits, max n1 (paper)"),
    "b3_mse": ("lenet", "advice", ["--bits", "3", "--campaign", C3, "--n1-rule", "mse"], "3 bits, mse n1"),
    "b2": ("lenet", "advice", ["--bits", "2", "--campaign", C2], "2 bits, max n1 (paper)"),
    "b2_mse": ("lenet", "advice", ["--bits", "2", "--campaign", C2, "--n1-rule", "mse"], "2 bits, mse n1"),
    "b5_low": ("lenet", "low", ["--bits", "5", "--campaign", C5], "5 bits, base_lr 0.001"),
    "b2_mse_low": ("lenet", "low", ["--bits", "2", "--campaign", C2, "--n1-rule", "mse"], "2 bits mse, base_lr 0.001"),
    "random": ("lenet", "advice", ["--bits", "5", "--campaign", C5, "--strategy", "random"],
               "5 bits, random partition"),
    "reference": ("lenet", "advice", ["--bits", "5", "--campaign", C5, "--rule", "reference"],
                  "5 bits, reference rule"),
    "original": ("lenet", "advice", ["--bits", "5", "--campaign", ORIGINAL, "--rule", "reference"],
                 "5 bits, the original's campaign 0.3/0.6/0.8/1 and rule"),
    "momentum": ("lenet", "advice", ["--bits", "5", "--campaign", C5, "--keep-momentum"],
                 "5 bits, momentum kept across phases"),
    "bn_default": ("lenet_bn", "advice", ["--bits", "5", "--campaign", C5], "LeNet-BN 5 bits, BatchNorm float"),
    "bn_every": ("lenet_bn", "advice", ["--bits", "5", "--campaign", C5, "--quantize", "every-blob0"],
                 "LeNet-BN 5 bits, every blob 0 quantized (the original)"),
    "b5_epoch": ("lenet", "epoch", ["--bits", "5", "--campaign", C5], "5 bits, one epoch per phase"),
    "b2_mse_epoch": ("lenet", "epoch", ["--bits", "2", "--campaign", C2, "--n1-rule", "mse"],
                     "2 bits mse, one epoch per phase"),
    "b5_alexnet": ("lenet", "alexnet", ["--bits", "5", "--campaign", C5], "5 bits, AlexNet solver scaled"),
    "b2_mse_alexnet": ("lenet", "alexnet", ["--bits", "2", "--campaign", C2, "--n1-rule", "mse"],
                       "2 bits mse, AlexNet solver scaled"),
}

# Pruning (Han et al.) before INQ. INQ rows that start from a pruned model run with
# --keep-zeros (and the `advice` solver unless the row names a regime).
class Prune(NamedTuple):
    sparsity: str  # --sparsity
    steps: str  # --steps
    regime: str  # the solver that retrains each step
    start: str | None = None  # prune id whose model this one starts from (None: the float model)


HAN_LENET5 = "conv1=0.34,conv2=0.88,ip1=0.92,ip2=0.81"  # Han et al. 2015's LeNet-5 rates (8 % of ip1 kept)
HAN_IP1_95 = "conv1=0.34,conv2=0.88,ip1=0.95,ip2=0.81"
C75 = "conv2=0.75,ip1=0.95,ip2=0.75"  # conv1 not pruned
PRUNES = {
    "p90": Prune("0.9", "0.5,0.7,0.8,0.9", "advice"),
    "player": Prune("conv1=0.6,conv2=0.85,ip1=0.95,ip2=0.8", "0.5,0.75,0.9,1", "advice"),
    "han_long": Prune(HAN_LENET5, "0.5,0.75,0.9,1", "long"),
    # han_long's model retrained 20 more epochs at its sparsity, then ip1 pruned further
    "han_f20": Prune(HAN_LENET5, "1", "float", start="han_long"),
    "han95_f20": Prune(HAN_IP1_95, "1", "float", start="han_f20"),
    "han_low20": Prune(HAN_LENET5, "1", "float_low", start="han_long"),
    # the size margin of han95_f20 (61x) spent on the small layers: conv1 dense, conv2 and ip2 at 75 %
    "c75_long": Prune(C75, "0.5,0.75,0.9,1", "long"),
    "c75_f20": Prune(C75, "1", "float", start="c75_long"),
}
FINE = "0.05,0.1,0.15,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,0.95,1"  # the INQ author's schedule for sparse models
PRUNED_ROWS = {
    "k5_p90": ("p90", ["--bits", "5", "--campaign", C5], "pruned 90 %, 5 bits"),
    "k5_p90_fine": ("p90", ["--bits", "5", "--campaign", FINE], "pruned 90 %, 5 bits, finer schedule"),
    "k4_p90": ("p90", ["--bits", "4", "--campaign", C4], "pruned 90 %, 4 bits"),
    "k3_p90": ("p90", ["--bits", "3", "--campaign", C3], "pruned 90 %, 3 bits"),
    "k5_player": ("player", ["--bits", "5", "--campaign", C5], "pruned per layer, 5 bits"),
    "k5_player_fine": ("player", ["--bits", "5", "--campaign", FINE], "pruned per layer, 5 bits, finer schedule"),
    "k5_han_long": ("han_long", ["--bits", "5", "--campaign", C5], "pruned at Han et al.'s LeNet-5 rates, "
                    "4 epochs a step, 5 bits"),
    "k5_han_long_fine": ("han_long", ["--bits", "5", "--campaign", FINE], "pruned at Han et al.'s LeNet-5 "
                         "rates, 4 epochs a step, 5 bits, finer schedule"),
    "k5_han_f20": ("han_f20", ["--bits", "5", "--campaign", C5], "Han rates + 20 epochs, 5 bits"),
    "k5_han_f20_fine": ("han_f20", ["--bits", "5", "--campaign", FINE], "Han rates + 20 epochs, 5 bits, "
                        "finer schedule"),
    "k4_han_f20": ("han_f20", ["--bits", "4", "--campaign", C4], "Han rates + 20 epochs, 4 bits"),
    "k3_han_f20": ("han_f20", ["--bits", "3", "--campaign", C3], "Han rates + 20 epochs, 3 bits"),
    "k5_han_low20": ("han_low20", ["--bits", "5", "--campaign", C5], "Han rates + 20 epochs from lr 0.001, 5 bits"),
    "k5_han95_f20": ("han95_f20", ["--bits", "5", "--campaign", C5], "Han rates, ip1 95 %, + 20 epochs, 5 bits"),
    "k5_han95_f20_alexnet": ("han95_f20", ["--bits", "5", "--campaign", C5], "Han rates, ip1 95 %, + 20 epochs, "
                             "5 bits, AlexNet solver scaled", "alexnet"),
    "k5_han95_f20_fine": ("han95_f20", ["--bits", "5", "--campaign", FINE], "Han rates, ip1 95 %, + 20 "
                          "epochs, 5 bits, finer schedule"),
    "k5_c75_f20_alexnet": ("c75_f20", ["--bits", "5", "--campaign", C5], "conv1 dense, conv2/ip2 75 %, ip1 95 %, "
                           "+ 20 epochs, 5 bits, AlexNet solver scaled", "alexnet"),
    "k5_c75_f20_fine": ("c75_f20", ["--bits", "5", "--campaign", FINE], "conv1 dense, conv2/ip2 75 %, ip1 95 %, "
                        "+ 20 epochs, 5 bits, finer schedule"),
}
for _row, (_p, _opts, _d, *_regime) in PRUNED_ROWS.items():  # (a 4th item: the regime, else advice)
    ROWS[_row] = ("lenet", (_regime or ["advice"])[0], [*_opts, "--keep-zeros"], _d)
ROWS = {k: ROWS[k] for k in sorted(ROWS, key=lambda r: r.endswith("_alexnet"))}  # stable sort
PAPER_T5 = {"5": 53, "4": 71, "3": 89}  # INQ + pruning on AlexNet, compression x (Table 5)
DEEP_COMPRESSION = {"AlexNet": 35, "LeNet-5": 39}

PAPER_T3 = {"float": 31.73, "5": 31.02, "4": 31.11, "3": 31.92, "2": 33.98}  # ResNet-18 top-1 error %
PAPER_T2 = {"random": 32.11, "pruning": 31.02}


def rel(path: str) -> str:
    return os.path.relpath(path, ROOT) if path.startswith(ROOT) else path


def solver_file(kind: str, net: str, seed: int | None = None) -> str:
    """The shipped solvers with the variant's changes, under OUT/solvers."""
    from inq_layer.caffe_io import read_solver, write_text_proto
    p = read_solver(os.path.join(ROOT, FLOAT_SOLVER if kind.startswith("float") else INQ_SOLVER))
    p.net = os.path.join(ROOT, NETS[net])
    if kind.startswith("float"):
        p.random_seed = seed
        p.snapshot_prefix = os.path.join(OUT, f"float_{net}_s{seed}")
        if kind == "float_low":
            p.base_lr = 0.001
    elif kind == "epoch":
        p.lr_policy, p.max_iter = "fixed", EPOCH
        p.ClearField("stepsize")
        p.ClearField("gamma")
    elif kind == "long":
        p.stepsize, p.max_iter = EPOCH, 4 * EPOCH
    elif kind == "alexnet":
        p.stepsize, p.max_iter = ALEX_STEP, ALEX_ITERS
    elif kind == "low":
        p.base_lr = 0.001
    path = solver_path(kind, net, seed)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    write_text_proto(path, p)
    return path


def solver_path(kind: str, net: str, seed: int | None = None) -> str:
    return os.path.join(OUT, "solvers", f"{kind}_{net}" + (f"_s{seed}" if seed else "") + ".prototxt")


def float_path(net: str, seed: int) -> str:
    return os.path.join(OUT, f"float_{net}_s{seed}.caffemodel")


def pruned_path(prune: str, seed: int) -> str:
    return os.path.join(OUT, f"{prune}_s{seed}", "pruned.caffemodel")


_float_locks = {(n, s): threading.Lock() for n in NETS for s in SEEDS}
_prune_locks = {(p, s): threading.Lock() for p in PRUNES for s in SEEDS}


def float_model(net: str, seed: int) -> str:
    """The float model of one net and seed, trained once with `caffe train`."""
    from inq_layer.caffe_io import caffe_tool, read_solver
    final = float_path(net, seed)
    with _float_locks[(net, seed)]:
        if os.path.exists(final):
            return final
        solver = solver_file("float", net, seed)
        iters = read_solver(solver).max_iter
        t = time.time()
        log = os.path.join(OUT, f"float_{net}_s{seed}.log")
        with open(log, "w") as f:
            r = subprocess.run([caffe_tool(), "train", f"--solver={solver}"], cwd=ROOT, env=ENV,
                               stdout=f, stderr=subprocess.STDOUT)
        if r.returncode != 0:
            raise SystemExit(f"caffe train failed for {net} seed {seed}: see {log}")
        if kept(f"float_{net}_s{seed}") is None:  # a fresh checkout retrains it: the first time counts
            keep(f"float_{net}_s{seed}", {"seconds": round(time.time() - t, 1), "iterations": iters})
        os.replace(os.path.join(OUT, f"float_{net}_s{seed}_iter_{iters}.caffemodel"), final)
        print(f"  float {net} seed {seed}: {time.time() - t:.0f} s", flush=True)
    return final


def pruned_model(prune: str, seed: int) -> str:
    """The float LeNet of `seed` pruned as PRUNES[prune] says (python -m inq_layer.prune)."""
    with _prune_locks[(prune, seed)]:  # two rows of one seed may need it at once
        return _prune(prune, seed)


def _prune(prune: str, seed: int) -> str:
    out = os.path.join(OUT, f"{prune}_s{seed}")
    model = pruned_path(prune, seed)
    if os.path.exists(model) and os.path.exists(os.path.join(out, "report.json")):
        report(prune, seed)  # keep what it measured
        return model
    p = PRUNES[prune]
    if p.start:  # what the pruning starts from
        pruned_model(p.start, seed)
    else:
        float_model("lenet", seed)
    solver_file(p.regime, "lenet", prune_seed(p, seed))
    cmd = prune_command(prune, seed)
    if os.path.exists(os.path.join(out, "campaign.json")):
        cmd.append("--resume")
    os.makedirs(out, exist_ok=True)
    t = time.time()
    with open(os.path.join(out, "prune.log"), "a") as f:
        r = subprocess.run(cmd, cwd=ROOT, env=dict(ENV, PYTHONPATH=os.path.join(ROOT, "python")), stdout=f,
                           stderr=subprocess.STDOUT)
    if r.returncode != 0:
        raise RuntimeError(f"pruning {prune} seed {seed} failed: see {rel(out)}/prune.log")
    print(f"  {prune} seed {seed}: {time.time() - t:.0f} s", flush=True)
    return model


def prune_command(prune: str, seed: int) -> list[str]:
    """The prune tool's command line (its start model and solver made by _prune)."""
    p = PRUNES[prune]
    start = pruned_path(p.start, seed) if p.start else float_path("lenet", seed)
    return [PY, "-m", "inq_layer.prune", "--solver", solver_path(p.regime, "lenet", prune_seed(p, seed)),
            "--weights", start, "--sparsity", p.sparsity, "--steps", p.steps, "--seed", str(seed),
            "--out", os.path.join(OUT, f"{prune}_s{seed}")]


def prune_seed(p: Prune, seed: int) -> int | None:
    """The float solver is written per seed (its random_seed); the others are shared."""
    return seed if p.regime.startswith("float") else None


def command(row: str, seed: int) -> list[str]:
    net, regime, opts, _ = ROWS[row]
    start = pruned_model(PRUNED_ROWS[row][0], seed) if row in PRUNED_ROWS else float_model(net, seed)
    return [PY, "solver_driver.py", "--solver", solver_file(regime, net), "--weights", start,
            "--seed", str(seed), "--out", os.path.join(OUT, f"{row}_s{seed}"), *opts]


def keep(name: str, data: dict) -> None:
    """docs/replication/NAME.json, written atomically."""
    from inq_layer.atomic import write_text_atomic
    os.makedirs(RESULTS, exist_ok=True)
    write_text_atomic(os.path.join(RESULTS, f"{name}.json"), json.dumps(data, indent=1, sort_keys=True))


def kept(name: str) -> dict | None:
    path = os.path.join(RESULTS, f"{name}.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def report(row: str, seed: int) -> dict | None:
    """What a finished run (a campaign row or a pruning) measured, else None: its kept
    result, or its report.json in build/ (then kept, with the .inq size of a pruned row)."""
    name = f"{row}_s{seed}"
    rep = kept(name)
    if rep is not None:
        return rep
    path = os.path.join(OUT, name, "report.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        rep = json.load(f)
    if row in PRUNED_ROWS:
        rep["size"] = export_size(row, rep, os.path.join(OUT, name))
    keep(name, rep)
    return rep


def run(row: str, seed: int) -> None:
    if report(row, seed) is not None:
        return
    out = os.path.join(OUT, f"{row}_s{seed}")
    try:
        cmd = command(row, seed)
    except RuntimeError as e:
        print(f"  {row} seed {seed} FAILED: {e}", flush=True)
        return
    if os.path.exists(os.path.join(out, "campaign.json")):
        cmd.append("--resume")  # an interrupted run continues where it stopped
    os.makedirs(out, exist_ok=True)
    t = time.time()
    with open(os.path.join(out, "driver.log"), "a") as f:
        r = subprocess.run(cmd, cwd=ROOT, env=ENV, stdout=f, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        print(f"  {row} seed {seed} FAILED ({r.returncode}): see {rel(out)}/driver.log", flush=True)
        return
    print(f"  {row} seed {seed}: {time.time() - t:.0f} s", flush=True)


def main() -> None:
    os.makedirs(OUT, exist_ok=True)
    rows = sys.argv[1:] or list(ROWS)
    unknown = [r for r in rows if r not in ROWS]
    if unknown:
        raise SystemExit(f"unknown rows {unknown}; rows: {', '.join(ROWS)}")
    jobs = [(row, s) for row in rows for s in SEEDS]
    lock = threading.Lock()

    def job(a):
        run(*a)
        with lock:
            write_doc()

    # Each run trains the float model or the pruning it starts from when missing (once: the
    # locks); no pass of float trainings first, where the third seed's left a core idle.
    with ThreadPoolExecutor(2) as ex:
        list(ex.map(job, [(row, s) for row, s in jobs if report(row, s) is None]))
    write_doc()


# -- the document ---------------------------------------------------------------------
def acc(rep: dict, key: str = "test_after_training") -> float:
    return 100 * rep["phases"][-1][key]["accuracy"]


def float_acc(rep: dict) -> float:
    return 100 * rep["test_float"]["accuracy"]


def reports(row: str) -> list[dict] | None:
    rs = [report(row, s) for s in SEEDS]
    return rs if all(rs) else None


def spread(c: list[float] | None, unit: str = "") -> str:
    return "pending" if c is None else f"{statistics.mean(c):+.2f} ± {statistics.stdev(c):.2f}{unit}"


def ms(xs: list[float]) -> str:
    sd = statistics.stdev(xs) if len(xs) > 1 else 0.0
    return f"{statistics.mean(xs):.2f} ± {sd:.2f}"


def baseline(row: str, seed: int) -> float | None:
    """The float model's accuracy for a row's seed. A pruned row's campaign starts from the
    pruned model: its float model is the one the pruning started from."""
    if row in PRUNED_ROWS:
        return pruned_from(PRUNED_ROWS[row][0], seed)
    r = report(row, seed)
    return None if r is None else float_acc(r)


def pruned_from(prune: str, seed: int) -> float | None:
    """Accuracy of the float model at the root of a pruning chain."""
    p = PRUNES[prune]
    if p.start:
        return pruned_from(p.start, seed)
    r = report(prune, seed)
    return None if r is None else float_acc(r)


def change(row: str) -> list[float] | None:
    """Accuracy change from the float model, per seed (None while a seed is pending)."""
    rs = reports(row)
    base = [baseline(row, s) for s in SEEDS]
    return None if rs is None or None in base else [acc(r) - b for r, b in zip(rs, base)]


def table(rows: list[str]) -> list[str]:
    out = ["| row | float % | INQ % | change (points) | INQ per seed | weights at 0 |", "|---|---|---|---|---|---|"]
    for row in rows:
        rs = reports(row)
        if rs is None:
            done = sum(report(row, s) is not None for s in SEEDS)
            out.append(f"| {ROWS[row][3]} | pending ({done}/3 seeds) | | | | |")
            continue
        zero = [statistics.mean(ly["zero_fraction"] for ly in r["phases"][-1]["layers"].values()) for r in rs]
        out.append(f"| {ROWS[row][3]} | {ms([float_acc(r) for r in rs])} | {ms([acc(r) for r in rs])} | "
                   f"{ms(change(row))} | " + ", ".join(f"{acc(r):.2f}" for r in rs)
                   + f" | {100 * statistics.mean(zero):.1f} % |")
    return out


def export_size(row: str, rep: dict, run_dir: str) -> dict:
    """The run's final model exported to .inq: file bytes, the float32 bytes of all its
    blobs, and the sparsity of its quantized weights."""
    from inq_layer.export import export_model
    r = export_model(os.path.join(ROOT, NETS[ROWS[row][0]]), rep["final_model"], rep["bits"],
                     os.path.join(run_dir, "model.inq"))
    zeros = sum(ly["sparsity"] * ly["count"] for ly in r["layers"]) / sum(ly["count"] for ly in r["layers"])
    return {"file_bytes": r["file_bytes"], "float_bytes": r["float_bytes"], "sparsity": zeros}


def pruned_5bit_rows() -> list[str]:
    """The pruned rows the goal is about (5 bits)."""
    return [r for r in PRUNED_ROWS if PRUNED_ROWS[r][1][:2] == ["--bits", "5"]]


def bits_per_nonzero(rep: dict, size: dict) -> float:
    weights = sum(ly["count"] for ly in rep["phases"][-1]["layers"].values())
    return 8 * size["file_bytes"] / ((1 - size["sparsity"]) * weights)


def model_size(row: str, seed: int) -> dict:
    return report(row, seed)["size"]


def pruned(prune: str) -> tuple[list[float], list[float], float] | None:
    """A finished pruning's float and pruned accuracy per seed and its mean sparsity."""
    rs = [report(prune, s) for s in SEEDS]
    fl = [pruned_from(prune, s) for s in SEEDS]
    if not all(rs) or None in fl:
        return None
    sp = [sum(ly["pruned_fraction"] * ly["count"] for ly in r["phases"][-1]["layers"].values())
          / sum(ly["count"] for ly in r["phases"][-1]["layers"].values()) for r in rs]
    return fl, [acc(r) for r in rs], statistics.mean(sp)


def pruning_tables() -> list[str]:
    L = ["| pruning | float % | pruned % | change (points) | pruned per seed | sparsity |", "|---|---|---|---|---|---|"]
    for prune, p in PRUNES.items():
        origin = f", from `{p.start}`" if p.start else ""
        name = f"`{prune}`: {p.sparsity} (steps {p.steps}, `{p.regime}`{origin})"
        got = pruned(prune)
        if got is None:
            L.append(f"| {name} | pending | | | | |")
            continue
        fl, pr, sp = got
        L.append(f"| {name} | {ms(fl)} | {ms(pr)} | {ms([b - a for a, b in zip(fl, pr)])} | "
                 + ", ".join(f"{x:.2f}" for x in pr) + f" | {100 * sp:.1f} % |")
    L += ["", "INQ on the pruned models (`--keep-zeros`); size: the final model exported to .inq "
          "(entropy-coded where smaller), ratio against the float32 caffemodel's blobs (weights and biases):", "",
          "| row | float % | pruned % | INQ % | change from float (points) | INQ per seed | sparsity | .inq bytes "
          "| bits per non-zero | ratio |", "|---|---|---|---|---|---|---|---|---|---|"]
    for row in PRUNED_ROWS:
        rs, c = reports(row), change(row)
        if rs is None or c is None:
            L.append(f"| {ROWS[row][3]} | pending | | | | | | | | |")
            continue
        sizes = [model_size(row, s) for s in SEEDS]
        ratio = [z["float_bytes"] / z["file_bytes"] for z in sizes]
        L.append(f"| {ROWS[row][3]} | {ms([baseline(row, s) for s in SEEDS])} | {ms([float_acc(r) for r in rs])} "
                 f"| {ms([acc(r) for r in rs])} | {ms(c)} | " + ", ".join(f"{acc(r):.2f}" for r in rs)
                 + f" | {100 * statistics.mean(z['sparsity'] for z in sizes):.1f} % | "
                 f"{statistics.mean(z['file_bytes'] for z in sizes):,.0f} | "
                 f"{statistics.mean(bits_per_nonzero(r, z) for r, z in zip(rs, sizes)):.2f} | {ms(ratio)}x |")
    own = [(statistics.mean(acc(r) - float_acc(r) for r in rs), row) for row in pruned_5bit_rows()
           if (rs := reports(row))]
    if own:
        L += ["", "INQ's own change at 5 bits (INQ % - pruned %, mean of the seeds), best first: "
              + "; ".join(f"{ROWS[row][3]} {d:+.2f}" for d, row in sorted(own, reverse=True)) + "."]
    L += ["", "Bits per non-zero: the whole file's bits (biases and headers included) over the non-zero "
          "quantized weights. It includes the cost of coding where the zeros are; between rows of equal "
          "sparsity it grows when the surviving weights spread over more of the grid's levels."]
    L += ["", f"Paper, AlexNet INQ + pruning (Table 5): {PAPER_T5['5']}x at 5 bits, {PAPER_T5['4']}x at 4, "
          f"{PAPER_T5['3']}x at 3. Deep Compression (prune + quantize + Huffman): {DEEP_COMPRESSION['AlexNet']}x "
          f"on AlexNet, {DEEP_COMPRESSION['LeNet-5']}x on LeNet-5."]
    return L


def verdict(a: str, b: str, what: str) -> str | None:
    """`b` against `a`, in points of accuracy change, and whether it exceeds the spread."""
    ca, cb = change(a), change(b)
    if ca is None or cb is None:
        return None
    d = statistics.mean(cb) - statistics.mean(ca)
    spread = max(statistics.stdev(ca), statistics.stdev(cb))
    return (f"{what}: {d:+.2f} points ({'beyond' if abs(d) > spread else 'within'} the seed spread "
            f"of {spread:.2f})")


def goal(row: str, limit: float, text: str) -> str:
    c = change(row)
    if c is None:
        return f"- {text}: pending."
    m = statistics.mean(c)
    return f"- {text}: {m:+.2f} ± {statistics.stdev(c):.2f} points: {'met' if m >= limit else 'MISSED'}."


def answers() -> list[str]:
    L = ["### One epoch per phase lost 2-3 points on AlexNet: is phase length the cause?", ""]
    for bits, rows in (("5 bits", ("b5_epoch", "b5", "b5_alexnet")),
                       ("2 bits mse", ("b2_mse_epoch", "b2_mse", "b2_mse_alexnet"))):
        parts = []
        for r in rows:
            c = change(r)
            parts.append(f"{ROWS[r][1]}: " + spread(c))
        L.append(f"- {bits}, change from float by phase length: " + "; ".join(parts) + ".")
        for a, b in ((rows[0], rows[1]), (rows[1], rows[2])):
            v = verdict(a, b, f"{ROWS[b][1]} against {ROWS[a][1]}")
            if v:
                L.append(f"  - {v}.")
    L += ["", "### 2-bit (ternary) INQ could not be reproduced: does it work here?", ""]
    for r in ("b2", "b2_mse"):
        c = change(r)
        L.append(f"- {ROWS[r][3]}: " + spread(c, " points"))
    v = verdict("b2", "b2_mse", "mse n1 against the paper's max n1 at 2 bits")
    if v:
        L.append(f"- {v}.")
    L += ["", "### Other choices", ""]
    for a, b, what in (("b5", "random", "random against pruning-inspired partition (5 bits)"),
                       ("b5", "reference", "reference rule (re-selection) against paper rule"),
                       ("b5", "original", "the original's campaign and rule against the paper's 5-bit schedule"),
                       ("b5", "momentum", "momentum kept against reset"),
                       ("b3", "b3_mse", "mse n1 against max n1 at 3 bits"),
                       ("b5", "b5_low", "base_lr 0.001 against 0.003 at 5 bits"),
                       ("b2_mse", "b2_mse_low", "base_lr 0.001 against 0.003 at 2 bits (mse)"),
                       ("bn_default", "bn_every", "quantizing BatchNorm/Scale blob 0 against leaving them float")):
        v = verdict(a, b, what)
        L.append(f"- {v}." if v else f"- {what}: pending.")
    L += ["", "### The goals", ""]
    rs = reports("b5")
    if rs:
        fl = [float_acc(r) for r in rs]
        L.append(f"- Float LeNet at 90 % or more: {ms(fl)} %: {'met' if min(fl) >= 90 else 'MISSED'} "
                 f"(lowest seed {min(fl):.2f}).")
    L.append(goal("b5", -0.2, "5 bits, no loss (>= float - 0.2)"))
    tried = [(statistics.mean(c), r) for r in ROWS if ROWS[r][2][:2] == ["--bits", "5"] and r != "b5"
             and r not in PRUNED_ROWS and ROWS[r][0] == "lenet" and (c := change(r)) is not None]
    if tried:
        L.append("  - tried for 5 bits (change from float, mean of 3 seeds, best first): "
                 + "; ".join(f"{ROWS[r][3]} {m:+.2f}" for m, r in sorted(tried, reverse=True)) + ".")
        met = [f"{ROWS[r][3]} ({spread(change(r))})" for m, r in sorted(tried, reverse=True) if m >= -0.2]
        if met:
            L.append("  - the goal is met by: " + "; ".join(met) + ".")
    L.append(goal("b3", -1.0, "3 bits, max n1 (>= float - 1.0)"))
    L.append(goal("b3_mse", -1.0, "3 bits, mse n1 (>= float - 1.0)"))
    L.append(goal("b2_mse", -2.0, "2 bits with the mse n1 (>= float - 2.0)"))
    held = [(got[2], prune, statistics.mean(b - a for a, b in zip(got[0], got[1])))
            for prune in PRUNES if (got := pruned(prune))]
    best = max((h for h in held if h[2] >= -0.5), default=None)
    if held:
        text = f"`{best[1]}` ({100 * best[0]:.1f} %, {best[2]:+.2f} points)" if best else "none of the prunings tried"
        L.append(f"- Pruning alone, the highest sparsity that holds within 0.5 points of float: {text}.")
    for row in pruned_5bit_rows():
        c = change(row)
        if c is None:
            L.append(f"- {ROWS[row][3]}: at least 50x smaller than float32 within 0.5 points: pending.")
            continue
        ratio = statistics.mean(model_size(row, s)["float_bytes"] / model_size(row, s)["file_bytes"] for s in SEEDS)
        ok = ratio >= 50 and statistics.mean(c) >= -0.5
        L.append(f"- {ROWS[row][3]}: {ratio:.1f}x smaller than float32, {spread(c)} points (seeds "
                 + ", ".join(f"{x:+.2f}" for x in c) + f"): {'met' if ok else 'MISSED'} (goal: 50x within 0.5 "
                 "points, mean of the seeds)" + ("; a seed misses it" if ok and min(c) < -0.5 else "") + ".")
    return L


def plots() -> list[str]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    made = []
    fig, ax = plt.subplots(figsize=(6, 4))
    drawn = False
    for rule, rows in (("max n1 (paper)", {5: "b5", 4: "b4", 3: "b3", 2: "b2"}),
                       ("mse n1", {5: "b5", 4: "b4", 3: "b3_mse", 2: "b2_mse"})):
        pts = [(b, [acc(r) for r in reports(row)]) for b, row in rows.items() if reports(row)]
        if pts:
            drawn = True
            ax.errorbar([b for b, _ in pts], [statistics.mean(v) for _, v in pts],
                        yerr=[statistics.stdev(v) for _, v in pts], marker="o", capsize=4, label=rule)
    if drawn:
        fl = [float_acc(r) for r in reports("b5") or []]
        if fl:
            ax.axhline(statistics.mean(fl), color="gray", lw=1, label="float (mean of 3 seeds)")
        ax.set_xticks([2, 3, 4, 5])
        ax.set_xlabel("bits")
        ax.set_ylabel("test accuracy % (Fashion-MNIST, 10,000 images)")
        ax.set_title("INQ LeNet: accuracy by bit width (3 seeds, ± sd)")
        ax.legend(fontsize=8)
        made.append(save_png(fig, "replication_bits.png"))
    plt.close(fig)
    rows = [r for r in ("b5", "b2_mse", "b2") if reports(r)]
    if rows:
        fig, axes = plt.subplots(1, len(rows), figsize=(5 * len(rows), 4), squeeze=False)
        for ax, row in zip(axes[0], rows):
            rs = reports(row)
            xs = [p["portion"] for p in rs[0]["phases"]]
            for key, style, label in (("test_after_quantize", "o--", "after quantizing"),
                                      ("test_after_training", "s-", "after retraining")):
                vals = [[100 * r["phases"][i][key]["accuracy"] for r in rs] for i in range(len(xs))]
                ax.errorbar(xs, [statistics.mean(v) for v in vals], yerr=[statistics.stdev(v) for v in vals],
                            fmt=style, capsize=3, label=label)
            ax.axhline(statistics.mean(float_acc(r) for r in rs), color="gray", lw=1, label="float")
            ax.set_title(ROWS[row][3])
            ax.set_xlabel("accumulated portion quantized")
            ax.set_ylabel("test accuracy %")
            ax.legend(fontsize=8)
        made.append(save_png(fig, "replication_phases.png"))
        plt.close(fig)
    return made


def save_png(fig, name: str) -> str:
    """The figure as docs/NAME, written atomically; returns NAME."""
    import io

    from inq_layer.atomic import write_bytes_atomic
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    write_bytes_atomic(os.path.join(ROOT, "docs", name), buf.getvalue())
    return name


def residual_net() -> list[str]:
    """Why no residual net has rows: bench/bench_resnet_mini.py's timing, if it ran."""
    t = kept("resnet8_timing")
    if t is None or "estimate_minutes" not in t:
        return []
    ms, est = t["ms_per_iteration"], t["estimate_minutes"]
    return ["", "A residual net with BatchNorm (prototxt/fashion_resnet8_train_test.prototxt, ResNet-8: the "
            "paper's ResNet-18 in miniature) would have rows here only if one campaign fitted in "
            f"{t['few_minutes']} minutes. bench/bench_resnet_mini.py timed a training iteration at "
            f"{ms['resnet8']:.0f} ms against LeNet's {ms['lenet']:.0f} ms ({t['ratio']:.1f}x): a 5-bit campaign "
            f"would take about {est['campaign_5_bits']:.0f} minutes and each float model "
            f"{est['float_model']:.0f}, so "
            + ("it fits; its rows are still to be added." if t["fits"] else "it is left out.")]


def compute_minutes() -> tuple[float, int]:
    """Minutes of the finished runs (campaign phases + float training), and their count."""
    total, n = 0.0, 0
    for row in ROWS:
        for s in SEEDS:
            r = report(row, s)
            if r:
                total += sum(p["seconds"] for p in r["phases"])
                n += 1
    for net in NETS:
        for s in SEEDS:
            total += (kept(f"float_{net}_s{s}") or {}).get("seconds", 0.0)
    for prune in PRUNES:
        for s in SEEDS:
            r = report(prune, s)
            total += sum(p["seconds"] for p in r["phases"]) if r else 0.0
    return total / 60, n


def retrained_floats() -> list[str]:
    """Chains whose float models are not the ones the dense rows started from (a fresh checkout
    trains them again: build/ is not committed), with both accuracies per seed."""
    dense = reports("b5")
    out = []
    for prune, p in PRUNES.items():
        fl = None if p.start or dense is None else [pruned_from(prune, s) for s in SEEDS]
        if fl is None or None in fl or fl == [float_acc(r) for r in dense]:
            continue
        out.append(f"`{prune}` (and the prunings and rows that start from it) started from float models "
                   "trained again on a fresh checkout, with the same solver, seeds and data: "
                   + ", ".join(f"seed {s} {a:.2f} % (the other rows' {float_acc(r):.2f} %)"
                               for s, a, r in zip(SEEDS, fl, dense))
                   + ". Caffe's CPU training did not repeat itself exactly here, so each change is measured "
                   "from the float models of its own chain.")
    return ["", *out] if out else []


def write_doc() -> None:
    from inq_layer.atomic import write_text_atomic
    minutes, finished = compute_minutes()
    made = plots()
    L = ["# Replication on Fashion-MNIST", "",
         "Measured by `make replicate` (scripts/replicate.py) on this project's 2-core CPU machine, two "
         f"runs at a time, one BLAS thread each. {finished} of {len(ROWS) * len(SEEDS)} runs finished; "
         f"their compute time (float training + campaign phases) adds up to {minutes:.0f} minutes.", "",
         "Task: Caffe's LeNet on Fashion-MNIST (Debian's dataset-fashion-mnist: 60,000 training "
         "images, accuracy on all 10,000 test images; `make data`). Each row: 3 seeds (1, 2, 3); the "
         "seed sets the float model (`random_seed` of its `caffe train` solver, "
         f"{FLOAT_SOLVER}: 20 epochs, lr 0.01 falling tenfold after epochs 10 and 15) and `--seed` of "
         "the campaign. Values: test "
         "accuracy in %, mean ± sample standard deviation over the seeds, then each seed. "
         "\"Weights at 0\": mean over layers of the final zero fraction.", "",
         f"Retraining: {INQ_SOLVER}, paper rule, pruning-inspired partition, max n1, unless the row "
         "says otherwise. The last phase (portion 1) runs 1 iteration, as the original.", "",
         "Phase lengths:", ""]
    L += [f"- `{k}`: {v}." for k, v in REGIMES.items()]
    L += ["", "The paper's ImageNet numbers stand beside ours for shape only: another task, another net.", ""]
    if made:
        L += ["![accuracy by bit width](replication_bits.png)", "", "![per phase](replication_phases.png)", ""]
    L += ["## What the runs answer", ""] + answers() + [""]
    L += ["## Phase length (the question of the original's users)", ""]
    L += table(["b5_epoch", "b5", "b5_alexnet", "b2_mse_epoch", "b2_mse", "b2_mse_alexnet"])
    L += ["", "## Bit width (the paper's Table 3 shape)", "",
          f"Schedules: 5 bits {C5}; 4 bits {C4}; 3 bits {C3}; 2 bits {C2} (the paper's).", ""]
    L += table(["b5", "b5_mse", "b4", "b3", "b3_mse", "b2", "b2_mse"])
    L += ["", f"Paper, ResNet-18 on ImageNet, top-1 error % (Table 3): float {PAPER_T3['float']}; 5 bits "
          f"{PAPER_T3['5']}; 4 bits {PAPER_T3['4']}; 3 bits {PAPER_T3['3']}; 2 bits {PAPER_T3['2']} "
          "(2.25 points above float).", ""]
    L += ["## Retraining learning rate", "",
          "The float models end their training at lr 0.0001; the original's INQ retraining starts "
          "each phase at 0.003. The same campaigns from 0.001:", ""]
    L += table(["b5", "b5_low", "b2_mse", "b2_mse_low"])
    L += ["", "## Partition (the paper's Table 2 shape)", ""]
    L += table(["b5", "random"])
    L += ["", f"Paper, ResNet-18 5 bits, top-1 error %: random {PAPER_T2['random']}, pruning-inspired "
          f"{PAPER_T2['pruning']}.", ""]
    L += ["## Rules: reference (the original's re-selection) and paper", ""]
    L += table(["b5", "reference", "original"])
    for row in ("reference", "original"):
        rs = reports(row)
        if rs:
            cols = list(zip(*[[p.get("unfrozen_by_reselection", 0) for p in r["phases"][1:]] for r in rs]))
            L.append(f"\n{ROWS[row][3]}: weights unfrozen by re-selection in phases 2..: "
                     + ", ".join(f"{statistics.mean(c):,.0f}" for c in cols) + " (mean over seeds).")
    L += ["", "## Momentum between phases", "",
          "The original starts each phase with a fresh solver (momentum history zero); "
          "`--keep-momentum` carries it over.", ""]
    L += table(["b5", "momentum"])
    L += ["", "## BatchNorm", "",
          "LeNet-BN (BatchNorm + Scale after each convolution). Default: only convolution and "
          "fully-connected weights are quantized; `every-blob0`: blob 0 of every layer, BatchNorm "
          "running means and Scale gammas included, as the original code does.", ""]
    L += table(["bn_default", "bn_every"])
    L += residual_net()
    L += ["", "## Pruning + INQ (the paper's Table 5 shape)", "",
          "Float LeNet pruned by magnitude with retraining (`python -m inq_layer.prune`, each step "
          "retrained with the solver of the regime named in the row), then INQ with `--keep-zeros` "
          "(retrained with `advice` unless the row names another regime). The change is measured from "
          "the float model the pruning started from.", ""]
    L += pruning_tables() + retrained_floats()
    L += ["", "## Per phase", "", "Mean over seeds, accuracy % after quantizing -> after retraining:", ""]
    for row in ("b5", "b3", "b3_mse", "b2", "b2_mse"):
        rs = reports(row)
        if rs:
            mean = lambda i, key, rs=rs: statistics.mean(100 * r["phases"][i][key]["accuracy"] for r in rs)
            steps = [f"{ph['portion']:g}: {mean(i, 'test_after_quantize'):.1f} -> {mean(i, 'test_after_training'):.1f}"
                     for i, ph in enumerate(rs[0]["phases"])]
            L.append(f"- {ROWS[row][3]}: " + "; ".join(steps))
    L += ["", "## Commands", "",
          "Float models: `caffe train --solver=build/replicate_fashion/solvers/float_<net>_s<seed>.prototxt` "
          f"({FLOAT_SOLVER} with random_seed = seed). Campaigns, seed 1 shown "
          "(`python scripts/replicate.py ROW...` runs chosen rows):", "", "```"]
    for prune in PRUNES:
        L.append(f"# pruning {prune}\npython " + " ".join(rel(a) for a in prune_command(prune, 1)[1:]))
    for row in ROWS:
        net, regime, opts, _ = ROWS[row]
        w = rel(pruned_path(PRUNED_ROWS[row][0], 1) if row in PRUNED_ROWS else float_path(net, 1))
        solver = rel(solver_path(regime, net))
        L.append(f"# {row}\npython solver_driver.py --solver {solver} "
                 f"--weights {w} --seed 1 --out {rel(os.path.join(OUT, f'{row}_s1'))} " + " ".join(opts))
    L += ["```", ""]
    write_text_atomic(DOC, "\n".join(L))


if __name__ == "__main__":
    main()
