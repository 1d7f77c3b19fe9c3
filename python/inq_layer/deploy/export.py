"""Deployable INQ models: caffemodel <-> .inq (b-bit exponent codes, see inq_format.py).

The command: python -m inq_layer.tools.export (tools/export.py).
"""
from __future__ import annotations


import numpy as np

from ..caffe_edge import caffe_io, probe
from ..atomic import write_bytes_atomic
from .check import check_model
from ..options import QuantOptions
from ..errors import InqError
from ..files import check_fits_memory, read_regular
from .inq_format import Entry, EntryHead, Quantizer, deserialize, serialize
from ..net.act_placement import calibrated


def model_quantizers(net, model_path: str) -> list[Quantizer]:
    """The calibrated activation quantizers of a net (none in a net without them)."""
    return [Quantizer(top, p["bits"], p["f"], p["signed"]) for _, top, p in calibrated(net, model_path)]


def _as_the_net_holds(arrays: dict[str, list[np.ndarray]], legacy: frozenset[tuple[str, int]],
                      model_path: str) -> frozenset[tuple[str, int]]:
    """Reshape the blobs stored in the old 4-D fields (1x1x4096x9216) in `arrays` to the
    shapes Caffe gives them in the net (4096x9216), so that the .inq holds those and --load
    writes a caffemodel Caffe copies; returns the ones that do not fit (the check names them)."""
    legacy = {k for k in legacy if k[0] in arrays}
    computed = probe.param_shapes(model_path) if legacy else None
    for n, i in sorted(legacy):
        shapes = (computed or {}).get(n, [])
        want = tuple(shapes[i]) if i < len(shapes) else None
        if want is not None and caffe_io.as_legacy(want) == arrays[n][i].shape:
            arrays[n][i] = arrays[n][i].reshape(want)
            legacy.discard((n, i))
    return frozenset(legacy)


def export_model(model_path: str, weights_path: str, options: QuantOptions, out: str) -> dict:
    """The .inq file of a checked INQ model at `out` (bits per layer from `options`) for the
    net `model_path` gives: layers of the caffemodel that net lacks (a deploy prototxt
    without the training-only heads) are left out, and listed. Its sizes, per layer and in
    all."""
    model = caffe_io.read_caffemodel(weights_path)
    arrays = caffe_io.model_arrays(model)
    net = caffe_io.read_net(model_path)
    names = {ly.name for ly in caffe_io.model_layers(net)}
    left_out = [n for n in arrays if n not in names]
    arrays = {n: a for n, a in arrays.items() if n in names}
    legacy = _as_the_net_holds(arrays, caffe_io.legacy_blobs(model), model_path)
    rows = check_model(model_path, weights_path, options, arrays, legacy=legacy)
    for r in rows:
        if r.violations:
            raise InqError(f"{weights_path}: layer {r.layer!r} fails the check ({r.violations} weights "
                           f"off the {r.bits}-bit grid, e.g. {r.first_bad!r}); run the INQ campaign first")
    coded = {(r.layer, r.index): r for r in rows if r.n1 is not None}
    _, alias = caffe_io.shared_in_prototxt(net, [(n, i) for n, arrs in arrays.items() for i in range(len(arrs))])
    # a blob that layers share is stored once, under its first layer; --load gives it to the others
    entries = [Entry(name, i, arr, (name, i) in coded, getattr(coded.get((name, i)), "n1", None),
                     bits=getattr(coded.get((name, i)), "bits", None))
               for name, arrs in arrays.items() for i, arr in enumerate(arrs) if (name, i) not in alias]
    data = serialize(entries, options.bits, model_quantizers(net, model_path))
    write_bytes_atomic(out, data)
    float_bytes = sum(e.array.size * 4 for e in entries)
    qw = sum(e.array.size for e in entries if e.coded)
    layers = [{"layer": e.layer, "index": e.index, "count": int(e.array.size), "bits": e.bits, "stored": e.stored,
               "bytes": e.nbytes, "sparsity": float(np.mean(e.array == 0)) if e.array.size else 0.0,
               "bits_per_weight": 8 * e.nbytes / max(e.array.size, 1)} for e in entries if e.coded]
    return {"float_bytes": float_bytes, "file_bytes": len(data), "quantized_weights": qw,
            "coded_bytes": sum(ly["bytes"] for ly in layers), "quantized_float_bytes": qw * 4, "layers": layers,
            "left_out": left_out}


