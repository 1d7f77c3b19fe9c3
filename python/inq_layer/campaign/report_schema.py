"""report.json as typed records: what a campaign or a pruning measured, read back.

report.py writes the file and renders it through these records; the replication's
renderer reads its kept results through the same ones, so a field is named in one place.
Every field is type-checked: a damaged or hand-edited file is one error line.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from ..errors import InqError

Metrics = dict[str, float]  # test output name -> value (accuracy, loss, ...)


def field_of(d: dict, key: str, types: type | tuple[type, ...], where: str, default: Any = ...) -> Any:
    """d[key] if it has one of `types` (bool is not an int here); InqError naming it otherwise."""
    if key not in d:
        if default is not ...:
            return default
        raise InqError(f"{where}: no field {key!r}")
    v = d[key]
    if not isinstance(v, types) or (isinstance(v, bool) and bool not in _tuple(types)):
        raise InqError(f"{where}: field {key!r} is {type(v).__name__} {v!r}, not {_names(types)}")
    return v


def _tuple(types: type | tuple[type, ...]) -> tuple[type, ...]:
    return types if isinstance(types, tuple) else (types,)


def _names(types: type | tuple[type, ...]) -> str:
    return " or ".join("null" if t is type(None) else t.__name__ for t in _tuple(types))


def metrics_of(d: dict, key: str, where: str) -> Metrics:
    """d[key] as {name: number} ({} when absent or null; a null value is NaN, which JSON
    cannot hold)."""
    m = field_of(d, key, (dict, type(None)), where, None) or {}
    for name, v in m.items():
        if v is not None and (not isinstance(v, (int, float)) or isinstance(v, bool)):
            raise InqError(f"{where}: {key}.{name} is {v!r}, not a number")
    return {k: float("nan") if v is None else float(v) for k, v in m.items()}


def json_safe(value: Any) -> Any:
    """`value` with every NaN or infinity made null: JSON has no such numbers, and a file
    with a bare NaN is not JSON to other readers."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_safe(v) for v in value]
    return value


NUM = (int, float)
OPT_INT = (int, type(None))


@dataclass(frozen=True)
class LayerStats:
    count: int
    frozen_fraction: float
    n1: int | None
    n2: int | None
    zero_fraction: float
    pruned_fraction: float
    bits: int | None  # the layer's own bit width (None: a pruning, or an older report)

    def to_json(self) -> dict:
        """FrozenBlob.counts()'s form."""
        d = {"count": self.count, "frozen_fraction": self.frozen_fraction, "zero_fraction": self.zero_fraction,
             "pruned_fraction": self.pruned_fraction, "n1": self.n1, "n2": self.n2}
        return d if self.bits is None else {**d, "bits": self.bits}

    @classmethod
    def parse(cls, d: dict, where: str) -> LayerStats:
        if not isinstance(d, dict):
            raise InqError(f"{where}: not an object")
        return cls(field_of(d, "count", int, where), float(field_of(d, "frozen_fraction", NUM, where)),
                   field_of(d, "n1", OPT_INT, where, None), field_of(d, "n2", OPT_INT, where, None),
                   float(field_of(d, "zero_fraction", NUM, where, 0.0)),
                   float(field_of(d, "pruned_fraction", NUM, where, 0.0)), field_of(d, "bits", OPT_INT, where, None))


