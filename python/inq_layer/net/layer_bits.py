"""Per-layer bit widths checked against a net: `--layer-bits conv1=8,ip2=8` (parsed into
QuantOptions.layer_bits) may name only layers the net has, each with a quantizable blob."""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from ..errors import InqError
from ..core.levels import MAX_BITS, MIN_BITS


def check_layer_bits(layer_bits: Mapping[str, int], layers: Iterable[str], quantizable: Iterable[str],
                     where: str) -> None:
    """Every named layer is in the net (`layers`) and has a quantizable blob."""
    layers, quantizable = set(layers), set(quantizable)
    for name, bits in layer_bits.items():
        if isinstance(bits, bool) or not isinstance(bits, int) or not MIN_BITS <= bits <= MAX_BITS:
            raise InqError(f"layer bits: layer {name!r}: bits must be an integer in {MIN_BITS}..{MAX_BITS}, "
                           f"got {bits!r}")
        if name not in layers:
            raise InqError(f"layer bits: {where} has no layer {name!r}")
        if name not in quantizable:
            raise InqError(f"layer bits: layer {name!r} of {where} has no quantizable blob")


def check_shared_bits(bits_of: Callable[[str], int], alias: Mapping[tuple[str, int], tuple[str, int]]) -> None:
    """Layers that share a blob (`alias`: {(layer, index): its owner}) take one bit width:
    the rule of the driver and of the check alike."""
    for a, owner in alias.items():
        if bits_of(a[0]) != bits_of(owner[0]):
            raise InqError(f"layer bits: layer {a[0]!r} shares its blob {a[1]} with layer {owner[0]!r}: give both "
                           f"the same bits")