def load_model(inq_path: str, model_path: str, out: str) -> int:
    data = read_regular(inq_path, ".inq")
    net = caffe_io.read_net(model_path)
    types = {ly.name: caffe_io.layer_type(ly) for ly in caffe_io.model_layers(net)}

    stored = [(ly.name, i) for ly in caffe_io.model_layers(net) for i in range(len(ly.param))]
    _, alias = caffe_io.shared_in_prototxt(net, stored)

    def fits_the_net(heads: list[EntryHead]) -> None:
        """Before decoding: every entry names a layer of the net, with the shapes it states,
        and all of them decoded fit in memory."""
        by_layer: dict[str, list[EntryHead]] = {}
        for h in heads:
            if h.layer not in types:
                raise InqError(f"{inq_path}: layer {h.layer!r} is not in {model_path}")
            by_layer.setdefault(h.layer, []).append(h)
        for (n, i), (ol, oi) in alias.items():
            if oi not in [h.index for h in by_layer.get(ol, [])]:
                raise InqError(f"{inq_path}: layer {n!r} shares blob {i} with layer {ol!r}, which the file lacks")
        for ly in caffe_io.model_layers(net):
            got = sorted([h.index for h in by_layer.get(ly.name, [])] + [i for (n, i) in alias if n == ly.name])
            want = caffe_io.expected_blobs(ly)
            twice = sorted({i for i in got if got.count(i) > 1})
            if twice:
                raise InqError(f"{inq_path}: layer {ly.name!r} has blob {twice[0]} twice")
            if want is not None and got != list(range(want)):
                raise InqError(f"{inq_path}: layer {ly.name!r} has blobs {got or 'none'}, {model_path} gives it "
                               f"{list(range(want)) or 'none'}: Caffe would not load the result")
            if want is None and got != list(range(len(got))):
                raise InqError(f"{inq_path}: layer {ly.name!r} has blobs {got}, not 0..{len(got) - 1}")
        # each layer's blobs by index, a shared one with its owner's shape (stored once, there)
        shapes = {n: {h.index: h.shape for h in hs} for n, hs in by_layer.items()}
        for (n, i), (ol, oi) in alias.items():
            shapes.setdefault(n, {})[i] = shapes[ol][oi]
        probe.check_shapes(model_path, net, {n: [s[i] for i in sorted(s)] for n, s in shapes.items()}, inq_path)
        check_fits_memory(sum(9 * h.count for h in heads), inq_path, f"{sum(h.count for h in heads):,} values")

    _, entries = deserialize(data, inq_path, check=fits_the_net)
    found = {(e.layer, e.index): e for e in entries}
    for (n, i), owner in alias.items():  # the sharing layers get the stored blob back
        found[(n, i)] = Entry(n, i, found[owner].array, found[owner].coded, found[owner].n1)
    by_layer: dict[str, list[Entry]] = {}
    for e in found.values():
        by_layer.setdefault(e.layer, []).append(e)
    pb = caffe_io.pb2()
    model = pb.NetParameter(name=net.name)
    for name in types:
        if name not in by_layer:
            continue
        layer = model.layer.add(name=name, type=types[name])
        for e in sorted(by_layer[name], key=lambda e: e.index):
            blob = layer.blobs.add()
            blob.shape.dim.extend(e.array.shape)
            blob.data.extend(e.array.reshape(-1).tolist())
    write_bytes_atomic(out, model.SerializeToString())
    return len(entries)
