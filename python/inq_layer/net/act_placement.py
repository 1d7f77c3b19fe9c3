"""Where the activation quantizers go, by rewriting a NetParameter (caffe_pb2):

- the input of every layer whose weights INQ quantizes (Convolution, Deconvolution,
  InnerProduct) is the output of a quantizer: one per blob value, shared by every layer
  that reads that value afterwards;
- the quantizer sits right after the last layer that writes the value: after the ReLU of
  a convolution, after the Eltwise sum and its ReLU in a residual block, after the data
  layers for the first layer's input;
- layers that keep a value on its grid (max pooling, dropout, flatten, reshape) need none
  of their own: the quantizer goes before them, on the value they pass on;
- a quantizer never runs in place: it gets a top of its own, and the layers after it read
  that name.

`deploy_net` turns the result into a deploy prototxt (Input layers, no loss or accuracy).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import InqError
from ..caffe_edge.caffe_io import TEST, TRAIN, pb2
from ..caffe_edge.caffe_io import in_phase as active
from .fixed_point_params import LAYER, MODULE, param_str, parse_param_str
from .selection import WEIGHT_LAYER_TYPES

if TYPE_CHECKING:
    from caffe.proto.caffe_pb2 import LayerParameter, NetParameter

PASS_THROUGH = {"Dropout", "Flatten", "Reshape"}  # values unchanged; MAX pooling too (_keeps_grid)
DATA_TYPES = {"Data", "ImageData", "HDF5Data", "MemoryData", "DummyData", "WindowData", "Input", "AnnotatedData"}


@dataclass(frozen=True)
class Quantizer:
    name: str  # the layer's name and its top
    bottom: str


def is_quantizer(ly: LayerParameter) -> bool:
    return ly.type == "Python" and ly.python_param.module == MODULE and ly.python_param.layer == LAYER


def quantizers(net: NetParameter) -> list[Quantizer]:
    return [Quantizer(ly.name, ly.bottom[0]) for ly in net.layer if is_quantizer(ly)]


def _keeps_grid(ly: LayerParameter) -> bool:
    if ly.type == "Pooling":
        return ly.pooling_param.pool == 0  # MAX
    return ly.type in PASS_THROUGH


def _writer(layers, i: int, blob: str) -> int | None:
    """The last layer before i that writes `blob` (in place or not)."""
    return next((j for j in range(i - 1, -1, -1) if blob in layers[j].top), None)


def _source(layers, i: int, blob: str) -> tuple[int, str]:
    """The layer and blob name whose value layer i reads as `blob`, through the layers
    that keep values on their grid."""
    while True:
        j = _writer(layers, i, blob)
        if j is None:
            raise InqError(f"layer {layers[i].name!r} reads blob {blob!r}, which no layer before it produces: "
                           f"it cannot get an activation quantizer")
        ly = layers[j]
        if not _keeps_grid(ly) or len(ly.bottom) != 1:
            return j, blob
        i, blob = j, ly.bottom[0]  # in place or not, its value is its bottom's


def _targets(net: NetParameter) -> list[tuple[int, str]]:
    """(layer index, bottom) of every input that a layer multiplies by its quantized weights.
    The same layers under both quantize modes: every-blob0 also quantizes BatchNorm's and
    Scale's blob 0 (the original's defect), but those layers stay float arithmetic."""
    return [(i, b) for i, ly in enumerate(net.layer) if ly.type in WEIGHT_LAYER_TYPES for b in ly.bottom]


def _names(net: NetParameter) -> set[str]:
    return {ly.name for ly in net.layer} | {t for ly in net.layer for t in ly.top}


def _unused(taken: set[str], base: str) -> str:
    """`base`, or `base` with the first number from 2 on that makes it a name not `taken`."""
    name, k = base, 2
    while name in taken:
        name, k = f"{base}{k}", k + 1
    return name


def _fresh(net: NetParameter, base: str) -> str:
    return _unused(_names(net), f"{base}_q")


def add_quantizers(net: NetParameter, bits: int) -> list[Quantizer]:
    """Rewrite `net` in place (a caffe_pb2 NetParameter): a quantizer of `bits` bits (not
    calibrated yet: it passes values through) in front of every quantized layer's input.
    A quantizer the net already holds is kept, and one that runs in place gets a top of
    its own. Returns the quantizers in net order."""
    if net.input or net.input_shape:
        raise InqError("the net declares its inputs with the legacy `input:` fields: use an Input layer")
    for ly in list(net.layer):
        if is_quantizer(ly) and ly.top[0] == ly.bottom[0]:
            _give_own_top(net, list(net.layer).index(ly))
    if not _targets(net):
        raise InqError("the net has no quantizable layer (Convolution, Deconvolution, InnerProduct): "
                       "there is nothing to quantize activations for")
    while True:
        layers = list(net.layer)
        todo = [(i, b) for i, b in _targets(net) if not is_quantizer(layers[_source(layers, i, b)[0]])]
        if not todo:
            return quantizers(net)
        j, blob = _source(layers, *todo[0])
        _insert(net, j, blob, bits)


def _rename_after(net: NetParameter, start: int, old: str, new: str) -> None:
    """Layers from `start` on read (and write in place) `new` for `old`, until one writes
    `old` afresh."""
    for ly in list(net.layer)[start:]:
        if old in ly.top and old not in ly.bottom:
            return
        for field in (ly.bottom, ly.top):
            for k, name in enumerate(field):
                if name == old:
                    field[k] = new


def _phases(net: NetParameter, new: str) -> list[int]:
    """The phases in which the quantizer's top (a name no layer had) is read. Its bottom
    exists in each of them in a net Caffe builds: the readers read that value before."""
    return [p for p in (TRAIN, TEST) if any(new in ly.bottom and active(ly, p) for ly in net.layer)]


def _insert(net: NetParameter, j: int, blob: str, bits: int) -> None:
    name = _fresh(net, blob)
    _rename_after(net, j + 1, blob, name)
    q = _quantizer_layer(name, blob, bits)
    phases = _phases(net, name)
    if phases == [TRAIN] or phases == [TEST]:
        q.include.add().phase = phases[0]
    layers = list(net.layer)
    del net.layer[:]
    net.layer.extend(layers[:j + 1] + [q] + layers[j + 1:])


def _quantizer_layer(name: str, bottom: str, bits: int) -> LayerParameter:
    q = pb2().LayerParameter()
    q.name, q.type = name, "Python"
    q.bottom.append(bottom)
    q.top.append(name)
    q.python_param.module, q.python_param.layer = MODULE, LAYER
    q.python_param.param_str = param_str(bits, None, False)
    return q


def _give_own_top(net: NetParameter, i: int) -> None:
    ly = net.layer[i]
    name = _fresh(net, ly.bottom[0])
    _rename_after(net, i + 1, ly.top[0], name)
    ly.top[0] = name


def set_quantizers(net: NetParameter, chosen: dict[str, tuple[int, int, bool]]) -> None:
    """Write each quantizer's bits, f and signedness ({name: (bits, f, signed)}) into its
    param_str, so the prototxt alone defines the model."""
    for ly in net.layer:
        if is_quantizer(ly) and ly.name in chosen:
            ly.python_param.param_str = param_str(*chosen[ly.name])


def without_quantizers(net: NetParameter) -> NetParameter:
    """A copy of `net` without its quantizers, every blob they wrote read under the name
    of the blob they quantized: the float net they were added to."""
    out = type(net)()
    out.CopyFrom(net)
    del out.layer[:]
    rename: dict[str, str] = {}
    for ly in net.layer:
        if is_quantizer(ly):
            rename[ly.top[0]] = rename.get(ly.bottom[0], ly.bottom[0])
            continue
        new = out.layer.add()
        new.CopyFrom(ly)
        for field in (new.bottom, new.top):
            for i, b in enumerate(field):
                field[i] = rename.get(b, b)
    return out


def _is_loss(ly: LayerParameter) -> bool:
    return ly.type.endswith("Loss") or ly.type == "Accuracy"


def deploy_net(net: NetParameter, shapes: dict[str, tuple[int, ...]]) -> NetParameter:
    """The TEST net of `net` for deployment: its data layers become one Input layer per
    data blob that the rest of the net reads (its shape from `shapes`, batch 1, the data
    layer's transform_param kept with it), losses and accuracies go, and so does every
    layer left reading a blob that no longer exists (the label's). Each SoftmaxWithLoss
    becomes a Softmax: the last one's output is "prob", an earlier one's (an auxiliary
    classifier's, as GoogLeNet's) "<its name>_prob". Blob names are kept."""
    out = type(net)()
    out.CopyFrom(net)
    del out.layer[:]
    out.ClearField("state")
    layers = [ly for ly in net.layer if active(ly, TEST)]
    data = [ly for ly in layers if ly.type in DATA_TYPES]
    rest = [ly for ly in layers if ly.type not in DATA_TYPES]
    read = {b for ly in rest if not _is_loss(ly) for b in ly.bottom}
    inputs = [(t, d) for d in data for t in d.top if t in read]
    if not inputs:
        raise InqError("the net has no data layer whose output the net reads: cannot make its deploy version")
    for top, d in inputs:
        if top not in shapes:
            raise InqError(f"no shape known for the data blob {top!r}")
        ly = out.layer.add()
        ly.name, ly.type = top, "Input"
        ly.top.append(top)
        ly.input_param.shape.add().dim.extend([1, *shapes[top][1:]])
        if d.HasField("transform_param"):
            ly.transform_param.CopyFrom(d.transform_param)
    have = {t for t, _ in inputs}
    taken = _names(net)
    last = next((ly for ly in reversed(rest) if ly.type == "SoftmaxWithLoss"), None)
    for ly in rest:
        if ly.type == "SoftmaxWithLoss":
            sm = out.layer.add()
            sm.name = _unused(taken, "prob" if ly is last else f"{ly.name}_prob")
            sm.type = "Softmax"
            sm.bottom.append(ly.bottom[0])
            sm.top.append(sm.name)
            taken.add(sm.name)
            continue
        if _is_loss(ly) or not all(b in have for b in ly.bottom):
            continue
        new = out.layer.add()
        new.CopyFrom(ly)
        del new.include[:]
        del new.exclude[:]
        have.update(new.top)
    return out


def calibrated(net: NetParameter, where: str) -> list[tuple[str, str, dict]]:
    """(layer name, top blob, {"bits", "f", "signed"}) of every quantizer of `net`, each
    calibrated (InqError naming it otherwise)."""
    out = []
    for ly in net.layer:
        if is_quantizer(ly):
            try:
                p = parse_param_str(ly.python_param.param_str)
            except ValueError as e:
                raise InqError(f"{where}: quantizer {ly.name!r}: {e}") from None
            if p["f"] is None:
                raise InqError(f"{where}: quantizer {ly.name!r} is not calibrated (its param_str has no f)")
            out.append((ly.name, ly.top[0], p))
    return out
