"""The quantization options, one frozen object validated once where it is made: the
commands build it from argparse, the library takes it (quantize_net, the campaign), and
the campaign record and the report are written from it."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType

from .core import fixed_point
from .core.levels import MAX_BITS, MIN_BITS, check_bits
from .core.quantize import N1_RULES, RULES, STRATEGIES
from .errors import InqError
from .net.selection import MODES

SEED_MAX = 2**32 - 1  # numpy's SeedSequence entropy and Caffe's random_seed (uint32 after the cast)
CALIBRATIONS = ("mse", "max")
ACT_FROM = ("start", "end")


def parse_assignments(text: str | None, option: str, what: str = "BITS") -> dict[str, str]:
    """{name: value} from "name=value,name=value" (None or "" gives {}): split at the last
    `=`, no empty item, no name twice."""
    out: dict[str, str] = {}
    if not text:
        return out
    for part in (p.strip() for p in text.split(",")):
        if not part:
            raise InqError(f"{option} {text!r} has an empty item (a stray comma?)")
        name, eq, value = part.rpartition("=")
        if not eq or not name.strip() or not value.strip():
            raise InqError(f"{option}: {part!r} is not LAYER={what}")
        name = name.strip()
        if name in out:
            raise InqError(f"{option}: layer {name!r} is given twice")
        out[name] = value.strip()
    return out


def parse_layer_bits(text: str | None, option: str = "--layer-bits") -> dict[str, int]:
    """{layer: bits} from "name=bits,name=bits" (None or "" gives {})."""
    out = {}
    for name, value in parse_assignments(text, option).items():
        try:
            bits = int(value)
        except ValueError:
            raise InqError(f"{option}: '{name}={value}': bits {value!r} is not an integer") from None
        if not MIN_BITS <= bits <= MAX_BITS:
            raise InqError(f"{option}: '{name}={value}': bits must be in {MIN_BITS}..{MAX_BITS}")
        out[name] = bits
    return out


def format_layer_bits(layer_bits: Mapping[str, int]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(layer_bits.items()))


def _choice(what: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise InqError(f"unknown {what} {value!r}: use one of {', '.join(allowed)}")


def _int(what: str, value, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InqError(f"{what} must be an integer in {low}..{high}, got {value!r}")


@dataclass(frozen=True)
class QuantOptions:
    """How a net is quantized: weights (bits, per-layer bits, rule, partition, n1 rule,
    seed, which blobs, zeros kept) and, with act_bits, its activations."""
    bits: int = 5
    layer_bits: Mapping[str, int] = field(default_factory=dict)
    rule: str = "paper"
    strategy: str = "magnitude"
    n1_rule: str = "max"
    seed: int | None = None
    quantize: str = "default"
    keep_zeros: bool = False
    act_bits: int | None = None  # None: activations stay float
    act_calibration: str = "mse"
    act_calibration_batches: int = 20
    act_from: str = "start"  # quantizers in from phase 1, or in an extra phase at the end

    def __post_init__(self) -> None:
        try:
            check_bits(self.bits)
        except ValueError as e:
            raise InqError(str(e)) from None
        for name, b in self.layer_bits.items():
            _int(f"layer bits: layer {name!r}: bits", b, MIN_BITS, MAX_BITS)
        object.__setattr__(self, "layer_bits", MappingProxyType(dict(sorted(self.layer_bits.items()))))
        _choice("rule", self.rule, RULES)
        _choice("strategy", self.strategy, STRATEGIES)
        _choice("n1 rule", self.n1_rule, N1_RULES)
        _choice("quantize mode", self.quantize, MODES)
        if self.seed is not None:
            _int("--seed", self.seed, 0, SEED_MAX)
        if self.act_bits is not None:
            _int("--act-bits", self.act_bits, fixed_point.MIN_BITS, fixed_point.MAX_BITS)
        _choice("activation calibration", self.act_calibration, CALIBRATIONS)
        _int("--act-calibration-batches", self.act_calibration_batches, 1, 2**31 - 1)
        _choice("--act-from", self.act_from, ACT_FROM)

    def bits_of(self, layer: str) -> int:
        return self.layer_bits.get(layer, self.bits)

    def record(self) -> dict:
        """The options as the campaign record holds them; fields at their off value are left
        out where older records lack them, so those campaigns resume unchanged."""
        rec = {"bits": self.bits, "rule": self.rule, "strategy": self.strategy, "seed": self.seed,
               "quantize": self.quantize, "n1_rule": self.n1_rule, "keep_zeros": self.keep_zeros}
        if self.layer_bits:
            rec["layer_bits"] = dict(self.layer_bits)
        if self.act_bits is not None:
            rec.update(act_bits=self.act_bits, act_calibration=self.act_calibration,
                       act_calibration_batches=self.act_calibration_batches, act_from=self.act_from)
        return rec

    @classmethod
    def from_record(cls, rec: Mapping) -> QuantOptions:
        """The options a record() holds (other keys are ignored)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in rec.items() if k in names})

    def describe(self) -> str:
        own = f", {format_layer_bits(self.layer_bits)}" if self.layer_bits else ""
        act = (f", activations {self.act_bits} bits ({self.act_calibration} calibration, from the "
               f"{self.act_from})" if self.act_bits is not None else "")
        return (f"{self.bits} bits{own}, {self.rule} rule, {self.strategy} partition, n1 rule "
                f"{self.n1_rule}{act}")
