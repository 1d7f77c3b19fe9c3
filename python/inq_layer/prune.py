"""Iterative magnitude pruning with retraining (Han et al. 2015), the step before INQ on a
sparse model (the paper's Table 5):

    python -m inq_layer.prune --solver S --weights W --sparsity 0.9 --out DIR
        [--steps 0.5,0.7,0.8,0.9] [--max-iter N] [--seed S]
    python -m inq_layer.prune ... --sparsity conv1=0.6,conv2=0.8,ip1=0.95,ip2=0.8

Each step zeroes the smallest-magnitude weights of every quantizable layer (Convolution,
Deconvolution, InnerProduct weights) up to that step's sparsity, holds them at 0 with the
freezer, and retrains with the solver's settings. The steps are the sparsities of a single
target; with per-layer targets they are fractions of each layer's target (a layer's
sparsity at step i = its target * steps[i] / steps[-1]). Snapshots, resume (--resume),
the log and the errors are the driver's. DIR/pruned.caffemodel is the result, for
`solver_driver.py --keep-zeros`; DIR/report.{json,md} give per step the per-layer sparsity
and the accuracy after pruning and after retraining.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from decimal import Decimal

from .campaign import Campaign, PhaseSettings
from .caffe_log import CaffeLog
from .errors import ArgParser, InqError, cli_main
from .partition import parse_portion, parse_schedule, target_count
from .scheduler import prune_net, summary


def parse_sparsity(text: str) -> Decimal | dict[str, Decimal]:
    """0.9, or conv1=0.6,ip1=0.95 (each in (0, 1))."""
    def one(v: str, where: str) -> Decimal:
        try:
            d = parse_portion(v)
        except ValueError as e:
            raise ValueError(f"--sparsity {where}{v}: {str(e).replace('portion ', '')}") from None
        if d >= 1:
            raise ValueError(f"--sparsity {where}{v}: must be below 1 (a layer cannot lose every weight)")
        return d
    if "=" not in text:
        return one(text.strip(), "")
    out = {}
    for item in text.split(","):
        name, eq, v = item.partition("=")
        if not eq or not name.strip() or not v.strip():
            raise ValueError(f"--sparsity item {item!r} is not layer=value")
        if name.strip() in out:
            raise ValueError(f"--sparsity names layer {name.strip()!r} twice")
        out[name.strip()] = one(v.strip(), f"{name.strip()}=")
    return out


def default_steps(target: Decimal | dict) -> list[str]:
    """Four steps to the target: half, three quarters, nine tenths, all of it."""
    top = target if isinstance(target, Decimal) else Decimal(1)
    return [str((top * f).normalize()) for f in (Decimal("0.5"), Decimal("0.75"), Decimal("0.9"), Decimal(1))]


@dataclass
class PruneSettings(PhaseSettings):
    """Phases that are pruning steps (every step trains the full max_iter)."""
    sparsity: Decimal | dict = Decimal("0.9")
    targets: dict = field(default_factory=dict)  # filled by layer_targets()

    final_name = "pruned.caffemodel"

    def record(self) -> dict:
        sp = self.sparsity
        return {"tool": "prune", "campaign": self.campaign, "quantize": self.quantize, "seed": self.seed,
                "sparsity": str(sp) if isinstance(sp, Decimal) else {k: str(v) for k, v in sp.items()},
                "keep_momentum": self.keep_momentum}

    def describe(self) -> str:
        return f"magnitude pruning, steps {','.join(self.campaign)} (sparsity {self.record()['sparsity']})"

    def step_sparsity(self, k: int) -> Decimal | dict:
        frac = Decimal(self.campaign[k]) / Decimal(self.campaign[-1])
        if isinstance(self.sparsity, Decimal):
            return self.sparsity * frac
        return {name: t * frac for name, t in self.sparsity.items()}

    def freeze(self, net, k: int, prev: dict | None, log: CaffeLog) -> dict:
        if isinstance(self.sparsity, dict):
            known = {name for name, _ in prev} if prev else set(net.params)
            missing = sorted(set(self.sparsity) - known)
            if missing:
                raise InqError(f"--sparsity names {', '.join(map(repr, missing))}, not a prunable layer of the net")
        blobs = prune_net(net, self.step_sparsity(k), prev, self.quantize)
        layers = summary(blobs)["layers"]
        log(f"Step {k + 1}/{len(self.campaign)}: pruned to sparsity "
            + ", ".join(f"{name} {ly['pruned_fraction']:.4f}" for name, ly in layers.items()))
        return blobs


@cli_main
def main(argv: list[str] | None = None) -> int:
    ap = ArgParser(prog="python -m inq_layer.prune", description=__doc__.splitlines()[0])
    ap.add_argument("--solver", required=True, help="solver prototxt (the retraining settings)")
    ap.add_argument("--weights", help="float caffemodel to prune")
    ap.add_argument("--init-from-fillers", action="store_true", help="start from the net's fillers (smoke runs)")
    ap.add_argument("--sparsity", required=True, help="target: 0.9, or per layer conv1=0.6,ip1=0.95")
    ap.add_argument("--steps", help="sparsity steps (default: 1/2, 3/4, 9/10 and all of the target)")
    ap.add_argument("--max-iter", type=int, help="retraining iterations per step (default: the solver's max_iter)")
    ap.add_argument("--seed", type=int, help="recorded with the run (the solver's random_seed seeds Caffe)")
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    ap.add_argument("--gpu", type=int, help="GPU id (overrides solver_mode)")
    a = ap.parse_args(argv)
    sparsity = parse_sparsity(a.sparsity)
    if a.steps:
        steps = parse_schedule(a.steps, "--steps")
        if isinstance(sparsity, Decimal) and Decimal(steps[-1]) != sparsity:
            raise InqError(f"--steps must end at the target sparsity {sparsity}; it ends at {steps[-1]}")
    else:
        steps = default_steps(sparsity)
    if a.max_iter is not None and a.max_iter < 1:
        raise InqError(f"--max-iter must be at least 1, got {a.max_iter}")

    from .check import check_model
    from .report import build_report, markdown, write_reports
    from .runner import campaign_log, solver_with_net_file, starting_weights, writable_out
    cfg = solver_with_net_file(a.solver)
    weights = starting_weights(a.weights, a.init_from_fillers, None)
    out = writable_out(a.out)
    s = PruneSettings(campaign=steps, seed=a.seed, out=out, max_iter=a.max_iter, gpu=a.gpu,
                      weights=weights, sparsity=sparsity)
    with campaign_log(out) as log:
        record = Campaign(cfg, s, log).run(a.resume)
        # Reached: every layer has at least its target's count of zeros (check's counts).
        rows = check_model(cfg.net_path, record.final_model, 8)
        final = s.step_sparsity(len(steps) - 1)
        short = [r.layer for r in rows if r.zeros < target_count(r.count, final if isinstance(final, Decimal)
                                                                  else final.get(r.layer, Decimal(0)))]
        for r in rows:
            print(f"{r.layer:<20} {r.count:>11,} weights, {r.zeros:>11,} zero: sparsity {r.zeros / r.count:.2%}")
        rep = build_report(record, not short)
        write_reports(out, rep)
        print(markdown(rep))
        print(f"pruned model: {record.final_model}\nreports: {out}/report.md, report.json, accuracy.png")
    if short:
        raise InqError(f"{record.final_model}: layers {', '.join(short)} are below their target sparsity")
    return 0


if __name__ == "__main__":
    sys.exit(main())
