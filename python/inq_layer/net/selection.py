"""Which blobs INQ quantizes. The one place the driver, check and export ask."""
from __future__ import annotations

from typing import Callable, Hashable, Iterable

# Layer types whose blob 0 is a weight tensor; V1 (old prototxt) names beside the new ones.
WEIGHT_LAYER_TYPES = frozenset({
    "Convolution", "Deconvolution", "InnerProduct",
    "CONVOLUTION", "DECONVOLUTION", "INNER_PRODUCT",
})
MODES = ("default", "every-blob0")


def quantizable_blobs(layers: Iterable[tuple[str, str, int]], mode: str = "default") -> list[tuple[str, int]]:
    """(layer name, blob index) of every blob to quantize.

    `layers` yields (name, type, number of blobs). "default": blob 0 of convolution,
    deconvolution and inner-product layers; biases, BatchNorm and Scale stay float.
    "every-blob0": the original's rule, blob 0 of every layer that has blobs (BatchNorm
    running means and Scale gammas included, a known defect kept for reproduction).
    """
    if mode not in MODES:
        raise ValueError(f"unknown quantize mode {mode!r}: use one of {', '.join(MODES)}")
    out = []
    for name, ltype, nblobs in layers:
        if nblobs and (mode == "every-blob0" or ltype in WEIGHT_LAYER_TYPES):
            out.append((name, 0))
    return out


def owners(keys: list[tuple[str, int]], identity: Callable[[tuple[str, int]], Hashable | None]
           ) -> tuple[list[tuple[str, int]], dict[tuple[str, int], tuple[str, int]]]:
    """Blobs that several layers share (Caffe's `param { name }`) are quantized, frozen and
    counted once, as their first layer's. `identity(key)` says which memory or shared name
    a blob is; returns (the keys that own their blob, {alias key: owner key})."""
    first: dict = {}
    own, alias = [], {}
    for k in keys:
        ident = identity(k)
        owner = k if ident is None else first.setdefault(ident, k)
        if owner == k:
            own.append(k)
        else:
            alias[k] = owner
    return own, alias


def test_only_weights(net) -> list[str]:
    """Layers with weights (WEIGHT_LAYER_TYPES) of a train/test NetParameter that only its
    TEST net has and that do not share their weights (`param { name }`) with a TRAIN layer:
    no training updates them and no model the training saves holds them."""
    from ..caffe_edge.caffe_io import TEST, TRAIN, in_phase, layer_type, model_layers
    layers = model_layers(net)
    train_names = {p.name for ly in layers if in_phase(ly, TRAIN) for p in ly.param if p.name}
    return [ly.name for ly in layers
            if layer_type(ly) in WEIGHT_LAYER_TYPES and in_phase(ly, TEST) and not in_phase(ly, TRAIN)
            and not (ly.param and ly.param[0].name and ly.param[0].name in train_names)]
