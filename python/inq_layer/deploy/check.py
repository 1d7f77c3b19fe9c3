"""Check that a model is INQ-quantized: every quantizable weight is 0 or +-2^k with
n2 <= k <= n1, n1 from that blob's max |w|. Reads files with caffe_pb2; the blobs'
shapes are compared with the ones Caffe computes for the net (built in a child process).

The command: python -m inq_layer.tools.check (tools/check.py).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..caffe_edge import caffe_io, probe
from ..errors import InqError
from ..core.levels import n1_from_max, n2_from_n1
from ..net.layer_bits import check_layer_bits, check_shared_bits
from ..options import QuantOptions
from ..net.selection import quantizable_blobs


@dataclass
class BlobCheck:
    layer: str
    index: int
    count: int
    zeros: int
    exponents: list[int]
    n1: int | None
    n2: int | None
    violations: int
    first_bad: float | None
    bits: int


def check_array(w: np.ndarray, bits: int) -> tuple[int | None, int | None, list[int], int, float | None]:
    """(n1, n2, distinct exponents, violation count, first bad value) of one blob."""
    w = np.ascontiguousarray(w, np.float32).reshape(-1)
    fin = np.isfinite(w)
    m = float(np.max(np.abs(w[fin]))) if fin.any() else 0.0
    if m == 0.0:
        bad = ~fin
        return None, None, [], int(bad.sum()), (float(w[bad][0]) if bad.any() else None)
    n1 = n1_from_max(m)
    n2 = n2_from_n1(n1, bits)
    nz = w != 0
    mant, ex = np.frexp(np.abs(w.astype(np.float64)))
    k = ex.astype(np.int64) - 1
    ok = ~nz | (fin & (mant == 0.5) & (k >= n2) & (k <= n1))
    bad = ~ok
    return n1, n2, sorted(set(k[nz & ok].tolist())), int(bad.sum()), (float(w[bad][0]) if bad.any() else None)


def _bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, np.float32).view(np.uint32)


def check_model(model_path: str, weights_path: str, options: QuantOptions,
                arrays: dict[str, list[np.ndarray]] | None = None, phase: int | None = None,
                legacy: frozenset[tuple[str, int]] = frozenset()) -> list[BlobCheck]:
    """Check every quantizable blob (options.quantize says which), each on its layer's grid
    (options.bits_of); with `phase`, of the layers of that phase's net only (a campaign's
    final model holds its TRAIN net). `arrays` (caffe_io.model_arrays of weights_path)
    saves decoding the caffemodel again when the caller already has it (with its
    caffe_io.legacy_blobs as `legacy`)."""
    net = caffe_io.read_net(model_path)
    if arrays is None:
        model = caffe_io.read_caffemodel(weights_path)
        arrays, legacy = caffe_io.model_arrays(model), caffe_io.legacy_blobs(model)
    types = {ly.name: caffe_io.layer_type(ly) for ly in caffe_io.model_layers(net)
             if phase is None or caffe_io.in_phase(ly, phase)}
    probe.check_shapes(model_path, net, {n: [a.shape for a in arrs] for n, arrs in arrays.items()}, weights_path,
                       legacy)
    missing = [n for n in quantizable_blobs([(n, t, 1) for n, t in types.items()]) if n[0] not in arrays]
    if missing:
        raise InqError(f"{weights_path}: has no weights for layer {missing[0][0]!r} of {model_path}"
                       + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
    layers = [(name, types[name], len(arrays.get(name, []))) for name in types]
    keys = quantizable_blobs(layers, options.quantize)
    if not keys:
        raise InqError(f"{weights_path}: no quantizable layer of {model_path} has weights in it")
    check_layer_bits(options.layer_bits, types, [k[0] for k in keys], model_path)
    keys, alias = caffe_io.shared_in_prototxt(net, keys)
    check_shared_bits(options.bits_of, alias)
    out = []
    for layer, idx in keys:
        w = arrays[layer][idx]
        b = options.bits_of(layer)
        n1, n2, exps, nbad, first = check_array(w, b)
        # a layer that shares this blob (counted once, here) must hold the very same values
        for al, ai in [a for a, owner in alias.items() if owner == (layer, idx)]:
            if al in arrays and ai < len(arrays[al]):
                nbad += int(np.count_nonzero(_bits(arrays[al][ai]) != _bits(w)))
        out.append(BlobCheck(layer, idx, int(w.size), int(np.count_nonzero(w == 0)), exps, n1, n2, nbad, first, b))
    return out


def check_net_layer_bits(options: QuantOptions, model_path: str) -> None:
    """The options' layer bits checked against the net prototxt, before any training."""
    if not options.layer_bits:
        return
    layers = caffe_io.model_layers(caffe_io.read_net(model_path))
    types = {ly.name: caffe_io.layer_type(ly) for ly in layers}
    # every-blob0 quantizes any layer with blobs, which only Caffe knows (a ReLU has none, a
    # Scale has none with two bottoms): ask it, where it can build the TEST net here
    computed = probe.param_shapes(model_path) if options.quantize != "default" else None
    has_blobs = {ly.name: (computed is None or ly.name in computed or not caffe_io.in_phase(ly, caffe_io.TEST))
                 for ly in layers}
    keys = quantizable_blobs([(n, t, int(has_blobs[n])) for n, t in types.items()], options.quantize)
    check_layer_bits(options.layer_bits, types, [k[0] for k in keys], model_path)


def format_table(rows: list[BlobCheck]) -> str:
    lines = [f"{'layer':<20} {'count':>11} {'zeros':>10} {'sparsity':>8} {'bits':>4} {'n1':>5} {'n2':>5} "
             f"{'exponents':>9} {'violations':>10}"]
    for r in rows:
        lines.append(f"{r.layer:<20} {r.count:>11,} {r.zeros:>10,} {r.zeros / max(r.count, 1):>8.2%} {r.bits:>4} "
                     f"{str(r.n1):>5} {str(r.n2):>5} {len(r.exponents):>9} {r.violations:>10,}"
                     + (f"  first bad value {r.first_bad!r}" if r.violations else ""))
    return "\n".join(lines)


def passed(rows: list[BlobCheck]) -> bool:
    return not any(r.violations for r in rows)


def verdict(rows: list[BlobCheck]) -> str:
    """The check's one-line result, with the overall sparsity of the checked weights."""
    bad = sum(r.violations for r in rows)
    count, zeros = sum(r.count for r in rows), sum(r.zeros for r in rows)
    return (f"check {'passed' if not bad else 'FAILED'}: {len(rows)} blobs, {bad} violations, "
            f"sparsity {zeros / max(count, 1):.2%} ({zeros:,} of {count:,} weights are 0)")
