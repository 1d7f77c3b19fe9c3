"""Calibration: each activation quantizer's f, chosen once from training batches before
the activations are first quantized, then kept.

The quantizers are not calibrated yet (they pass values through), so every quantizer sees
the values of the float activations. `max`: the finest step whose range holds the largest
magnitude seen (Ristretto's rule). `mse`: of that f and the finer ones (which clip more),
the one with the least squared error summed over the batches; it needs a second pass over
the same batches, on a net made afresh. Signedness: unsigned when no value seen is negative.
"""
from __future__ import annotations

import gc
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..core import fixed_point
from ..errors import InqError
from .act_placement import Quantizer

if TYPE_CHECKING:
    from caffe import Net

RULES = ("mse", "max")


@dataclass(frozen=True)
class Calibrated:
    bits: int
    f: int
    signed: bool
    max_abs: float  # the largest magnitude seen
    squared_error: float | None = None  # over the batches at f (mse rule)


def _scan(make_net: Callable[[], Net], qs: list[Quantizer], batches: int,
          seen: Callable[[Quantizer, np.ndarray], None]) -> None:
    """`seen(quantizer, its input)` for `batches` forward passes of a net made for them and
    released afterwards (its data layer reads the batches from the start)."""
    net = make_net()
    for _ in range(batches):
        net.forward()
        for q in qs:
            seen(q, net.blobs[q.bottom].data)
    del net
    gc.collect()


def calibrate(make_net: Callable[[], Net], qs: list[Quantizer], bits: int, batches: int,
              rule: str = "mse") -> dict[str, Calibrated]:
    """{quantizer name: Calibrated} from `batches` forward passes of the net `make_net()`
    builds (its quantizers not calibrated yet; made twice by the mse rule, each released
    before the next opens its data)."""
    if rule not in RULES:
        raise ValueError(f"unknown calibration rule {rule!r}: use one of {', '.join(RULES)}")
    fixed_point.check_bits(bits)
    top = {q.name: 0.0 for q in qs}
    signed = {q.name: False for q in qs}  # a negative value seen

    def extent(q: Quantizer, x: np.ndarray) -> None:
        if not np.isfinite(x).all():
            raise InqError(f"calibration: blob {q.bottom!r} (quantizer {q.name!r}) holds NaN or Inf values: "
                           f"the float model does not give finite activations")
        if x.size:
            top[q.name] = max(top[q.name], float(np.abs(x).max()))
            signed[q.name] |= bool(x.min() < 0)

    _scan(make_net, qs, batches, extent)
    f_max = {}
    for q in qs:
        if top[q.name] == 0:
            raise InqError(f"calibration: blob {q.bottom!r} (quantizer {q.name!r}) is 0 on every element of "
                           f"{batches} batches: no fixed-point step can be chosen for it")
        try:
            f_max[q.name] = fixed_point.f_for_max(top[q.name], bits, signed[q.name])
        except ValueError as e:
            raise InqError(f"calibration: blob {q.bottom!r}: largest magnitude {top[q.name]:g}: {e}") from None
    if rule == "max":
        return {q.name: Calibrated(bits, f_max[q.name], signed[q.name], top[q.name]) for q in qs}
    errors = {q.name: {f: 0.0 for f in fixed_point.mse_candidates(f_max[q.name])} for q in qs}

    def error(q: Quantizer, x: np.ndarray) -> None:
        for f in errors[q.name]:
            errors[q.name][f] += fixed_point.squared_error(x, bits, f, signed[q.name])

    _scan(make_net, qs, batches, error)
    out = {}
    for q in qs:
        e = errors[q.name]
        best = min(e, key=lambda f: (e[f], f))  # a tie keeps the wider range
        out[q.name] = Calibrated(bits, best, signed[q.name], top[q.name], e[best])
    return out
