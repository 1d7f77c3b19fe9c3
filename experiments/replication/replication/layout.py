"""Where the replication's files live, and the command lines of its runs (shown by the doc,
run by the runner)."""
from __future__ import annotations

import os

from .plan import NETS, PRUNES, ROWS, Prune, REGIMES

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))  # the checkout
OUT = os.path.join(ROOT, "build", "replicate_fashion")  # runs (not committed)
RESULTS = os.path.join(ROOT, "docs", "replication")  # committed: one JSON per finished run
DOCS = os.path.join(ROOT, "docs")
DOC = os.path.join(DOCS, "REPLICATION.md")


def rel(path: str) -> str:
    return os.path.relpath(path, ROOT) if path.startswith(ROOT) else path


def solver_path(regime: str, net: str, seed: int | None = None) -> str:
    return os.path.join(OUT, "solvers", f"{regime}_{net}" + (f"_s{seed}" if seed else "") + ".prototxt")


def float_prefix(net: str, seed: int) -> str:
    """The float training's snapshot prefix (and log, without .log)."""
    return os.path.join(OUT, f"float_{net}_s{seed}")


def float_path(net: str, seed: int) -> str:
    return float_prefix(net, seed) + ".caffemodel"


def run_dir(name: str, seed: int) -> str:
    """The --out folder of a row's or a pruning's run."""
    return os.path.join(OUT, f"{name}_s{seed}")


def pruned_path(prune: str, seed: int) -> str:
    return os.path.join(run_dir(prune, seed), "pruned.caffemodel")


def prune_seed(p: Prune, seed: int) -> int | None:
    """A float-based solver is written per seed (its random_seed); the others are shared."""
    return seed if REGIMES[p.regime].base == "float" else None


def prune_command(prune: str, seed: int) -> list[str]:
    """The prune tool's arguments after `python`."""
    p = PRUNES[prune]
    start = pruned_path(p.start, seed) if p.start else float_path("lenet", seed)
    return ["-m", "inq_layer.tools.prune", "--solver", solver_path(p.regime, "lenet", prune_seed(p, seed)),
            "--weights", start, "--sparsity", p.sparsity, "--steps", p.steps, "--seed", str(seed),
            "--out", run_dir(prune, seed)]


def start_model(row: str, seed: int) -> str:
    r = ROWS[row]
    return pruned_path(r.start, seed) if r.pruned else float_path(r.net, seed)


def driver_command(row: str, seed: int) -> list[str]:
    """solver_driver.py's arguments after `python`."""
    r = ROWS[row]
    return ["solver_driver.py", "--solver", solver_path(r.regime, r.net), "--weights", start_model(row, seed),
            "--seed", str(seed), "--out", run_dir(row, seed), *r.options()]


def prototxt(net: str) -> str:
    return os.path.join(ROOT, NETS[net].prototxt)
