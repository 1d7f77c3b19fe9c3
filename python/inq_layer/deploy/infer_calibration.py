"""Activation quantizers for a weight-only INQ model at inference (inq-infer --act-bits):
placed where a campaign with --act-bits places them, calibrated on images of a database by
Caffe's float forward pass of the deploy net, with the campaign's rules. The model was not
trained with them: what this costs is what the campaign's --act-bits recovers."""
from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from ..caffe_edge.caffe_io import write_text_proto
from ..caffe_edge.probe import try_net
from ..errors import InqError
from ..net.act_calibration import Calibrated, calibrate
from ..net.act_placement import add_quantizers, set_quantizers


@dataclass(frozen=True)
class ActCalibration:
    bits: int
    rule: str  # "mse" or "max" (net/act_calibration.py)
    images: int  # calibration images, from the start of `data`
    data: str  # the database they come from


class _FeedNet:
    """A deploy caffe.Net whose forward() first reads the next batch into its input: the
    Net that calibration drives (a training net's data layer does this itself)."""

    def __init__(self, path: str, weights: dict[str, list[np.ndarray]], source: str, input_blob: str,
                 images: Callable[[], Iterator[np.ndarray]]):
        import caffe
        caffe.set_mode_cpu()
        self._net = caffe.Net(path, caffe.TEST)
        for name, blobs in self._net.params.items():
            have = weights.get(name, [])
            for i, b in enumerate(blobs):
                if i >= len(have) or have[i].size != b.data.size:
                    raise InqError(f"{source}: layer {name!r} blob {i} has "
                                   f"{'no values' if i >= len(have) else have[i].size} values, the net needs "
                                   f"{b.data.size} ({'x'.join(map(str, b.data.shape))})")
                b.data[...] = have[i].reshape(b.data.shape)
        self._input, self._batches = input_blob, images()

    @property
    def blobs(self):
        return self._net.blobs

    def forward(self) -> None:
        x = next(self._batches)
        self._net.blobs[self._input].reshape(*x.shape)
        self._net.blobs[self._input].data[...] = x
        self._net.forward()


def calibrate_weight_only(net, model_path: str, weights: dict[str, list[np.ndarray]], source: str, input_blob: str,
                          images: Callable[[], Iterator[np.ndarray]], batches: int, act: ActCalibration
                          ) -> tuple[object, dict[str, Calibrated]]:
    """The deploy NetParameter `net` with calibrated quantizers added (a copy), and what
    calibration chose; `images()` yields the input batches from the first one on."""
    out = type(net)()
    out.CopyFrom(net)
    qs = add_quantizers(out, act.bits)
    with tempfile.TemporaryDirectory(prefix="inq_infer_") as tmp:
        path = os.path.join(tmp, "deploy.prototxt")
        write_text_proto(path, out)
        try_net(path, f"{model_path} with quantizers")  # Caffe aborts the process on what it refuses
        chosen = calibrate(lambda: _FeedNet(path, weights, source, input_blob, images), qs, act.bits, batches,
                           act.rule)
    set_quantizers(out, {name: (c.bits, c.f, c.signed) for name, c in chosen.items()})
    return out, chosen
