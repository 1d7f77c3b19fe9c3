"""Iterative magnitude pruning with retraining (Han et al. 2015), the step before INQ on a
sparse model (the paper's Table 5):

    python -m inq_layer.tools.prune --solver S --weights W --sparsity 0.9 --out DIR
        [--steps 0.5,0.7,0.8,0.9] [--max-iter N] [--seed S]
    python -m inq_layer.tools.prune ... --sparsity conv1=0.6,conv2=0.8,ip1=0.95,ip2=0.8

What it writes and how: inq_layer.campaign.prune.
"""
from __future__ import annotations

from .interpreter import ensure_main

ensure_main(__name__)  # `python -m` with a Python that lacks numpy re-runs under build/venv

import sys
from decimal import Decimal

from ..campaign.phases import inputs_of
from ..campaign.prune import PruneSettings, default_steps, parse_sparsity, zero_counts
from ..core.partition import parse_schedule, target_count
from ..errors import InqError
from .command import ArgParser, cli_main
from .run_options import add_run_options, check_run_options
from ..campaign.run import run


@cli_main
def main(argv: list[str] | None = None) -> int:
    ap = ArgParser(prog="python -m inq_layer.tools.prune", description=__doc__.splitlines()[0])
    add_run_options(ap, weights_help="float caffemodel to prune", out_help="output folder (required)",
                    seed_help="recorded with the run (the solver's random_seed seeds Caffe)",
                    max_iter_help="retraining iterations per step (default: the solver's max_iter)")
    ap.add_argument("--sparsity", required=True, help="target: 0.9, or per layer conv1=0.6,ip1=0.95")
    ap.add_argument("--steps", help="sparsity steps (default: 1/2, 3/4, 9/10 and all of the target)")
    a = ap.parse_args(argv)
    if not a.out:
        raise InqError("--out is required (the output folder)")
    check_run_options(a)
    sparsity = parse_sparsity(a.sparsity)
    if a.steps:
        try:
            steps = parse_schedule(a.steps, "--steps")
        except ValueError as e:
            raise InqError(str(e)) from None
        if isinstance(sparsity, Decimal) and Decimal(steps[-1]) != sparsity:
            raise InqError(f"--steps must end at the target sparsity {sparsity}; it ends at {steps[-1]}")
    else:
        steps = default_steps(sparsity)

    from ..campaign.inputs import refuse_test_only_weights, solver_with_net_file, starting_weights, writable_out
    cfg = solver_with_net_file(a.solver)
    refuse_test_only_weights(cfg.net_path)
    weights = starting_weights(a.weights, a.init_from_fillers, None)
    out = writable_out(a.out, [cfg.path, cfg.net_path, weights])
    s = PruneSettings(campaign=steps, seed=a.seed, out=out, max_iter=a.max_iter, gpu=a.gpu,
                      weights=weights, sparsity=sparsity, inputs=inputs_of(cfg, weights))
    final = s.step_sparsity(len(steps) - 1)
    short: list[str] = []  # layers below their target

    def reached(record) -> tuple[bool, list[str]]:
        """Every layer has at least its target's count of zeros."""
        zeros = zero_counts(cfg.net_path, record.final_model)
        short.extend(n for n, (count, z) in zeros.items()
                     if z < target_count(count, final if isinstance(final, Decimal) else final.get(n, Decimal(0))))
        return not short, [f"{n:<20} {count:>11,} weights, {z:>11,} zero: sparsity {z / count:.2%}"
                           for n, (count, z) in zeros.items()]

    record, ok = run(cfg, s, a.resume, reached, "pruned model")
    if not ok:
        raise InqError(f"{record.final_model}: layers {', '.join(short)} are below their target sparsity")
    return 0


if __name__ == "__main__":
    sys.exit(main())
