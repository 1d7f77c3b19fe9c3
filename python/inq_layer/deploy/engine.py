"""The integer engine: a deploy net with its activation quantizers run in integers only,
from the quantized input to the logits (core/integer.py holds the arithmetic).

Every blob is an integer array q with an exponent f (its value is q * 2^-f). A quantizer
requantizes (rounding right shift, saturation); a Convolution or InnerProduct adds shifted
activations, one shift per exponent of its power-of-two weights, at the scale
2^(n2 - f_in), and adds its bias as an integer at that scale; ReLU, max pooling, dropout,
flatten and reshape keep the integers; Eltwise SUM and Concat align exponents by shifts.
BatchNorm and Scale, kept float in training, and average pooling are per-channel affine
maps: they fold into one fixed-point multiplier and offset per output element, applied
where the next integer operation needs the value. Softmax, last, leaves the logits.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..core import fixed_point, integer
from ..net.act_placement import is_quantizer
from ..net.fixed_point_params import parse_param_str

ACC32 = (1 << 31) - 1
ACC64 = (1 << 62) - 1  # the int64 headroom the engine allows itself


@dataclass
class Value:
    """q * 2^-f, then per channel (axis 1) * scale + offset when `scale` is set (a pending
    BatchNorm/Scale/average, float64, made integer where an integer operation needs it).
    `bound`: the largest |q| any input can give here, proven from the quantizers' ranges
    and the weights, not from the images seen."""
    q: np.ndarray  # int64
    f: int
    bound: int
    scale: np.ndarray | None = None
    offset: np.ndarray | None = None

    def exact(self) -> Value:
        """The value with its pending affine map made fixed point: q * m + c at f + k."""
        if self.scale is None:
            return self
        m, k = integer.fixed_multiplier(self.scale)
        shape = (1, -1) + (1,) * (self.q.ndim - 2)
        c = integer.round_shift_float(self.offset, self.f + k)
        bound = self.bound * int(np.abs(m).max(initial=0)) + int(np.abs(c).max(initial=0))
        if bound > ACC64:
            raise ValueError("a folded BatchNorm/Scale could overflow 64-bit integers")
        return Value(self.q * m.reshape(shape) + c.reshape(shape), self.f + k, bound)


@dataclass
class Counts:
    """Per image: shift-adds (one per weight that is not 0, per output position) and
    multiplies (the folded maps, one per output element)."""
    shift_adds: int = 0
    multiplies: int = 0
    int64_layers: list[str] = field(default_factory=list)  # accumulators not proven to fit int32


def _hw(p, name: str, default: int) -> tuple[int, int]:
    """(height, width) of a kernel, stride, pad or dilation field: its _h/_w pair, else its
    one or two values (repeated in ConvolutionParameter, one in PoolingParameter)."""
    if name != "dilation" and (p.HasField(f"{name}_h") or p.HasField(f"{name}_w")):
        return int(getattr(p, f"{name}_h")), int(getattr(p, f"{name}_w"))
    v = getattr(p, "kernel_size" if name == "kernel" else name)
    vals = list(v) if hasattr(v, "__len__") else ([v] if v else [])
    if not vals:
        return default, default
    return int(vals[0]), int(vals[1] if len(vals) > 1 else vals[0])


class Engine:
    """Load a deploy NetParameter with its weights ({layer: [float32 arrays]}); `run`
    takes float input images and returns every blob as a Value."""

    def __init__(self, net, weights: dict[str, list[np.ndarray]]):
        self.net, self.weights = net, weights
        self.counts = Counts()
        self._prepared: dict[str, tuple] = {}

    # -- the layers ---------------------------------------------------------------------
    def _quantizer(self, ly, x) -> Value:
        p = parse_param_str(ly.python_param.param_str)
        if p["f"] is None:
            raise ValueError(f"quantizer {ly.name!r} is not calibrated (its param_str has no f)")
        lo, hi = fixed_point.int_range(p["bits"], p["signed"])
        bound = max(-lo, hi)
        if isinstance(x, np.ndarray):  # the float input
            return Value(fixed_point.to_int(x, p["bits"], p["f"], p["signed"]).astype(np.int64), p["f"], bound)
        v = x.exact()
        return Value(integer.requantize(v.q, v.f, p["bits"], p["f"], p["signed"]), p["f"], bound)

    def _prepare(self, ly, w: np.ndarray, groups: int) -> tuple[int, list[dict[int, np.ndarray]]]:
        """(n2, per group {e: signs} (fan-in x outputs)) of a layer's weights, once."""
        if ly.name not in self._prepared:
            m = w.shape[0]
            try:
                per = m // groups
                levels = [integer.weight_levels(w[g * per:(g + 1) * per].reshape(per, -1).T) for g in range(groups)]
            except ValueError as e:
                raise ValueError(f"layer {ly.name!r}: {e}: the engine runs INQ-quantized weights") from None
            n2 = min((n for n, lv in levels if lv), default=0)
            self._prepared[ly.name] = (n2, [lv for _, lv in levels])
        return self._prepared[ly.name]

    def _weighted(self, ly, x: Value, w: np.ndarray, bias, cols: np.ndarray, groups: int, positions: int):
        """The accumulators of `cols` (rows: output positions; columns: the fan-in of every
        group), their exponent and bound. The products sit at 2^(n2 - f_in); the bias is
        an integer at a scale up to `guard` bits finer, as fine as 32-bit accumulators
        allow and no finer than it needs to be exact, so that the sum differs from Caffe's
        float32 one only where that sum lies within the bias's rounding of a quantizer's
        rounding boundary."""
        n2, levels = self._prepare(ly, w, groups)
        m, k = w.shape[0], cols.shape[1] // groups
        per = m // groups
        products = max(integer.accumulator_bound(x.bound, lv, n2, None) for lv in levels)
        guard = 0
        if bias is not None:
            guard = max(0, (integer.exact_exponent(bias) or 0) - (x.f - n2))
            while guard > 0 and (products << guard) + int(np.abs(integer.round_shift_float(
                    bias, x.f - n2 + guard)).max(initial=0)) > ACC32:
                guard -= 1
        f_out = x.f - n2 + guard
        b = None if bias is None else integer.round_shift_float(bias, f_out)
        bound = (products << guard) + (0 if b is None else int(np.abs(b).max(initial=0)))
        if bound > ACC64:
            raise ValueError(f"layer {ly.name!r}: its sums can reach {bound:.3g}, beyond 64-bit integers")
        if bound > ACC32 and ly.name not in self.counts.int64_layers:
            self.counts.int64_layers.append(ly.name)
        outs = []
        for g, lv in enumerate(levels):
            part = slice(g * per, (g + 1) * per)
            acc = integer.shift_add(cols[:, g * k:(g + 1) * k], lv, n2) << guard if lv else \
                np.zeros((cols.shape[0], per), np.int64)
            outs.append(acc if b is None else acc + b[part])
            self.counts.shift_adds += sum(int(np.count_nonzero(s)) for s in lv.values()) * positions
        return np.concatenate(outs, axis=1), f_out, bound

    def _conv(self, ly, x: Value) -> Value:
        p = ly.convolution_param
        v = x.exact()
        w = self.weights[ly.name][0]
        bias = self.weights[ly.name][1] if p.bias_term and len(self.weights[ly.name]) > 1 else None
        kernel, stride, pad, dil = _hw(p, "kernel", 1), _hw(p, "stride", 1), _hw(p, "pad", 0), _hw(p, "dilation", 1)
        n = v.q.shape[0]
        cols, oh, ow = integer.im2col(v.q, kernel, stride, pad, dil)
        acc, f, bound = self._weighted(ly, v, w, bias, cols, max(1, int(p.group)), oh * ow)
        return Value(acc.reshape(n, oh, ow, -1).transpose(0, 3, 1, 2).copy(), f, bound)

    def _inner_product(self, ly, x: Value) -> Value:
        p = ly.inner_product_param
        v = x.exact()
        axis = p.axis if p.HasField("axis") else 1
        w = self.weights[ly.name][0]
        w = w.T if p.transpose else w
        bias = self.weights[ly.name][1] if p.bias_term and len(self.weights[ly.name]) > 1 else None
        lead = v.q.shape[:axis]
        cols = v.q.reshape(int(np.prod(lead)), -1)
        acc, f, bound = self._weighted(ly, v, w.reshape(w.shape[0], -1), bias, cols, 1, 1)
        return Value(acc.reshape(*lead, -1), f, bound)

    def _pool(self, ly, x: Value) -> Value:
        p = ly.pooling_param
        v = x.exact()
        n, c, h, w = v.q.shape
        if p.global_pooling:
            (kh, kw), (sh, sw), (ph, pw) = (h, w), (1, 1), (0, 0)
        else:
            (kh, kw), (sh, sw), (ph, pw) = _hw(p, "kernel", 1), _hw(p, "stride", 1), _hw(p, "pad", 0)
        oh = -(-(h + 2 * ph - kh) // sh) + 1  # Caffe's ceil
        ow = -(-(w + 2 * pw - kw) // sw) + 1
        if ph or pw:
            oh -= (oh - 1) * sh >= h + ph
            ow -= (ow - 1) * sw >= w + pw
        if p.pool == 0:  # MAX
            out = np.full((n, c, oh, ow), np.iinfo(np.int64).min, np.int64)
        elif p.pool == 1:  # AVE
            out = np.zeros((n, c, oh, ow), np.int64)
            size = np.zeros((oh, ow), np.int64)
        else:
            raise ValueError(f"layer {ly.name!r}: stochastic pooling is not integer")
        for i in range(oh):
            hs, he = i * sh - ph, min(i * sh - ph + kh, h + ph)
            for j in range(ow):
                ws, we = j * sw - pw, min(j * sw - pw + kw, w + pw)
                win = v.q[:, :, max(hs, 0):min(he, h), max(ws, 0):min(we, w)]
                if p.pool == 0:
                    out[:, :, i, j] = win.max(axis=(2, 3))
                else:
                    out[:, :, i, j] = win.sum(axis=(2, 3))
                    size[i, j] = (he - hs) * (we - ws)
        if p.pool == 0:
            return Value(out, v.f, v.bound)
        m, k = integer.fixed_multiplier(1.0 / size)
        self.counts.multiplies += c * oh * ow
        return Value(out * m, v.f + k, v.bound * kh * kw * int(m.max()))

    def _batch_norm(self, ly, x: Value) -> Value:
        mean, var, sf = (self.weights[ly.name][i].astype(np.float64) for i in range(3))
        s = 0.0 if sf.reshape(-1)[0] == 0 else 1.0 / sf.reshape(-1)[0]
        eps = ly.batch_norm_param.eps if ly.batch_norm_param.HasField("eps") else 1e-5
        scale = 1.0 / np.sqrt(var * s + eps)
        return self._affine(x, scale, -mean * s * scale)

    def _scale(self, ly, x: Value) -> Value:
        blobs = self.weights[ly.name]
        gamma = blobs[0].astype(np.float64).reshape(-1)
        beta = blobs[1].astype(np.float64).reshape(-1) if ly.scale_param.bias_term and len(blobs) > 1 else 0 * gamma
        return self._affine(x, gamma, beta)

    def _affine(self, x: Value, scale: np.ndarray, offset: np.ndarray) -> Value:
        """x * scale + offset per channel, composed with what x has pending: BatchNorm then
        Scale is one multiplier and one offset per channel."""
        if x.scale is None:
            self.counts.multiplies += int(np.prod(x.q.shape[1:]))
            return Value(x.q, x.f, x.bound, scale, offset)
        return Value(x.q, x.f, x.bound, x.scale * scale, x.offset * scale + offset)

    def _eltwise(self, ly, xs: list[Value]) -> Value:
        p = ly.eltwise_param
        if p.operation != 1 or any(c != 1 for c in p.coeff):  # SUM with unit coefficients
            raise ValueError(f"layer {ly.name!r}: only Eltwise SUM with coefficients 1 is integer here")
        vs = [x.exact() for x in xs]
        f = max(v.f for v in vs)
        return Value(sum(v.q << (f - v.f) for v in vs), f, sum(v.bound << (f - v.f) for v in vs))

    def _concat(self, ly, xs: list[Value]) -> Value:
        vs = [x.exact() for x in xs]
        f = max(v.f for v in vs)
        axis = ly.concat_param.axis if ly.concat_param.HasField("axis") else 1
        return Value(np.concatenate([v.q << (f - v.f) for v in vs], axis=axis), f,
                     max(v.bound << (f - v.f) for v in vs))

    # -- the net ------------------------------------------------------------------------
    def run(self, data: dict[str, np.ndarray]) -> dict[str, Value]:
        """Every blob of the net for float inputs ({Input top: array}); the inputs are
        quantized by the quantizers that read them."""
        self.counts = Counts()
        blobs: dict = dict(data)
        for ly in self.net.layer:
            t = ly.type
            if t == "Input":
                continue
            if is_quantizer(ly):
                blobs[ly.top[0]] = self._quantizer(ly, blobs[ly.bottom[0]])
                continue
            ins = [blobs[b] for b in ly.bottom]
            if any(isinstance(b, np.ndarray) for b in ins):
                raise ValueError(f"layer {ly.name!r} ({t}) reads the float input: it needs a quantizer before it")
            if t == "Convolution":
                out = self._conv(ly, ins[0])
            elif t == "InnerProduct":
                out = self._inner_product(ly, ins[0])
            elif t == "ReLU":
                if ly.relu_param.negative_slope != 0:
                    raise ValueError(f"layer {ly.name!r}: a leaky ReLU is not integer here")
                v = ins[0].exact()
                out = Value(np.maximum(v.q, 0), v.f, v.bound)
            elif t == "Pooling":
                out = self._pool(ly, ins[0])
            elif t == "BatchNorm":
                out = self._batch_norm(ly, ins[0])
            elif t == "Scale":
                out = self._scale(ly, ins[0])
            elif t == "Eltwise":
                out = self._eltwise(ly, ins)
            elif t == "Concat":
                out = self._concat(ly, ins)
            elif t in ("Dropout", "Split"):
                out = ins[0]
            elif t == "Flatten":
                v = ins[0].exact()
                out = Value(v.q.reshape(v.q.shape[0], -1), v.f, v.bound)
            elif t == "Softmax":
                out = ins[0]  # the logits decide; a device needs no exponential for top-k
            elif t == "LRN":
                raise ValueError(f"layer {ly.name!r} (LRN) is not integer: local response normalisation "
                                 f"divides by a power of a sum")
            else:
                raise ValueError(f"layer {ly.name!r} has type {t!r}, which the integer engine does not run")
            for top in ly.top:
                blobs[top] = out
        return {k: v for k, v in blobs.items() if isinstance(v, Value)}
