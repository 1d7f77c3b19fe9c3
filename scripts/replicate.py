#!/usr/bin/env python3
"""`make replicate`: the paper's tables in shape, measured on the digits/LeNet task.

Trains float LeNets (3 seeds, `caffe train`), runs INQ campaigns through solver_driver.py
for every row below and seed, and writes docs/REPLICATION.md with the exact commands,
mean +- sample standard deviation over seeds and the per-seed values. Runs go to
build/replicate/; a finished run (report.json present) is not run again.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python"))
OUT = os.path.join(ROOT, "build", "replicate")
PY = sys.executable
SEEDS = (1, 2, 3)
C5 = "0.5,0.75,0.875,1"
C4 = "0.3,0.5,0.8,0.9,0.95,1"
C3 = "0.2,0.4,0.6,0.7,0.8,0.9,0.95,1"
C2 = "0.2,0.4,0.6,0.7,0.8,0.85,0.9,0.95,0.975,1"

# row id: (net variant, solver variant, driver options, description)
ROWS = {
    "b5": ("lenet", "step", ["--bits", "5", "--campaign", C5], "5 bits"),
    "b4": ("lenet", "step", ["--bits", "4", "--campaign", C4], "4 bits"),
    "b3": ("lenet", "step", ["--bits", "3", "--campaign", C3], "3 bits"),
    "b2": ("lenet", "step", ["--bits", "2", "--campaign", C2], "2 bits (ternary)"),
    "random": ("lenet", "step", ["--bits", "5", "--campaign", C5, "--strategy", "random"], "5 bits, random partition"),
    "reference": ("lenet", "step", ["--bits", "5", "--campaign", C5, "--rule", "reference"], "5 bits, reference rule"),
    "orig_campaign": ("lenet", "step", ["--bits", "5", "--campaign", "0.3,0.6,0.8,1", "--rule", "reference"],
                      "5 bits, the original's campaign and rule"),
    "it50": ("lenet", "step50", ["--bits", "5", "--campaign", C5, "--max-iter", "50"], "50 iterations per phase"),
    "it1000": ("lenet", "step1000", ["--bits", "5", "--campaign", C5, "--max-iter", "1000"], "1000 iterations per phase"),
    "lr_fixed": ("lenet", "fixed", ["--bits", "5", "--campaign", C5], "lr fixed (no decay in a phase)"),
    "lr_100x": ("lenet", "multistep", ["--bits", "5", "--campaign", C5], "lr falls 100x in a phase"),
    "momentum": ("lenet", "step", ["--bits", "5", "--campaign", C5, "--keep-momentum"], "momentum kept across phases"),
    "bn_default": ("lenet_bn", "step", ["--bits", "5", "--campaign", C5], "LeNet-BN, BatchNorm and biases float"),
    "bn_every": ("lenet_bn", "step", ["--bits", "5", "--campaign", C5, "--quantize", "every-blob0"],
                 "LeNet-BN, every blob 0 quantized (the original)"),
}
NETS = {"lenet": "prototxt/lenet_train_test.prototxt", "lenet_bn": "prototxt/lenet_bn_train_test.prototxt"}


def solver_file(kind: str, net: str, seed: int | None = None) -> str:
    """Variants of the shipped solvers, written under build/replicate/solvers."""
    from inq_layer.caffe_io import read_solver, write_text_proto
    base = "lenet_solver.prototxt" if kind == "float" else "lenet_inq_solver.prototxt"
    p = read_solver(os.path.join(ROOT, "prototxt", base))
    p.net = os.path.join(ROOT, NETS[net])
    if kind == "float":
        p.random_seed = seed
        p.snapshot_prefix = os.path.join(OUT, f"float_{net}_s{seed}")
        p.snapshot = p.max_iter
    elif kind == "fixed":
        p.lr_policy = "fixed"
    elif kind == "multistep":
        p.lr_policy = "multistep"
        p.ClearField("stepsize")
        p.stepvalue.extend([200, 300])
    elif kind in ("step50", "step1000"):
        n = 50 if kind == "step50" else 1000
        p.max_iter, p.stepsize = n, n // 2
    path = os.path.join(OUT, "solvers", f"{kind}_{net}" + (f"_s{seed}" if seed else "") + ".prototxt")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    write_text_proto(path, p)
    return path


ENV = dict(os.environ, OPENBLAS_NUM_THREADS="1", GLOG_minloglevel="1")


def float_model(net: str, seed: int) -> str:
    from inq_layer.caffe_io import caffe_tool
    final = os.path.join(OUT, f"float_{net}_s{seed}.caffemodel")
    if not os.path.exists(final):
        solver = solver_file("float", net, seed)
        r = subprocess.run([caffe_tool(), "train", f"--solver={solver}"], cwd=ROOT, env=ENV,
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit(f"caffe train failed for {net} seed {seed}:\n{r.stderr[-2000:]}")
        os.replace(os.path.join(OUT, f"float_{net}_s{seed}_iter_2000.caffemodel"), final)
    return final


def command(row: str, seed: int) -> list[str]:
    net, kind, opts, _ = ROWS[row]
    return [PY, "solver_driver.py", "--solver", solver_file(kind, net), "--weights", float_model(net, seed),
            "--seed", str(seed), "--out", os.path.join(OUT, f"{row}_s{seed}"), *opts]


def run(row: str, seed: int) -> dict:
    out = os.path.join(OUT, f"{row}_s{seed}")
    rep = os.path.join(out, "report.json")
    if not os.path.exists(rep):
        import shutil
        shutil.rmtree(out, ignore_errors=True)
        t = time.time()
        r = subprocess.run(command(row, seed), cwd=ROOT, env=ENV, capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit(f"run {row} seed {seed} failed:\n{r.stdout[-1500:]}\n{r.stderr[-1500:]}")
        print(f"  {row} seed {seed}: {time.time() - t:.0f} s", flush=True)
    with open(rep) as f:
        return json.load(f)


def ms(xs: list[float]) -> str:
    xs = [100 * x for x in xs]
    sd = statistics.stdev(xs) if len(xs) > 1 else 0.0
    return f"{statistics.mean(xs):.2f} ± {sd:.2f}"


def main() -> None:
    os.makedirs(OUT, exist_ok=True)
    print("float models", flush=True)
    with ThreadPoolExecutor(2) as ex:
        list(ex.map(lambda a: float_model(*a), [(n, s) for n in NETS for s in SEEDS]))
    print("INQ campaigns", flush=True)
    jobs = [(row, s) for row in ROWS for s in SEEDS]
    with ThreadPoolExecutor(2) as ex:
        reps = dict(zip(jobs, ex.map(lambda a: run(*a), jobs)))
    write_doc(reps)


def acc(rep: dict, key: str = "test_after_training") -> float:
    return rep["phases"][-1][key]["accuracy"]


def table(reps, rows, extra=None) -> list[str]:
    head = "| row | float accuracy % | INQ accuracy % | change (points) | per seed (INQ) |"
    out = [head, "|---|---|---|---|---|"]
    for row in rows:
        rs = [reps[(row, s)] for s in SEEDS]
        fl = [r["test_float"]["accuracy"] for r in rs]
        q = [acc(r) for r in rs]
        out.append(f"| {ROWS[row][3]} | {ms(fl)} | {ms(q)} | {ms([b - a for a, b in zip(fl, q)])} | "
                   + ", ".join(f"{100 * x:.1f}" for x in q) + " |")
    return out


def change(reps, row) -> tuple[float, float]:
    d = [100 * (acc(reps[(row, s)]) - reps[(row, s)]["test_float"]["accuracy"]) for s in SEEDS]
    return statistics.mean(d), statistics.stdev(d)


def answers(reps) -> list[str]:
    """Plain statements computed from the runs (so a rerun keeps them true)."""
    out = []
    held = [ROWS[r][3] for r in ("b5", "b4", "b3", "b2") if abs(change(reps, r)[0]) <= 0.5]
    lost = [f"{ROWS[r][3]} ({change(reps, r)[0]:+.2f})" for r in ("b5", "b4", "b3", "b2") if abs(change(reps, r)[0]) > 0.5]
    out.append(f"- Bit width: within 0.5 points of the float models: {', '.join(held) or 'none'}; "
               f"larger change: {', '.join(lost) or 'none'}.")
    for a, b, what in (("b5", "random", "random vs pruning-inspired partition"),
                       ("b5", "reference", "reference vs paper rule"),
                       ("it50", "it1000", "1000 vs 50 iterations per phase"),
                       ("lr_fixed", "lr_100x", "lr falling 100x vs fixed"),
                       ("b5", "momentum", "momentum kept vs reset"),
                       ("bn_default", "bn_every", "quantizing BatchNorm/Scale blob 0 vs leaving them float")):
        (ma, sa), (mb, sb) = change(reps, a), change(reps, b)
        verdict = "within the seed spread" if abs(mb - ma) <= max(sa, sb) else "beyond the seed spread"
        out.append(f"- {what}: {mb - ma:+.2f} points ({verdict}).")
    return out


def write_doc(reps: dict) -> None:
    from inq_layer.atomic import write_text_atomic
    L = ["# Replication on the digits/LeNet task", "",
         "Measured by `make replicate` (scripts/replicate.py) on this project's 2-core CPU machine "
         f"(two runs at a time, one BLAS thread each; the campaigns' phases add up to "
         f"{sum(p['seconds'] for r in reps.values() for p in r['phases']) / 60:.0f} minutes). Task: LeNet on the 5000 OpenCV/MNIST digits (4000 train, "
         "1000 test, `make data`). Each row: 3 seeds (1, 2, 3); the seed sets the float model's "
         "initialisation (`random_seed` of its `caffe train` solver) and `--seed` of the campaign. "
         "Values: test accuracy in %, mean ± sample standard deviation over the seeds, then the "
         "per-seed values. INQ retraining: prototxt/lenet_inq_solver.prototxt (400 iterations per "
         "phase, lr 0.002 falling 10x after 200, momentum 0.9, weight decay 0.0005), paper rule, "
         "pruning-inspired partition, unless the row says otherwise. The last phase runs 1 "
         "iteration, as the original.", "",
         "The paper's ImageNet numbers are beside ours for shape only: another task, another net.", ""]
    L += ["## Bit width (the paper's Table 3 shape)", "",
          "Schedules: 5 bits 0.5,0.75,0.875,1; 4 bits 0.3,0.5,0.8,0.9,0.95,1; 3 bits "
          "0.2,0.4,0.6,0.7,0.8,0.9,0.95,1; 2 bits 0.2,0.4,0.6,0.7,0.8,0.85,0.9,0.95,0.975,1 (the "
          "paper's ResNet-18 schedules).", ""]
    L += table(reps, ["b5", "b4", "b3", "b2"])
    L += ["", "Paper, ResNet-18 on ImageNet (Table 3, top-1 error %, as we read it): float 31.73; "
          "5 bits 31.02; 4 bits 31.11; 3 bits 31.92; 2 bits 33.98. Shape: no loss down to 4 bits, "
          "a small loss at 3, a clear one at 2.", ""]
    L += ["## Partition strategy (the paper's Table 2 shape)", ""]
    L += table(reps, ["b5", "random"])
    L += ["", "Paper: the pruning-inspired partition beats the random one (ResNet-18, 5 bits).", ""]
    L += ["## Reference rule (the original's re-selection) vs paper rule", ""]
    L += table(reps, ["b5", "reference", "orig_campaign"])
    L += ["", "Weights the original's re-selection unfreezes at each phase (frozen before, float "
          "again; mean over seeds, of 430,500 quantizable weights):", ""]
    for row in ("reference", "orig_campaign"):
        phases = [[p.get("unfrozen_by_reselection", 0) for p in reps[(row, s)]["phases"][1:]] for s in SEEDS]
        means = [statistics.mean(col) for col in zip(*phases)]
        L.append(f"- {ROWS[row][3]}: phases 2..: " + ", ".join(f"{m:,.0f}" for m in means))
    L += ["", "## The questions users keep asking", ""]
    L += ["### Iterations per phase", ""]
    L += table(reps, ["it50", "b5", "it1000"])
    L += ["", "### Learning-rate decay within a phase", ""]
    L += table(reps, ["lr_fixed", "b5", "lr_100x"])
    L += ["", "### Momentum between phases", "",
          "The original starts every phase with a fresh solver (momentum history zero); "
          "`--keep-momentum` carries it over.", ""]
    L += table(reps, ["b5", "momentum"])
    L += ["", "### BatchNorm and biases left float", "",
          "LeNet with BatchNorm + Scale after each convolution. Default: only convolution and "
          "fully-connected weights are quantized. `every-blob0`: blob 0 of every layer, BatchNorm "
          "running means and Scale gammas included, as the original code does.", ""]
    L += table(reps, ["bn_default", "bn_every"])
    L += ["", "## What the runs say", ""]
    L += answers(reps)
    L += ["", "Per phase, mean over seeds (accuracy % after quantizing -> after retraining):", ""]
    for row in ("b3", "b2", "bn_every"):
        rs = [reps[(row, s)] for s in SEEDS]
        steps = []
        for i, ph in enumerate(rs[0]["phases"]):
            aq = statistics.mean(r["phases"][i]["test_after_quantize"]["accuracy"] for r in rs)
            at = statistics.mean(r["phases"][i]["test_after_training"]["accuracy"] for r in rs)
            steps.append(f"{ph['portion']:g}: {100 * aq:.1f} -> {100 * at:.1f}")
        L.append(f"- {ROWS[row][3]}: " + "; ".join(steps))
    L += ["", "Solver variants (build/replicate/solvers/): `step` is prototxt/lenet_inq_solver.prototxt; "
          "`step50`/`step1000` the same with max_iter 50/1000 and the step at half; `fixed` has "
          "lr_policy fixed; `multistep` falls 10x at 200 and again at 300 (100x in all).", ""]
    L += ["## Commands", "", "Float models: `caffe train --solver=build/replicate/solvers/float_<net>_s<seed>.prototxt` "
          "(prototxt/lenet_solver.prototxt with random_seed = seed). Campaigns (seed 1 shown):", "", "```"]
    for row in ROWS:
        cmd = command(row, 1)[1:]
        L.append("python " + " ".join(os.path.relpath(c, ROOT) if c.startswith(ROOT) else c for c in cmd))
    L += ["```", ""]
    write_text_atomic(os.path.join(ROOT, "docs", "REPLICATION.md"), "\n".join(L))
    print("wrote docs/REPLICATION.md")


if __name__ == "__main__":
    main()