@dataclass(frozen=True)
class Phase:
    """One finished phase: the one schema of campaign.json's phases and report.json's."""
    portion: float
    frozen_fraction: float  # over all quantizable weights (weighted by blob size)
    iterations: int
    seconds: float
    test_after_quantize: Metrics
    test_after_training: Metrics
    layers: dict[str, LayerStats]
    unfrozen_by_reselection: int | dict | None  # reference rule, from phase 2 on
    final_state: str | None  # the phase's last .inqstate.npz, relative to --out (the record's)
    saturated: dict | None  # quantizer -> fraction of its test inputs saturated (activations in)

    @classmethod
    def parse(cls, d: dict, where: str) -> Phase:
        if not isinstance(d, dict):
            raise InqError(f"{where}: not an object")
        layers = field_of(d, "layers", dict, where)
        saturated = field_of(d, "saturated", (dict, type(None)), where, None)
        acts = field_of(d, "activations", (dict, type(None)), where, None)  # report.json's form
        if saturated is None and acts is not None:
            saturated = {n: a.get("saturated") if isinstance(a, dict) else a for n, a in acts.items()}
        for name, v in (saturated or {}).items():
            if v is not None and (isinstance(v, bool) or not isinstance(v, NUM) or not 0 <= v <= 1):
                raise InqError(f"{where}: saturated.{name} is {v!r}, not a fraction")
        return cls(float(field_of(d, "portion", NUM, where)), float(field_of(d, "frozen_fraction", NUM, where)),
                   field_of(d, "iterations", int, where), float(field_of(d, "seconds", NUM, where)),
                   metrics_of(d, "test_after_quantize", where), metrics_of(d, "test_after_training", where),
                   {n: LayerStats.parse(v, f"{where} layer {n!r}") for n, v in layers.items()},
                   field_of(d, "unfrozen_by_reselection", (int, dict, type(None)), where, None),
                   field_of(d, "final_state", (str, type(None)), where, None), saturated)

    def to_json(self, activations: dict | None = None) -> dict:
        """campaign.json's form; with `activations` (the record's quantizers), report.json's:
        no state path, and the quantizers with what this phase saturated."""
        d = {"portion": self.portion, "frozen_fraction": self.frozen_fraction,
             "layers": {n: ly.to_json() for n, ly in self.layers.items()},
             "test_after_quantize": self.test_after_quantize, "test_after_training": self.test_after_training,
             "iterations": self.iterations, "seconds": self.seconds,
             "unfrozen_by_reselection": self.unfrozen_by_reselection}
        if activations is None:
            d["final_state"] = self.final_state
            if self.saturated is not None:
                d["saturated"] = self.saturated
        elif self.saturated is not None:
            d["activations"] = {n: {**{k: q[k] for k in ("bits", "f", "signed")}, "saturated": self.saturated.get(n)}
                                for n, q in activations.items()}
        return d


@dataclass(frozen=True)
class Size:
    """The final model exported to .inq (kept by the replication for pruned rows)."""
    file_bytes: int
    float_bytes: int
    sparsity: float


@dataclass(frozen=True)
class Report:
    tool: str  # "inq" (solver_driver.py) or "prune"
    settings: dict  # every other top-level field, as written (campaign, bits, seed, ...)
    test_float: Metrics
    phases: list[Phase]
    final_model: str | None
    check_passed: bool
    init_from_fillers: bool
    size: Size | None
    raw: dict = field(repr=False)  # the decoded file as read

    def get(self, key: str, default: Any = None) -> Any:
        return self.settings.get(key, default)

    def accuracy(self, key: str = "test_after_training") -> float:
        """The last phase's test accuracy in %."""
        return 100 * getattr(self.phases[-1], key)["accuracy"]

    def float_accuracy(self) -> float:
        return 100 * self.test_float["accuracy"]

    def seconds(self) -> float:
        return sum(p.seconds for p in self.phases)


_OWN = ("tool", "test_float", "phases", "final_model", "check_passed", "init_from_fillers", "size")


def parse_report(d: object, where: str = "report.json") -> Report:
    """A Report from report.json's decoded content; InqError names the field that is wrong."""
    if not isinstance(d, dict):
        raise InqError(f"{where}: not a JSON object")
    phases = field_of(d, "phases", list, where)
    size = field_of(d, "size", (dict, type(None)), where, None)
    if size is not None:
        size = Size(field_of(size, "file_bytes", int, where), field_of(size, "float_bytes", int, where),
                    float(field_of(size, "sparsity", NUM, where)))
    return Report(tool=field_of(d, "tool", str, where, "inq"),
                  settings={k: v for k, v in d.items() if k not in _OWN},
                  test_float=metrics_of(d, "test_float", where),
                  phases=[Phase.parse(p, f"{where} phase {i + 1}") for i, p in enumerate(phases)],
                  final_model=field_of(d, "final_model", (str, type(None)), where, None),
                  check_passed=field_of(d, "check_passed", bool, where),
                  init_from_fillers=field_of(d, "init_from_fillers", bool, where, False), size=size, raw=d)


def load_report(path: str) -> Report:
    try:
        with open(path) as f:
            d = json.load(f)
    except OSError as e:
        raise InqError(f"{path}: cannot read ({e.strerror})") from None
    except ValueError as e:
        raise InqError(f"{path}: not JSON ({e})") from None
    return parse_report(d, path)
