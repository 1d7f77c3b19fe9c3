"""The scheduler half of INQ: which weights of a net to quantize and freeze at a portion.

`quantize_net` works on any pycaffe Net, so a training loop of one's own can drive INQ:

    opts = QuantOptions(bits=5)
    codes = quantize_net(solver.net, 0.5, opts)             # phase 1
    f = Freezer(codes); f.attach(solver); f.step(n)          # frozen weights stay exact,
                                                             # restored after the last update
    codes = quantize_net(solver2.net, 0.75, opts, codes)     # phase 2, on a fresh solver

The other half, keeping frozen weights exact during training, is freezer.Freezer.
"""
from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

import numpy as np

from ..core import passes
from ..errors import InqError
from ..core.codes import FLOAT, decode, encode, frozen_mask
from .freezer import FrozenBlob
from .layer_bits import check_layer_bits, check_shared_bits
from ..core.levels import n2_from_n1
from ..core.partition import parse_portion, target_count
from ..core.quantize import check_choice, quantize_blob
from ..options import QuantOptions
from .selection import MODES, owners, quantizable_blobs

if TYPE_CHECKING:  # annotations only: pycaffe is not imported at load time
    from caffe import Net

Key = tuple[str, int]


def net_layers(net: Net) -> list[tuple[str, str, int]]:
    """(name, type, number of blobs) of every layer of a pycaffe Net."""
    return [(name, layer.type, len(layer.blobs)) for name, layer in net.layer_dict.items()]


def from_codes(layer: str, idx: int, codes: np.ndarray, bits: int) -> FrozenBlob:
    """A FrozenBlob from plain uint16 codes (what Freezer also takes): the grid is read off
    the frozen values, whose largest exponent is n1 (the weight of largest magnitude is
    frozen first)."""
    codes = np.asarray(codes)
    if codes.dtype != np.uint16:
        raise InqError(f"layer {layer!r} blob {idx}: prev codes are {codes.dtype}, not uint16")
    vals = np.abs(decode(codes)[frozen_mask(codes)])
    vals = vals[vals > 0]
    if not vals.size:
        return FrozenBlob(layer, idx, None, None, codes, None, bits)
    exps = np.frexp(vals.astype(np.float64))[1] - 1
    n1 = int(exps.max())
    n2 = n2_from_n1(n1, bits)
    if int(exps.min()) < n2:
        raise InqError(f"layer {layer!r} blob {idx}: the frozen values span 2^{int(exps.min())}..2^{n1}, "
                       f"more than a {bits}-bit grid")
    return FrozenBlob(layer, idx, n1, n2, codes, None, bits)


def shared_blobs(net: Net, keys: list[Key]) -> tuple[list[Key], dict[Key, Key]]:
    """(owner keys, {alias: owner}): layers that share a parameter (`param { name }`) see
    one memory in Caffe, so the blob's data address tells them apart."""
    return owners(keys, lambda k: net.params[k[0]][k[1]].data.ctypes.data)


def blob_seed(seed: int | None, position: int, portion: Decimal) -> int | None:
    """The random partition's seed of one blob at one portion: the same for every process
    that starts from the same seed (a multi-GPU loop), different per blob and phase."""
    if seed is None:
        return None
    milli = int(portion * 1_000_000)
    return int(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, position, milli]).generate_state(1)[0])


