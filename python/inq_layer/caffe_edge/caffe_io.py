"""Caffe files through caffe_pb2 only: prototxt (text), caffemodel and solverstate (binary).

Everything is validated here, before Caffe sees it, because Caffe aborts the whole process
(LOG(FATAL)) on a bad file.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from types import ModuleType
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from ..atomic import write_text_atomic
from ..errors import InqError
from ..files import read_regular

if TYPE_CHECKING:  # pycaffe is imported lazily (the quantizer needs no Caffe)
    from caffe.proto.caffe_pb2 import BlobProto, LayerParameter, NetParameter, SolverParameter, V1LayerParameter
    from google.protobuf.message import Message

    Layer = LayerParameter | V1LayerParameter

M = TypeVar("M", bound="Message")


def pb2() -> ModuleType:
    """caffe_pb2 of the pycaffe in use (imported lazily: the quantizer needs no Caffe)."""
    try:
        from caffe.proto import caffe_pb2
    except ImportError as e:
        raise InqError(f"cannot import pycaffe ({e}); run `make setup` and use build/venv/bin/python") from None
    return caffe_pb2


def caffe_root() -> str:
    """The Caffe tree of the pycaffe in use (its python/caffe/__init__.py)."""
    pb2()  # the same one-line error when pycaffe is missing
    import caffe
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(caffe.__file__))))


def caffe_tool() -> str:
    """That tree's command-line tool, where Caffe's Makefile and CMake build put it."""
    return os.path.join(caffe_root(), "build", "tools", "caffe")


def caffe_tool_env(base: Mapping[str, str] | None = None, **extra: str) -> dict[str, str]:
    """The environment to run that tool in: glog to stderr only, which the caller keeps,
    instead of four more log files in /tmp on every run (the tool logs to both)."""
    return {**(os.environ if base is None else base), "GLOG_logtostderr": "1", **extra}


def write_text_proto(path: str, message: Message) -> None:
    """`message` as a prototxt file, written atomically."""
    from google.protobuf import text_format
    write_text_atomic(path, text_format.MessageToString(message))


def read_text_proto(path: str, message: M, what: str) -> M:
    """Parse a prototxt into `message`; errors carry protobuf's line:column."""
    from google.protobuf import text_format
    text = read_regular(path, what)
    try:
        text_format.Parse(text.decode("utf-8"), message)
    except UnicodeDecodeError:
        raise InqError(f"{path}: not a text {what} (binary data)") from None
    except text_format.ParseError as e:
        raise InqError(f"{path}:{e}") from None
    return message


def read_solver(path: str) -> SolverParameter:
    return read_text_proto(path, pb2().SolverParameter(), "solver prototxt")


def read_net(path: str) -> NetParameter:
    return read_text_proto(path, pb2().NetParameter(), "net prototxt")


def read_binary_proto(path: str, message: M, what: str) -> M:
    from google.protobuf.message import DecodeError
    data = read_regular(path, what)
    if data.startswith(b"\x89HDF\r\n\x1a\n"):
        raise InqError(f"{path}: an HDF5 {what} (snapshot_format HDF5), which this tool does not read: save it "
                       f"as binary protobuf (the default snapshot_format, or Net.save)")
    try:
        message.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as e:
        raise InqError(f"{path}: not a valid {what} (truncated or another format: {e})") from None
    return message


def read_caffemodel(path: str) -> NetParameter:
    net = read_binary_proto(path, pb2().NetParameter(), "caffemodel")
    if not net.layer and not net.layers:
        raise InqError(f"{path}: not a caffemodel (no layers in it)")
    return net


_LEGACY = ("num", "channels", "height", "width")


def _is_legacy(blob: BlobProto) -> bool:
    return any(blob.HasField(f) for f in _LEGACY)


def blob_shape(blob: BlobProto) -> tuple[int, ...]:
    """The shape as Caffe's Blob::FromProto reads it: the old 4-D fields when any is set."""
    if _is_legacy(blob):
        return tuple(int(getattr(blob, f)) for f in _LEGACY)
    return tuple(int(d) for d in blob.shape.dim)


def blob_array(blob: BlobProto) -> np.ndarray:
    """Blob data as float32 with its shape (double_data converted)."""
    data = blob.data if len(blob.data) else blob.double_data
    arr = np.asarray(data, dtype=np.float32)
    shape = blob_shape(blob)
    if int(np.prod(shape, dtype=np.int64)) != arr.size:
        raise InqError(f"blob of shape {shape} holds {arr.size} values")
    return arr.reshape(shape)


