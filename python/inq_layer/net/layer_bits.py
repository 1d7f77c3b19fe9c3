"""Per-layer bit widths: `--layer-bits conv1=8,ip2=8` gives those layers their own grid,
every other quantizable layer takes `--bits` (published ternary ResNets keep the first
convolution and the last fully-connected layer at higher precision)."""
from __future__ import annotations

from collections.abc import Iterable, Mapping

from ..errors import InqError
from ..core.levels import MAX_BITS, MIN_BITS


def parse_layer_bits(text: str | None, option: str = "--layer-bits") -> dict[str, int]:
    """{layer: bits} from "name=bits,name=bits" (None or "" gives {})."""
    out: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        name, eq, value = part.rpartition("=")
        if not eq or not name:
            raise InqError(f"{option}: {part!r} is not LAYER=BITS")
        try:
            bits = int(value)
        except ValueError:
            raise InqError(f"{option}: {part!r}: bits {value!r} is not an integer") from None
        if not MIN_BITS <= bits <= MAX_BITS:
            raise InqError(f"{option}: {part!r}: bits must be in {MIN_BITS}..{MAX_BITS}")
        if name in out:
            raise InqError(f"{option}: layer {name!r} is given twice")
        out[name] = bits
    return out


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


def bits_of(layer: str, bits: int, layer_bits: Mapping[str, int] | None) -> int:
    return (layer_bits or {}).get(layer, bits)


def format_layer_bits(layer_bits: Mapping[str, int]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(layer_bits.items()))
