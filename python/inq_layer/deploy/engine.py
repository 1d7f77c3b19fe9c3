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

from dataclasses import dataclass, field, replace

import numpy as np

from ..core import fixed_point, integer, requantize, shift_conv
from ..net.act_placement import is_quantizer
from ..net.fixed_point_params import parse_param_str

ACC32 = (1 << 31) - 1
ACC64 = (1 << 62) - 1  # the int64 headroom the engine allows itself
# A value a folded multiplier, an average or an alignment would carry past 64 bits first
# loses low bits (rounding half up), never below this many: Caffe's float32 keeps 24.
KEEP_BITS = 28


@dataclass
class Value:
    """q * 2^-f, then, pending until an integer operation needs the value (a quantizer does
    them all in one pass): a bias add `(q << guard) + bias` per channel at f + guard,
    rounded to 24 significant bits as Caffe's float32 bias add rounds; * scale + offset per
    channel (axis 1; a BatchNorm/Scale/average, float64, made fixed point then); max(., 0)
    when `relu`. `bound`: the largest |q| any input can give here (`bias_bound`: after the
    bias add), proven from the quantizers' ranges and the weights, not from the images."""
    q: np.ndarray  # int16, int32 or int64: whatever holds `bound`
    f: int
    bound: int
    scale: np.ndarray | None = None
    offset: np.ndarray | None = None
    relu: bool = False
    bias: np.ndarray | None = None  # int64 per channel at 2^-(f + guard)
    guard: int = 0
    bias_bound: int = 0

    def biased(self) -> Value:
        """The value with its pending bias added (the rest still pending)."""
        if self.bias is None:
            return self
        a = requantize.affine(self.q, self._bias_multiplier(), self.bias, rounded=True, bound=self.bias_bound)
        return Value(a, self.f + self.guard, self.bias_bound, self.scale, self.offset, self.relu)

    def _bias_multiplier(self) -> np.ndarray:
        """The bias add as a per-channel map: q * 2^guard + bias."""
        return np.full(self.bias.shape, 1 << self.guard, np.int64)

    def folded(self) -> tuple[Value, np.ndarray | None, np.ndarray | None, int, int, bool]:
        """(v, m, c, k, bound, rounded): the value before its pending ReLU is
        (v.q * m + c) * 2^-(v.f + k) per channel, m and c integers (None, k = 0: nothing
        pending), rounded to 24 significant bits first when `rounded` (a bias add), and
        |v.q * m + c| <= bound."""
        if self.bias is not None and self.scale is None:
            plain = Value(self.q, self.f, self.bound)
            return plain, self._bias_multiplier(), self.bias, self.guard, self.bias_bound, True
        v = self.biased()
        if v.scale is None:
            return v, None, None, 0, v.bound, False
        m, k = integer.fixed_multiplier(v.scale)
        v = v.narrowed(ACC64 // (2 * max(1, int(np.abs(m).max(initial=0)))))
        c = integer.round_shift_float(v.offset, v.f + k)
        bound = v.bound * int(np.abs(m).max(initial=0)) + int(np.abs(c).max(initial=0))
        if bound > ACC64:
            raise ValueError("a folded BatchNorm/Scale could overflow 64-bit integers (its offset is too large)")
        return v, m, c, k, bound, False

    def exact(self) -> Value:
        """The value with everything pending applied."""
        if self.scale is None and not self.relu and self.bias is None:
            return self
        v, m, c, k, bound, rounded = self.folded()
        if m is None and not rounded:
            return Value(np.maximum(v.q, 0) if self.relu else v.q, v.f, bound)
        return Value(requantize.affine(v.q, m, c, self.relu, rounded, bound), v.f + k, bound)

    def narrowed(self, limit: int) -> Value:
        """The value with its lowest bits rounded off (half up) until |q| <= limit;
        ValueError if that would leave fewer than KEEP_BITS significant bits."""
        if self.bias is not None:
            return self.biased().narrowed(limit)
        if self.bound <= limit:
            return self
        if limit < 1 << KEEP_BITS:
            raise ValueError(f"an integer here would need more than 64 bits to keep {KEEP_BITS} significant ones")
        r = (self.bound // limit).bit_length()
        return Value(integer.round_shift(self.q, r), self.f - r, (self.bound >> r) + 1, self.scale, self.offset,
                     self.relu)


def aligned(vs: list[Value]) -> tuple[list[np.ndarray], int, list[int]]:
    """The integers of values at one exponent (the finest that keeps every sum of them
    within 64 bits), the exponent, and their bounds there. An input already in int64 at
    that exponent comes back as itself: the caller must not write into it."""
    f = max(v.f for v in vs)
    while f > min(v.f for v in vs) and sum(v.bound << (f - v.f) if f >= v.f else v.bound for v in vs) > ACC64:
        f -= 1
    qs, bounds = [], []
    for v in vs:
        if v.f <= f:
            qs.append(v.q if v.f == f and v.q.dtype == np.int64 else np.left_shift(v.q, f - v.f, dtype=np.int64))
            bounds.append(v.bound << (f - v.f))
        else:
            qs.append(integer.round_shift(v.q, v.f - f))
            bounds.append((v.bound >> (v.f - f)) + 1)
    if sum(bounds) > ACC64:
        raise ValueError("values summed here could overflow 64-bit integers")
    return qs, f, bounds


@dataclass
class Counts:
    """Per image: shift-adds (one per weight that is not 0, per output position) and
    multiplies (the folded maps, one per output element)."""
    shift_adds: int = 0
    multiplies: int = 0
    int64_layers: list[str] = field(default_factory=list)  # accumulators not proven to fit int32
    float_layers: list[str] = field(default_factory=list)  # run in float (--float-layers)


@dataclass
class _Plan:
    key: tuple[int, int]  # (f, bound) of the input it was made for
    weights: shift_conv.ShiftWeights
    f: int  # the accumulators' exponent, f_in - n2
    products: int  # the largest |accumulator| before the bias
    wide: bool  # int64 accumulators: 32 bits not proven enough
    guard: int  # the bias add's extra bits: the accumulators shift left by these
    bias: np.ndarray | None  # int64 at 2^-(f + guard): exact, else rounded to odd
    bound: int  # the largest |output| (after the bias add)


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


def reshaped(ly, shape: tuple[int, ...]) -> tuple[int, ...]:
    """The top shape of a Reshape layer on a bottom of `shape`, by Caffe's rules: 0 copies
    the bottom's axis, -1 takes what is left; axis and num_axes choose the axes replaced."""
    p = ly.reshape_param
    nd = len(shape)
    start = p.axis if p.axis >= 0 else nd + p.axis + 1
    end = nd if p.num_axes == -1 else start + p.num_axes
    if not 0 <= start <= end <= nd:
        raise ValueError(f"layer {ly.name!r}: reshape axes {p.axis}, {p.num_axes} do not fit a {nd}-axis blob")
    dims = list(p.shape.dim)
    new = [shape[start + i] if d == 0 else int(d) for i, d in enumerate(dims)]
    count = int(np.prod(shape))
    if new.count(-1) > 1 or any(d < -1 for d in new):
        raise ValueError(f"layer {ly.name!r}: reshape dims {dims} are not valid")
    out = list(shape[:start]) + new + list(shape[end:])
    if -1 in out:
        rest = int(np.prod([d for d in out if d != -1]))
        if rest == 0 or count % rest:
            raise ValueError(f"layer {ly.name!r}: {count} values do not reshape to {dims}")
        out[out.index(-1)] = count // rest
    if int(np.prod(out)) != count:
        raise ValueError(f"layer {ly.name!r}: {count} values do not reshape to {out}")
    return tuple(out)


def float_lrn(ly, x: Value) -> np.ndarray:
    """Caffe's LRN in float32 on the exact value of x (a layer --float-layers keeps float):
    across channels x / (k + alpha/n * sum of x^2 over n channels)^beta; within a channel
    x / (1 + alpha * average of x^2 over an n x n window, padding counted)^beta."""
    p = ly.lrn_param
    e = x.exact()
    v = (e.q.astype(np.float64) * 2.0 ** -e.f).astype(np.float32)
    size, alpha, beta = int(p.local_size), np.float32(p.alpha), np.float32(p.beta)
    sq = v * v
    half = (size - 1) // 2
    if p.norm_region == 0:  # ACROSS_CHANNELS
        padded = np.pad(sq, ((0, 0), (half, size - 1 - half), (0, 0), (0, 0)))
        total = sum(padded[:, i:i + v.shape[1]] for i in range(size))
        scale = np.float32(p.k) + alpha / np.float32(size) * total
    else:  # WITHIN_CHANNEL: Caffe pools x^2 with AVE over size x size, pad (size-1)/2
        h, w = v.shape[2:]
        padded = np.pad(sq, ((0, 0), (0, 0), (half, half), (half, half)))
        total = sum(padded[:, :, i:i + h, j:j + w] for i in range(size) for j in range(size))
        scale = np.float32(1) + alpha * (total / np.float32(size * size))
    return (v * np.power(scale, -beta)).astype(np.float32)


def _window_reduce(views: list[np.ndarray], use_max: bool) -> np.ndarray:
    """The elementwise max (or sum) of same-shaped views, in a new array."""
    out = views[0].copy()
    for v in views[1:]:
        if use_max:
            np.maximum(out, v, out=out)
        else:
            out += v
    return out


class Engine:
    """Load a deploy NetParameter with its weights ({layer: [float32 arrays]}); `run`
    takes float input images and returns every blob as a Value."""

    def __init__(self, net, weights: dict[str, list[np.ndarray]], float_layers: tuple[str, ...] = ()):
        self.net, self.weights, self.float_layers = net, weights, tuple(float_layers)
        self.counts = Counts()
        self._plans: dict[str, _Plan] = {}

    # -- the layers ---------------------------------------------------------------------
    def _quantizer(self, ly, x) -> Value:
        p = parse_param_str(ly.python_param.param_str)
        if p["f"] is None:
            raise ValueError(f"quantizer {ly.name!r} is not calibrated (its param_str has no f)")
        lo, hi = fixed_point.int_range(p["bits"], p["signed"])
        bound = max(-lo, hi)
        if isinstance(x, np.ndarray):  # the float input
            q = fixed_point.to_int(x, p["bits"], p["f"], p["signed"])
            return Value(q.astype(integer.int_dtype(lo, hi), copy=False), p["f"], bound)
        v, m, c, k, top, rounded = x.folded()
        q = requantize.quantize(v.q, v.f + k, p["bits"], p["f"], p["signed"], m, c, x.relu, rounded, top)
        return Value(q, p["f"], bound)

    def _plan(self, ly, x: Value, w: np.ndarray, bias, groups: int) -> _Plan:
        """A layer's shift-add weights, bounds and integer bias for inputs at x.f bounded
        by x.bound, made once. The products sit at 2^(n2 - f_in), in int32 where every sum
        is proven to fit. The bias adds once per output, in int64 at a scale `guard` bits
        finer (as fine as it needs to be exact, within 64 bits), and the result is rounded
        to 24 significant bits as float32 rounds Caffe's bias add: where Caffe's float sum is
        exact (within 24 bits) the two then agree on every bit."""
        plan = self._plans.get(ly.name)
        if plan is not None and plan.key == (x.f, x.bound):
            return plan
        try:
            sw = shift_conv.shift_weights(w.reshape(w.shape[0], -1), groups, shift_conv.chunk_for(x.bound))
        except ValueError as e:
            raise ValueError(f"layer {ly.name!r}: {e}: the engine runs INQ-quantized weights") from None
        products = max((integer.accumulator_bound(x.bound, lv, sw.n2, None) for lv in sw.levels if lv), default=0)
        f = x.f - sw.n2
        if products > ACC64:
            raise ValueError(f"layer {ly.name!r}: its sums can reach {products:.3g}, beyond 64-bit integers")
        guard, b, bound = 0, None, products
        if bias is not None:
            guard = max(0, (integer.exact_exponent(bias) or 0) - f)
            top = float(np.abs(np.asarray(bias, np.float64)).max(initial=0))
            while guard > 0 and (products << guard) + int(top * 2.0 ** (f + guard)) + 1 > ACC64:
                guard -= 1
            b = integer.odd_rounded(bias, f + guard)
            bound = (products << guard) + int(np.abs(b).max(initial=0))
            if bound > ACC64:
                raise ValueError(f"layer {ly.name!r}: its bias can reach {bound:.3g}, beyond 64-bit integers")
        plan = self._plans[ly.name] = _Plan((x.f, x.bound), sw, f, products, products > ACC32, guard, b, bound)
        return plan

    def _count(self, ly, plan: _Plan, positions: int) -> None:
        self.counts.shift_adds += plan.weights.nonzero * positions
        if plan.wide and ly.name not in self.counts.int64_layers:
            self.counts.int64_layers.append(ly.name)

    def _conv(self, ly, x: Value) -> Value:
        p = ly.convolution_param
        v = x.exact()
        w = self.weights[ly.name][0]
        bias = self.weights[ly.name][1] if p.bias_term and len(self.weights[ly.name]) > 1 else None
        kernel, stride, pad, dil = _hw(p, "kernel", 1), _hw(p, "stride", 1), _hw(p, "pad", 0), _hw(p, "dilation", 1)
        plan = self._plan(ly, v, w, bias, max(1, int(p.group)))
        acc = shift_conv.conv(v.q, plan.weights, kernel, stride, pad, dil, plan.wide, v.bound)
        self._count(ly, plan, acc.shape[2] * acc.shape[3])
        return Value(acc, plan.f, plan.products, bias=plan.bias, guard=plan.guard, bias_bound=plan.bound)

    def _inner_product(self, ly, x: Value) -> Value:
        p = ly.inner_product_param
        v = x.exact()
        axis = p.axis if p.HasField("axis") else 1
        w = self.weights[ly.name][0]
        w = w.T if p.transpose else w
        bias = self.weights[ly.name][1] if p.bias_term and len(self.weights[ly.name]) > 1 else None
        lead = v.q.shape[:axis]
        plan = self._plan(ly, v, w.reshape(w.shape[0], -1), bias, 1)
        acc = shift_conv.inner_product(v.q.reshape(int(np.prod(lead)), -1), plan.weights, plan.wide, v.bound)
        self._count(ly, plan, int(np.prod(lead[1:])))
        acc = acc.reshape(*lead, -1)
        if len(lead) == 1 or plan.bias is None:  # outputs on axis 1: the bias add stays pending
            return Value(acc, plan.f, plan.products, bias=plan.bias, guard=plan.guard, bias_bound=plan.bound)
        a = (acc.astype(np.int64) << plan.guard) + plan.bias  # outputs on the last axis: added now
        return Value(integer.round_significant(a), plan.f + plan.guard, plan.bound)

    def _pool(self, ly, x: Value) -> Value:
        p = ly.pooling_param
        v = x.exact()
        n, c, h, w = v.q.shape
        if p.global_pooling:
            (kh, kw), (sh, sw), (ph, pw) = (h, w), (1, 1), (0, 0)
        else:
            (kh, kw), (sh, sw), (ph, pw) = _hw(p, "kernel", 1), _hw(p, "stride", 1), _hw(p, "pad", 0)
        if p.pool not in (0, 1):
            raise ValueError(f"layer {ly.name!r}: stochastic pooling is not integer")
        if p.pool == 1:  # a window's sum times a multiplier of MULT_BITS stays within 64 bits
            v = v.narrowed(ACC64 // (kh * kw << integer.MULT_BITS))
        oh = -(-(h + 2 * ph - kh) // sh) + 1  # Caffe's ceil
        ow = -(-(w + 2 * pw - kw) // sw) + 1
        if ph or pw:
            oh -= (oh - 1) * sh >= h + ph
            ow -= (ow - 1) * sw >= w + pw
        # Windows over a padded copy: the fill never wins a max and adds nothing to a sum;
        # Caffe's windows stop at the input's end, past the bottom/right padding if need be.
        t = v.q.dtype if p.pool == 0 else np.int64  # a max stays in range, a sum may not
        fill = np.iinfo(t).min if p.pool == 0 else 0
        eh, ew = max(0, (oh - 1) * sh + kh - ph - h), max(0, (ow - 1) * sw + kw - pw - w)
        if ph or pw or eh or ew or t != v.q.dtype:
            xp = np.full((n, c, h + ph + eh, w + pw + ew), fill, t)
            xp[:, :, ph:ph + h, pw:pw + w] = v.q
        else:
            xp = v.q
        # A window's max or sum is one over its rows, then one over its columns: the first
        # pass reads whole rows, the second a smaller array.
        by_rows = _window_reduce([xp[:, :, i:i + sh * (oh - 1) + 1:sh, :] for i in range(kh)], p.pool == 0)
        out = _window_reduce([by_rows[..., j:j + sw * (ow - 1) + 1:sw] for j in range(kw)], p.pool == 0)
        if p.pool == 0:
            return Value(out, v.f, v.bound)
        # Caffe divides by the window clipped to the padded input, padding counted.
        hs, ws = np.arange(oh) * sh - ph, np.arange(ow) * sw - pw
        size = np.outer(np.minimum(hs + kh, h + ph) - hs, np.minimum(ws + kw, w + pw) - ws)
        m, k = integer.fixed_multiplier(1.0 / size)
        self.counts.multiplies += c * oh * ow
        bound = v.bound * kh * kw * int(m.max())
        if bound > ACC64:
            raise ValueError(f"layer {ly.name!r}: its averages could overflow 64-bit integers")
        return Value(out * m, v.f + k, bound)

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
        Scale is one multiplier and one offset per channel (a pending ReLU comes first)."""
        if x.relu:
            x = x.exact()
        if x.scale is None:
            self.counts.multiplies += int(np.prod(x.q.shape[1:]))
            return replace(x, scale=scale, offset=offset)  # after a pending bias add
        return replace(x, scale=x.scale * scale, offset=x.offset * scale + offset)

    def _eltwise(self, ly, xs: list[Value]) -> Value:
        p = ly.eltwise_param
        if p.operation != 1 or any(c != 1 for c in p.coeff):  # SUM with unit coefficients
            raise ValueError(f"layer {ly.name!r}: only Eltwise SUM with coefficients 1 is integer here")
        qs, f, bounds = aligned([x.exact() for x in xs])
        total = np.add(qs[0], qs[1]) if len(qs) > 1 else qs[0].copy()  # the inputs may be other blobs
        for q in qs[2:]:
            total += q
        return Value(total, f, sum(bounds))

    def _concat(self, ly, xs: list[Value]) -> Value:
        qs, f, bounds = aligned([x.exact() for x in xs])
        axis = ly.concat_param.axis if ly.concat_param.HasField("axis") else 1
        return Value(np.concatenate(qs, axis=axis), f, max(bounds))

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
                out = replace(ins[0], relu=True)  # applied by whatever reads it
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
            elif t == "Reshape":
                v = ins[0].exact()
                out = Value(v.q.reshape(reshaped(ly, v.q.shape)), v.f, v.bound)
            elif t == "Softmax":
                out = ins[0]  # the logits decide; a device needs no exponential for top-k
            elif t in self.float_layers:
                if t != "LRN":
                    raise ValueError(f"layer {ly.name!r}: the engine runs only LRN in float, not {t!r}")
                if ly.name not in self.counts.float_layers:
                    self.counts.float_layers.append(ly.name)
                out = float_lrn(ly, ins[0])
            elif t == "LRN":
                raise ValueError(f"layer {ly.name!r} (LRN) is not integer: local response normalisation "
                                 f"divides by a power of a sum (--float-layers LRN runs it in float)")
            else:
                raise ValueError(f"layer {ly.name!r} has type {t!r}, which the integer engine does not run")
            for top in ly.top:
                blobs[top] = out
        return {k: v for k, v in blobs.items() if isinstance(v, Value)}