def as_legacy(shape) -> tuple[int, ...]:
    """`shape` as the old 4-D fields hold it: padded with leading 1s (past 4 dims, as it is,
    which no 4-D blob equals)."""
    return (1,) * (4 - len(shape)) + tuple(shape)


def legacy_blobs(model: NetParameter) -> frozenset[tuple[str, int]]:
    """(layer, index) of the blobs stored in the old 4-D fields, which Caffe copies into a
    shape that equals them padded with leading 1s (a 4096x9216 InnerProduct from 1x1x4096x9216)."""
    return frozenset((ly.name, i) for ly in model_layers(model) for i, b in enumerate(ly.blobs) if _is_legacy(b))


def model_layers(model: NetParameter) -> list[Layer]:
    """The layers of a NetParameter, new-style or V1."""
    return list(model.layer) if model.layer else list(model.layers)


TRAIN, TEST = 0, 1  # caffe.proto's Phase


def in_phase(ly: Layer, phase: int) -> bool:
    """Whether the layer is in the net of `phase` by its include/exclude rules (rules on
    stages or levels count as met)."""
    if ly.include:
        return any(not r.HasField("phase") or r.phase == phase for r in ly.include)
    return not any(r.HasField("phase") and r.phase == phase and not r.stage and not r.not_stage
                   and not r.HasField("min_level") and not r.HasField("max_level") for r in ly.exclude)


def layer_type(layer: Layer) -> str:
    t = layer.type
    if isinstance(t, str):
        return t
    return pb2().V1LayerParameter.LayerType.Name(t)


def model_blobs(model: NetParameter) -> dict[str, list[BlobProto]]:
    """{layer name: [BlobProto, ...]} of the layers that carry blobs."""
    return {ly.name: list(ly.blobs) for ly in model_layers(model) if len(ly.blobs)}


def model_arrays(model: NetParameter) -> dict[str, list[np.ndarray]]:
    """{layer name: [float32 array, ...]} of every blob, decoded once, in file order."""
    return {name: [blob_array(b) for b in blobs] for name, blobs in model_blobs(model).items()}


def check_weights_fit(weights_path: str, model: NetParameter, net_shapes: dict[str, list[tuple]]) -> None:
    """Refuse a caffemodel that Caffe's CopyTrainedLayersFrom would abort on, or that
    belongs to another net (no parameter layer in common). `net_shapes` has every layer of
    the net, those without parameters with []: Caffe copies every layer of the file whose
    name the net has, and aborts on any blob count it does not expect."""
    seen = set()
    for ly in model_layers(model):
        if ly.name in seen and ly.name in net_shapes:
            raise InqError(f"{weights_path}: layer {ly.name!r} appears twice in the file (which copy would "
                           f"Caffe keep?); save the model again with Caffe")
        seen.add(ly.name)
    src = {ly.name: list(ly.blobs) for ly in model_layers(model) if ly.name in net_shapes}
    if any(net_shapes.values()) and not any(net_shapes[n] and blobs for n, blobs in src.items()):
        raise InqError(f"{weights_path}: belongs to another net: none of its layers matches "
                       f"the net's parameter layers (first: {next(n for n, v in net_shapes.items() if v)!r})")
    for name, blobs in src.items():
        want, have = net_shapes[name], [blob_shape(b) for b in blobs]
        if not want and have:
            raise InqError(f"{weights_path}: layer {name!r} has {len(have)} blobs in the file, but it has no "
                           f"parameters in the net; these weights belong to another net")
        if len(want) != len(have):
            raise InqError(f"{weights_path}: layer {name!r} has {len(have)} blobs, the net expects {len(want)}")
        for i, (w, h) in enumerate(zip(want, have)):
            if not _copies(w, blobs[i]):
                raise InqError(f"{weights_path}: layer {name!r} blob {i} has shape {h}, the net expects {tuple(w)}")
            b = blobs[i]
            n = len(b.data) or len(b.double_data)
            if n != int(np.prod(w, dtype=np.int64)):
                raise InqError(f"{weights_path}: layer {name!r} blob {i} holds {n} values, "
                               f"shape {tuple(w)} needs {int(np.prod(w))}")


def param_names(net: NetParameter) -> dict[tuple[str, int], str]:
    """{(layer, blob index): shared name} of every blob a prototxt names with `param { name }`
    (V1 nets: `param: "name"`); Caffe shares the blobs of one name between their layers."""
    out = {}
    for ly in model_layers(net):
        for i, p in enumerate(ly.param):
            name = p if isinstance(p, str) else p.name
            if name:
                out[(ly.name, i)] = name
    return out


