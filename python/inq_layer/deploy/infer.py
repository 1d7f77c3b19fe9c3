"""Integer inference over a Datum database: a deploy prototxt with its quantizers and the
model's weights, the images transformed as the net's data layer would (transform_param,
kept on the deploy net's Input layer: scale, mean_value or mean_file, centre crop), the
integer engine, the top-1 (and top-5) accuracy, the predictions, the blobs."""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from ..caffe_edge import caffe_io, probe
from ..datasets.datum_db import record_array, records
from ..errors import InqError
from ..net.act_placement import is_quantizer
from .engine import Engine, Value
from .infer_calibration import ActCalibration

CALIBRATION_BATCH = 100


@dataclass
class Model:
    engine: Engine
    input: str  # the Input layer's top
    shape: tuple[int, ...]  # C x H x W the net takes
    transform: object  # caffe_pb2.TransformationParameter
    output: str  # the logits blob
    mean: np.ndarray | None = None
    calibration: str | None = None  # how quantizers calibrated at inference came to be
    net: object = None  # the deploy NetParameter the engine runs (with those quantizers)


def inq_weights(inq_path: str, net, model_path: str, weight_only: bool = False) -> dict[str, list[np.ndarray]]:
    """The blobs of a .inq file ({layer: [arrays]}), after its quantizers are found equal
    to the deploy net's: the two files must describe one model. `weight_only`: the file
    must hold no quantizers (they are calibrated at inference)."""
    from ..files import read_regular
    from .export import model_quantizers
    from .inq_format import deserialize, read_quantizers
    data = read_regular(inq_path, ".inq")
    have = read_quantizers(data, inq_path)
    if weight_only and have:
        raise InqError(f"{inq_path} holds calibrated activation quantizers: run it without --act-bits, with "
                       f"the inq_deploy.prototxt it was exported from")
    want = [] if weight_only else model_quantizers(net, model_path)
    if not have and not weight_only:
        raise InqError(f"{inq_path} holds no activation quantizers (a weight-only model, or format version 1 "
                       f"to 3): give --act-bits to calibrate them now, or export the inq_deploy.prototxt of a "
                       f"campaign with --act-bits")
    if have != want:
        diff = sorted({q.name for q in set(have) ^ set(want)})
        raise InqError(f"{model_path} does not match {inq_path}: quantizers {', '.join(diff)} differ "
                       f"(bits, f or signedness)")
    out: dict[str, list[np.ndarray]] = {}
    for e in sorted(deserialize(data, inq_path)[1], key=lambda e: (e.layer, e.index)):
        out.setdefault(e.layer, []).append(e.array)
    return out


