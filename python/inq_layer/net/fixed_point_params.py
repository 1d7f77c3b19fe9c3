"""A quantizer layer's identity and configuration in a prototxt (no Caffe import): its
python_param module and layer, and its param_str, {"bits": b, "f": f, "signed": s}."""
from __future__ import annotations

import json

from ..core import fixed_point

MODULE = "inq_layer.net.fixed_point_layer"  # python_param.module of a quantizer
LAYER = "FixedPoint"


def parse_param_str(text: str) -> dict:
    """{"bits": b, "f": f or None, "signed": bool} from a quantizer's param_str; ValueError
    names what is wrong."""
    try:
        p = json.loads(text or "{}")
    except ValueError:
        raise ValueError(f"param_str {text!r} is not JSON like {{\"bits\": 8, \"f\": 4, \"signed\": false}}") from None
    if not isinstance(p, dict):
        raise ValueError(f"param_str {text!r} is not a JSON object")
    unknown = sorted(set(p) - {"bits", "f", "signed"})
    if unknown:
        raise ValueError(f"param_str has unknown keys {', '.join(unknown)} (bits, f, signed)")
    bits = fixed_point.check_bits(p.get("bits"))
    f = p.get("f")
    if f is not None:
        fixed_point.check_f(f)
    signed = p.get("signed", False)
    if not isinstance(signed, bool):
        raise ValueError(f"param_str: signed must be true or false, got {signed!r}")
    return {"bits": bits, "f": f, "signed": signed}


def param_str(bits: int, f: int | None, signed: bool) -> str:
    return json.dumps({"bits": bits, "f": f, "signed": signed} if f is not None else {"bits": bits, "signed": signed})
