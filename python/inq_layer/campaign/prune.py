"""Iterative magnitude pruning with retraining (Han et al. 2015), the step before INQ on a
sparse model (the paper's Table 5).

Each step zeroes the smallest-magnitude weights of every quantizable layer (Convolution,
Deconvolution, InnerProduct weights) up to that step's sparsity, holds them at 0 with the
freezer, and retrains with the solver's settings. The steps are the sparsities of a single
target; with per-layer targets they are fractions of each layer's target (a layer's
sparsity at step i = its target * steps[i] / steps[-1]). Snapshots, resume (--resume),
the log and the errors are the driver's. DIR/pruned.caffemodel is the result, for
`solver_driver.py --keep-zeros`; DIR/report.{json,md} give per step the per-layer sparsity
and the accuracy after pruning and after retraining.

The command: python -m inq_layer.tools.prune (tools/prune.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from .phases import PhaseSettings
from ..caffe_edge.log_format import CaffeLog
from ..errors import InqError
from ..core.partition import target_count
from ..net.quantize_net import net_layers, prune_net, summary
from ..net.selection import quantizable_blobs

if TYPE_CHECKING:  # annotations only: pycaffe is not imported at load time
    from caffe import Net


def parse_sparsity(text: str) -> Decimal | dict[str, Decimal]:
    """0.9, or conv1=0.6,ip1=0.95 (each in (0, 1))."""
    def one(v: str, where: str) -> Decimal:
        try:
            d = Decimal(v)
        except InvalidOperation:
            raise InqError(f"--sparsity {where}{v}: not a decimal number") from None
        if not d.is_finite() or not 0 < d < 1:
            raise InqError(f"--sparsity {where}{v}: must be in (0, 1) (0 prunes nothing; a layer cannot lose "
                           f"every weight)")
        return d
    if "=" not in text:
        return one(text.strip(), "")
    out = {}
    for item in text.split(","):
        name, eq, v = item.partition("=")
        if not eq or not name.strip() or not v.strip():
            raise InqError(f"--sparsity item {item!r} is not layer=value")
        if name.strip() in out:
            raise InqError(f"--sparsity names layer {name.strip()!r} twice")
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
    seed: int | None = None  # recorded only: the solver's random_seed seeds Caffe
    quantize: str = "default"  # which blobs are prunable (the quantize modes)

    final_name = "pruned.caffemodel"

    def own_record(self) -> dict:
        sp = self.sparsity
        return {"tool": "prune", "campaign": self.campaign, "quantize": self.quantize, "seed": self.seed,
                "sparsity": str(sp) if isinstance(sp, Decimal) else {k: str(v) for k, v in sp.items()},
                "keep_momentum": self.keep_momentum}

    def describe(self) -> str:
        return f"magnitude pruning, steps {','.join(self.campaign)} (sparsity {self.own_record()['sparsity']})"

    def step_sparsity(self, k: int) -> Decimal | dict:
        frac = Decimal(self.campaign[k]) / Decimal(self.campaign[-1])
        if isinstance(self.sparsity, Decimal):
            return self.sparsity * frac
        return {name: t * frac for name, t in self.sparsity.items()}

    def _check_steps(self, net: Net) -> None:
        """Refuse, before any training, a step that names a layer the net cannot prune or
        would prune every weight of a layer."""
        keys = quantizable_blobs(net_layers(net), self.quantize)
        if isinstance(self.sparsity, dict):
            missing = sorted(set(self.sparsity) - {n for n, _ in keys})
            if missing:
                raise InqError(f"--sparsity names {', '.join(map(repr, missing))}, not a prunable layer of the net")
        for j in range(len(self.campaign)):
            step = self.step_sparsity(j)
            for layer, idx in keys:
                size = net.params[layer][idx].data.size
                target = step.get(layer, Decimal(0)) if isinstance(step, dict) else step
                if target > 0 and target_count(size, target) >= size > 0:
                    raise InqError(f"sparsity {target} would prune every one of the {size:,} weights of layer "
                                   f"{layer!r} (step {j + 1}); give a lower sparsity")

    def freeze(self, net: Net, k: int, prev: dict | None, log: CaffeLog) -> dict:
        if prev is None:  # before the first step trains: every step must be one the net can take
            self._check_steps(net)
        blobs = prune_net(net, self.step_sparsity(k), prev, self.quantize)
        layers = summary(blobs)["layers"]
        log(f"Step {k + 1}/{len(self.campaign)}: pruned to sparsity "
            + ", ".join(f"{name} {ly['pruned_fraction']:.4f}" for name, ly in layers.items()))
        return blobs


def zero_counts(net_path: str, weights_path: str) -> dict[str, tuple[int, int]]:
    """(weights, zeros) of blob 0 of every prunable layer of a caffemodel."""
    from ..caffe_edge import caffe_io
    from ..net.selection import quantizable_blobs
    arrays = caffe_io.model_arrays(caffe_io.read_caffemodel(weights_path))
    types = {ly.name: caffe_io.layer_type(ly) for ly in caffe_io.model_layers(caffe_io.read_net(net_path))}
    keys = quantizable_blobs([(n, t, len(arrays.get(n, []))) for n, t in types.items()])
    return {n: (int(arrays[n][i].size), int((arrays[n][i] == 0).sum())) for n, i in keys}