def load(model_path: str, weights_path: str | None = None, inq_path: str | None = None,
         float_layers: tuple[str, ...] = (), act: ActCalibration | None = None) -> Model:
    """The deploy net and its weights (a caffemodel, or an .inq file with its quantizers),
    checked before any image is read; layers of the types in `float_layers` run in float.
    With `act`, the net is a weight-only one: its quantizers are added and calibrated now."""
    net = caffe_io.read_net(model_path)
    if act is not None and any(is_quantizer(ly) for ly in net.layer):
        raise InqError(f"{model_path} has activation quantizers already: --act-bits is for a weight-only deploy "
                       f"net (run this one without it)")
    inputs = [ly for ly in net.layer if ly.type == "Input"]
    if len(inputs) != 1 or len(inputs[0].top) != 1:
        raise InqError(f"{model_path}: the integer engine takes a deploy net with one Input layer of one top "
                       f"(inq_deploy.prototxt), not {len(inputs)}")
    shape = tuple(int(d) for d in inputs[0].input_param.shape[0].dim[1:]) if inputs[0].input_param.shape else ()
    if len(shape) != 3:
        raise InqError(f"{model_path}: Input {inputs[0].name!r} must give N x C x H x W, got {shape}")
    if (weights_path is None) == (inq_path is None):
        raise InqError("give the weights either as a caffemodel or as an .inq file")
    if act is None and not any(is_quantizer(ly) for ly in net.layer):
        raise InqError(f"{model_path} has no activation quantizers: a weight-only model runs with --act-bits B "
                       f"(calibrated now), a campaign with --act-bits writes inq_deploy.prototxt")
    if inq_path:
        weights, legacy = inq_weights(inq_path, net, model_path, act is not None), frozenset()
    else:
        model = caffe_io.read_caffemodel(weights_path)
        weights, legacy = caffe_io.model_arrays(model), caffe_io.legacy_blobs(model)
    source = inq_path or weights_path
    names = {ly.name for ly in net.layer}
    probe.check_shapes(model_path, net, {n: [a.shape for a in arrs] for n, arrs in weights.items() if n in names},
                       source, legacy)
    for ly in net.layer:
        if ly.type in ("Convolution", "InnerProduct", "BatchNorm", "Scale") and ly.name not in weights:
            raise InqError(f"{source}: has no weights for layer {ly.name!r} of {model_path}")
    last = [ly for ly in net.layer if ly.type not in ("Softmax", "Input")]
    if not last:
        raise InqError(f"{model_path}: no layer computes an output")
    t = inputs[0].transform_param
    mean = None
    if t.HasField("mean_file"):
        b = caffe_io.read_binary_proto(t.mean_file, caffe_io.pb2().BlobProto(), "mean file")
        mean = caffe_io.blob_array(b).reshape(-1, *caffe_io.blob_shape(b)[-2:]).astype(np.float32)
    m = Model(Engine(net, weights, float_layers), inputs[0].top[0], shape, t, last[-1].top[0], mean)
    if act is not None:
        from .infer_calibration import calibrate_weight_only
        batches_needed = -(-act.images // CALIBRATION_BATCH)
        q_net, chosen = calibrate_weight_only(
            net, model_path, weights, source, m.input,
            lambda: (x for x, _ in batches(m, act.data, CALIBRATION_BATCH, act.images)), batches_needed, act)
        m.engine, m.net = Engine(q_net, weights, float_layers), q_net
        m.calibration = (f"activations: {act.bits} bits, calibrated now ({act.rule}) on the first "
                         f"{act.images:,} images of {act.data}; the model was not trained with them "
                         f"({len(chosen)} quantizers)")
    return m


def transformed(m: Model, image: np.ndarray) -> np.ndarray:
    """One Datum's C x H x W array as Caffe's DataTransformer gives it at test time."""
    t, (c, h, w) = m.transform, m.shape
    x = image.astype(np.float32)
    if x.shape[0] != c:
        raise InqError(f"an image has {x.shape[0]} channels, the net takes {c}")
    crop = t.crop_size
    oy, ox = ((x.shape[1] - crop) // 2, (x.shape[2] - crop) // 2) if crop else (0, 0)
    if m.mean is not None:
        x = x - m.mean
    elif len(t.mean_value):
        mv = np.array(list(t.mean_value) * (c if len(t.mean_value) == 1 else 1), np.float32)[:c]
        x = x - mv[:, None, None]
    if crop:
        x = x[:, oy:oy + crop, ox:ox + crop]
    if x.shape[1:] != (h, w):
        raise InqError(f"an image transforms to {x.shape[1]} x {x.shape[2]}, the net takes {h} x {w}")
    return x * np.float32(t.scale) if t.HasField("scale") else x


def batches(m: Model, db: str, size: int, limit: int | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(images, labels) of the database in its order, `size` at a time; the first `limit`
    images only when given."""
    it, _ = records(db)
    xs, ys = [], []
    seen = 0
    for key, value in it:
        if limit is not None and seen == limit:
            break
        seen += 1
        a, label = record_array(value, db, key)
        xs.append(transformed(m, a))
        ys.append(label)
        if len(xs) == size:
            yield np.stack(xs), np.array(ys)
            xs, ys = [], []
    if xs:
        yield np.stack(xs), np.array(ys)


@dataclass
class Result:
    images: int = 0
    top1: int = 0
    top5: int = 0
    classes: int = 0
    predictions: list[int] = field(default_factory=list)
    shift_adds: int = 0  # per image
    multiplies: int = 0
    int64_layers: list[str] = field(default_factory=list)
    float_layers: list[str] = field(default_factory=list)


def safe_name(blob: str, taken: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9_.-]", "_", blob)[:100] or "blob"
    name, k = base, 2
    while name in taken:
        name, k = f"{base}_{k}", k + 1
    taken.add(name)
    return name


def dump(blobs: dict[str, Value], folder: str, count: int) -> None:
    """Every blob of the first `count` images as integer .npy files and blobs.json
    ({blob: {"file", "f"}}: value = integer * 2^-f)."""
    os.makedirs(folder, exist_ok=True)
    index, taken = {}, set()
    for name, v in blobs.items():
        e = v.exact()
        fname = safe_name(name, taken) + ".npy"
        np.save(os.path.join(folder, fname), e.q[:count].astype(np.int64))
        index[name] = {"file": fname, "f": int(e.f)}
    from ..atomic import write_text_atomic
    write_text_atomic(os.path.join(folder, "blobs.json"), json.dumps(index, indent=1, sort_keys=True))


def infer(m: Model, db: str, batch: int = 100, dump_to: str | None = None, dump_images: int = 0) -> Result:
    """Every image of `db` through the engine, `batch` at a time; with `dump_to`, the blobs
    of the first `dump_images` images (one batch holds them)."""
    r = Result()
    for x, y in batches(m, db, max(batch, dump_images if dump_to else 0)):
        blobs = m.engine.run({m.input: x})
        if dump_to is not None and r.images == 0:
            dump(blobs, dump_to, dump_images)
        logits = blobs[m.output].exact()
        q = logits.q.reshape(len(x), -1)
        r.classes = q.shape[1]
        order = np.argsort(-q, axis=1, kind="stable")
        r.top1 += int((order[:, 0] == y).sum())
        r.top5 += int((order[:, :5] == y[:, None]).any(axis=1).sum())
        r.predictions += order[:, 0].tolist()
        r.images += len(x)
        r.shift_adds, r.multiplies = m.engine.counts.shift_adds, m.engine.counts.multiplies  # per image
        r.int64_layers = list(m.engine.counts.int64_layers)
        r.float_layers = list(m.engine.counts.float_layers)
    if r.images == 0:
        raise InqError(f"{db}: no image in the database")
    return r
