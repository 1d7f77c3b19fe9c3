"""The activation quantizer as a Caffe Python layer (BVLC 1.0's Python layer API):

    layer { name: "conv1_q" type: "Python" bottom: "conv1" top: "conv1_q"
            python_param { module: "inq_layer.net.fixed_point_layer" layer: "FixedPoint"
                           param_str: '{"bits": 8, "f": 4, "signed": false}' } }

Forward: core.fixed_point.quantize (q * 2^-f, round half up, saturated). Backward: the
clipped straight-through gradient, the top's gradient where the input was not saturated.
Without "f" in param_str the layer passes its input through unchanged: the state of a
quantizer before calibration, which chooses f from the values it lets through.

The layer never runs in place: its backward reads the unclipped input.
"""
from __future__ import annotations

import caffe
import numpy as np

from ..core import fixed_point
from .fixed_point_params import LAYER, parse_param_str

class FixedPoint(caffe.Layer):
    """b-bit fixed point with step 2^-f; counts the saturated elements it sees."""

    def setup(self, bottom, top) -> None:
        if len(bottom) != 1 or len(top) != 1:
            raise ValueError(f"{LAYER} takes one bottom and one top, got {len(bottom)} and {len(top)}")
        p = parse_param_str(self.param_str)
        self.bits, self.f, self.signed = p["bits"], p["f"], p["signed"]
        self.seen = 0
        self.saturated = 0

    def reshape(self, bottom, top) -> None:
        top[0].reshape(*bottom[0].data.shape)
        if bottom[0].count and np.shares_memory(top[0].data, bottom[0].data):
            raise ValueError(f"{LAYER} must not run in place (its backward needs the unclipped input): "
                             f"give it a top of its own")

    def forward(self, bottom, top) -> None:
        x, y = bottom[0].data, top[0].data
        if self.f is None:
            y[...] = x
            return
        fixed_point.quantize(x, self.bits, self.f, self.signed, out=y)
        if self.phase == caffe.TEST:  # what a test pass saw, for the report
            self.seen += x.size
            self.saturated += x.size - int(np.count_nonzero(fixed_point.inside(x, self.bits, self.f, self.signed)))

    def backward(self, top, propagate_down, bottom) -> None:
        if not propagate_down[0]:
            return
        if self.f is None:
            bottom[0].diff[...] = top[0].diff
            return
        np.multiply(top[0].diff, fixed_point.inside(bottom[0].data, self.bits, self.f, self.signed),
                    out=bottom[0].diff)