def shared_in_prototxt(net: NetParameter, keys: list[tuple[str, int]]
                       ) -> tuple[list[tuple[str, int]], dict[tuple[str, int], tuple[str, int]]]:
    """selection.owners by the prototxt's shared names: (owner keys, {alias: owner})."""
    from ..net.selection import owners
    names = param_names(net)
    return owners(keys, names.get)


# Blobs a layer of these types has (bias_term adds one where it applies); other types (Python
# layers may add blobs of their own) are unknown.
_NO_BLOBS = {"Data", "Input", "DummyData", "ImageData", "HDF5Data", "MemoryData", "WindowData", "ReLU",
             "Sigmoid", "TanH", "Pooling", "LRN", "Dropout", "Eltwise", "Concat", "Slice", "Split", "Flatten",
             "Reshape", "Softmax", "SoftmaxWithLoss", "Accuracy", "EuclideanLoss", "SigmoidCrossEntropyLoss",
             "Power", "AbsVal", "BNLL", "ELU", "Silence", "ArgMax", "Crop", "Exp", "Log", "Threshold", "Tile"}


def expected_blobs(layer: Layer) -> int | None:
    """How many blobs Caffe gives a layer of the net prototxt, where the type says it."""
    t = layer_type(layer)
    if t in _NO_BLOBS or t.upper() in {x.upper() for x in _NO_BLOBS}:
        return 0
    if t in ("Convolution", "Deconvolution", "CONVOLUTION", "DECONVOLUTION"):
        return 1 + bool(layer.convolution_param.bias_term)
    if t in ("InnerProduct", "INNER_PRODUCT"):
        return 1 + bool(layer.inner_product_param.bias_term)
    if t == "BatchNorm":
        return 3
    if t == "Scale":
        return 1 + bool(layer.scale_param.bias_term)
    return None


def _copies(want, blob: BlobProto) -> bool:
    """Caffe's Blob::ShapeEquals(BlobProto), which copy_from aborts on: a blob in the old
    4-D fields equals `want` padded with leading 1s; a blob with a shape, its dims exactly."""
    want = tuple(want)
    if _is_legacy(blob):
        return as_legacy(want) == blob_shape(blob)
    return blob_shape(blob) == want


def _stated(ly) -> tuple[int, list[int], bool, int, bool] | None:
    """(num_output, kernel dims or [], bias_term, group, transposed) that a conv, deconv or
    inner-product layer's prototxt states, None for other layers."""
    t = layer_type(ly)
    if t in ("Convolution", "Deconvolution", "CONVOLUTION", "DECONVOLUTION"):
        c = ly.convolution_param
        if c.HasField("kernel_h") or c.HasField("kernel_w"):
            kernel = [int(c.kernel_h), int(c.kernel_w)]
        else:
            kernel = [int(k) for k in c.kernel_size]
        return int(c.num_output), kernel, bool(c.bias_term), int(c.group or 1), False
    if t in ("InnerProduct", "INNER_PRODUCT"):
        ip = ly.inner_product_param
        return int(ip.num_output), [], bool(ip.bias_term), 1, bool(getattr(ip, "transpose", False))
    return None


def check_computed_shapes(model_path: str, computed: dict[str, list[tuple]], shapes: dict[str, list[tuple]],
                          source: str, legacy: frozenset[tuple[str, int]] = frozenset()) -> None:
    """Refuse blobs whose shapes differ from the ones Caffe computes for the net (probe.
    param_shapes): Caffe's copy_from would abort on them (an input size, a stride or a crop
    that changes a fully-connected layer's fan-in is invisible in the prototxt's numbers).
    The blobs in `legacy` (legacy_blobs) compare as Caffe's Blob::ShapeEquals reads them."""
    for name, blobs in shapes.items():
        want = computed.get(name)
        if want is None:
            continue
        if len(blobs) != len(want):
            raise InqError(f"{source}: layer {name!r} has {len(blobs)} blobs, but Caffe makes {len(want)} for "
                           f"{model_path}: these weights belong to another net")
        for i, (got, w) in enumerate(zip(blobs, want)):
            got, w = tuple(got), tuple(w)
            if got != w and not ((name, i) in legacy and got == as_legacy(w)):
                raise InqError(f"{source}: layer {name!r} blob {i} has shape {tuple(got)}, but Caffe makes it "
                               f"{tuple(w)} for {model_path} (from its input through its layers): these "
                               f"weights belong to another net or another input size")