def quantize_net(net: Net, portion: float | str | Decimal, options: QuantOptions | None = None,
                 prev: dict[Key, FrozenBlob] | None = None) -> dict[Key, FrozenBlob]:
    """Quantize the accumulated `portion` of every quantizable blob of `net` in place and
    return the frozen state of each, keyed (layer, blob index).

    `prev` is the previous phase's return value (or plain uint16 codes per key, as Freezer
    takes them; their grid is read off the frozen values): its frozen masks (paper rule), grids
    (paper rule, and the mse rule in both rules: chosen once in the first phase) and pruned
    masks carry over. `options` (default: QuantOptions()) gives the bits, per layer too, the
    rule, partition, n1 rule and seed, which blobs, and keep_zeros: weights that are exactly
    0 in the first phase stay 0 and frozen for good, and the portions count only the others
    (INQ after pruning).
    """
    o = QuantOptions() if options is None else options
    if not isinstance(o, QuantOptions):
        raise TypeError(f"options must be a QuantOptions, got {type(o).__name__}")
    try:
        p = parse_portion(portion)
    except ValueError as e:
        raise InqError(str(e)) from None
    layers = net_layers(net)
    keys = quantizable_blobs(layers, o.quantize)
    if not keys:
        raise InqError("the net has no quantizable layer (Convolution, Deconvolution, InnerProduct)")
    check_layer_bits(o.layer_bits, [n for n, _, _ in layers], [k[0] for k in keys], "the net")
    keys, alias = shared_blobs(net, keys)
    check_shared_bits(o.bits_of, alias)
    out = {}
    for position, (layer, idx) in enumerate(keys):
        data = net.params[layer][idx].data
        b = o.bits_of(layer)
        before = (prev or {}).get((layer, idx))
        if before is not None and not isinstance(before, FrozenBlob):
            before = from_codes(layer, idx, before, b)
        if before is not None and before.codes.shape != data.shape:
            raise InqError(f"layer {layer!r} blob {idx}: the previous phase's state has shape "
                           f"{before.codes.shape}, the net {data.shape}")
        if before is not None and before.n1 is not None and before.n2 != n2_from_n1(before.n1, b):
            raise InqError(f"layer {layer!r} blob {idx}: the previous phase's grid {before.n2}..{before.n1} is "
                           f"not a {b}-bit grid; give the bits of the previous phase")
        if before is None:
            pruned = (data == 0) if o.keep_zeros else None
            n1 = None
        else:
            pruned = before.pruned
            n1 = before.n1 if (o.rule == "paper" or o.n1_rule == "mse") else None
        try:
            r = quantize_blob(data, p, b, frozen=None if before is None else before.frozen, rule=o.rule,
                              strategy=o.strategy, seed=blob_seed(o.seed, position, p), name=layer,
                              n1=n1, n1_rule=o.n1_rule, pruned=pruned)
            codes = encode(r.quantized, r.frozen, layer)
        except ValueError as e:  # the blob's values (NaN, magnitudes past float32's grids), named
            raise InqError(str(e)) from None
        data[...] = r.quantized
        out[(layer, idx)] = FrozenBlob(layer, idx, r.n1, r.n2, codes, pruned, b)
    return out


def prune_net(net: Net, sparsity: dict[str, Decimal] | Decimal, prev: dict[Key, FrozenBlob] | None = None,
              quantize: str = "default") -> dict[Key, FrozenBlob]:
    """Magnitude pruning (Han et al. 2015), one step: in every quantizable blob, zero the
    smallest-magnitude weights until ceil(sparsity * count) are 0 and pruned, in place.
    Weights pruned in `prev` stay pruned whatever retraining did to the rest; `sparsity`
    is one target or {layer: target} (a layer missing from the dict is not pruned).
    Returns the pruned weights as frozen zeros (FrozenBlob.pruned is the mask)."""
    check_choice("quantize mode", quantize, MODES)
    keys = quantizable_blobs(net_layers(net), quantize)
    if not keys:
        raise InqError("the net has no prunable layer (Convolution, Deconvolution, InnerProduct)")
    keys, _ = shared_blobs(net, keys)
    out = {}
    for layer, idx in keys:
        data = net.params[layer][idx].data
        target = sparsity.get(layer, Decimal(0)) if isinstance(sparsity, dict) else sparsity
        before = (prev or {}).get((layer, idx))
        held = np.zeros(data.shape, bool) if before is None else before.pruned
        if held is None or held.shape != data.shape:
            raise InqError(f"layer {layer!r} blob {idx}: the previous step's pruned mask does not fit the net")
        m = target_count(data.size, target)
        if m >= data.size:
            raise InqError(f"sparsity {target} would prune every one of the {data.size:,} weights of layer {layer!r}; "
                           f"give a lower sparsity")
        mag = np.ascontiguousarray(data, np.float32).reshape(-1).view(np.uint32) & np.uint32(0x7FFFFFFF)
        # The smallest first: the largest of the reversed magnitudes (their top bit stays 0).
        fresh = passes.largest(np.uint32(0x7FFFFFFF) - mag, np.ascontiguousarray(held).reshape(-1), m - int(held.sum()))
        pruned = held | fresh.reshape(data.shape)
        data[pruned] = 0.0
        codes = np.full(data.shape, FLOAT, np.uint16)
        codes[pruned] = 0
        out[(layer, idx)] = FrozenBlob(layer, idx, None, None, codes, pruned)
    return out


def unfrozen_by_reselection(prev: dict[Key, FrozenBlob] | None, now: dict[Key, FrozenBlob]) -> int:
    """Weights frozen in `prev` but float in `now`: what the reference rule's re-selection
    unfreezes (always 0 in the paper rule)."""
    return sum(int(np.count_nonzero(prev[k].frozen & ~b.frozen)) for k, b in now.items() if prev and k in prev)


def summary(blobs: dict[Key, FrozenBlob]) -> dict:
    """The phase's frozen fraction over all quantizable weights (weighted by blob size) and
    the per-layer numbers of FrozenBlob.counts."""
    layers = {b.layer: b.counts() for b in blobs.values()}
    total = sum(b.codes.size for b in blobs.values())
    frozen = sum(int(b.frozen.sum()) for b in blobs.values())
    return {"frozen_fraction": frozen / max(total, 1), "layers": layers}