def check_stated_shapes(model_path: str, net: NetParameter, shapes: dict[str, list[tuple]], source: str) -> None:
    """Refuse weights whose shapes contradict what the net prototxt states (num_output,
    kernel size, bias): weights of another net, e.g. ip1 with 400 outputs under a 500-output
    LeNet, would otherwise load and even pass the check. Only what the prototxt says
    outright is compared (input dims need Caffe's shape inference)."""
    for ly in model_layers(net):
        st = _stated(ly)
        if st is None or ly.name not in shapes:
            continue
        n_out, kernel, bias, group, transposed = st
        blobs = shapes[ly.name]
        w = tuple(blobs[0]) if blobs else ()
        deconv = layer_type(ly) in ("Deconvolution", "DECONVOLUTION")
        if kernel:
            out_dim = w[1] * group if deconv and len(w) > 1 else (w[0] if w else None)
            # one kernel_size serves every spatial axis the weights have
            dims = kernel * (len(w) - 2) if len(kernel) == 1 else kernel
            ok = len(w) == 2 + len(dims) and out_dim == n_out and list(w[2:]) == dims
            want = f"{n_out} outputs, kernel {'x'.join(map(str, dims or kernel))}"
        else:
            while len(w) > 2 and w[0] == 1:  # legacy 1 x 1 x N x K, as Caffe's ShapeEquals reads it
                w = w[1:]
            ok = len(w) == 2 and (w[1] if transposed else w[0]) == n_out
            want = f"{n_out} outputs"
        if not ok:
            raise InqError(f"{source}: layer {ly.name!r} weights have shape {w}, but {model_path} says "
                           f"{want}: these weights belong to another net")
        if bias and len(blobs) > 1 and tuple(blobs[1]) not in ((n_out,), (1, 1, 1, n_out)):
            raise InqError(f"{source}: layer {ly.name!r} bias has shape {tuple(blobs[1])}, but {model_path} "
                           f"says {n_out} outputs")


# The data layers that read batch_size images a pass (0 when a data_param does not say).
_BATCHED = {"Data": "data_param", "DATA": "data_param", "ImageData": "image_data_param",
            "IMAGE_DATA": "image_data_param", "HDF5Data": "hdf5_data_param", "HDF5_DATA": "hdf5_data_param",
            "MemoryData": "memory_data_param", "MEMORY_DATA": "memory_data_param",
            "WindowData": "window_data_param", "WINDOW_DATA": "window_data_param"}


def check_batch_sizes(path: str, net: NetParameter) -> None:
    """A data layer with batch_size 0: this Caffe's Data layer then waits forever for its
    first batch (the others abort), so it is refused before Caffe builds the net."""
    for ly in model_layers(net):
        field = _BATCHED.get(layer_type(ly))
        if field and getattr(ly, field).batch_size == 0:
            raise InqError(f"{path}: layer {ly.name!r} has batch_size 0 ({field}; 0 when not given); "
                           f"give it at least 1")


def check_net_for_caffe(path: str, net: NetParameter, known_types: list[str]) -> None:
    """What Caffe would abort on when building the net: unknown layer types, layers without
    outputs, missing data sources."""
    known = set(known_types)
    check_batch_sizes(path, net)
    for ly in model_layers(net):
        t = layer_type(ly)
        if net.layer and t not in known:
            raise InqError(f"{path}: layer {ly.name!r} has type {t!r}, which this Caffe does not know")
        outputs = {"InnerProduct": "inner_product_param", "Convolution": "convolution_param",
                   "Deconvolution": "convolution_param"}.get(t)
        if outputs and getattr(ly, outputs).num_output == 0:  # Caffe aborts in a filler (InnerProduct) or a CHECK
            raise InqError(f"{path}: layer {ly.name!r} has num_output 0 ({outputs}); give it at least one output")
        if t in ("Data", "DATA") and ly.data_param.source:
            src = ly.data_param.source
            if not os.path.exists(src):
                raise InqError(f"{path}: layer {ly.name!r} reads {src!r}, which does not exist "
                               f"(create the database, e.g. `make data`, or fix data_param.source)")
        mean = ly.transform_param.mean_file
        if mean and not os.path.exists(mean):
            raise InqError(f"{path}: layer {ly.name!r} reads the mean file {mean!r}, which does not exist "
                           f"(make it with `python -m inq_layer.tools.image_mean TRAIN_DB {mean}`)")
