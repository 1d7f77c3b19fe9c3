"""How many weights of a blob an accumulated portion freezes, in both rules, and the
portions and schedules as typed (exact decimals, the original's literals). Which weights
they are is passes.py's job."""
from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation

import numpy as np


def parse_portion(portion: float | str | Decimal) -> Decimal:
    """The accumulated portion as a decimal: a float is read as the shortest decimal that
    its own type rounds back to it.

    So 0.3, np.float32(0.3) and "0.3" all mean the decimal 0.3, as the original's
    hard-coded literals do (a float32 widened to float64 first would read 0.30000001...).
    """
    if isinstance(portion, Decimal):
        dec = portion
    elif isinstance(portion, str):
        try:
            dec = Decimal(portion.strip())
        except InvalidOperation:
            raise ValueError(f"portion {portion!r} is not a decimal number") from None
    elif isinstance(portion, (float, int, np.floating, np.integer)) and not isinstance(portion, bool):
        dec = Decimal(str(portion) if isinstance(portion, np.floating) else repr(float(portion)))
    else:
        raise ValueError(f"portion must be a number or a decimal string, got {portion!r}")
    if not dec.is_finite() or not Decimal(0) < dec <= Decimal(1):
        raise ValueError(f"portion {portion!r} is outside (0, 1]")
    return dec


def parse_schedule(text: str, what: str, end_at_one: bool = False) -> list[str]:
    """A comma-separated, strictly increasing list of portions in (0, 1], as typed (the
    decimal strings are kept: they are the original's literals). A malformed list is
    refused, never repaired: an empty item (`0.5,,1`, a trailing comma) is an error."""
    parts = [p.strip() for p in text.split(",")]
    if not text.strip():
        raise ValueError(f"{what} is empty; give portions like 0.3,0.6,0.8,1.0")
    if any(not p for p in parts):
        raise ValueError(f"{what} {text!r} has an empty item (a stray comma?)")
    try:
        vals = [parse_portion(p) for p in parts]
    except ValueError as e:
        raise ValueError(f"{what}: {e}") from None
    for a, b in zip(vals, vals[1:]):
        if not b > a:
            raise ValueError(f"{what} must be strictly increasing ({a} then {b})")
    if end_at_one and vals[-1] != 1:
        raise ValueError(f"{what} must end at 1 (all weights quantized); it ends at {vals[-1]}")
    return parts


def reference_partition_index(count: int, portion: Decimal) -> int:
    """blob.cpp's index into the sorted |w|: int(count * L) - 1 with L the double nearest
    to the decimal 1 - portion (its hard-coded literal); 0 for portion 1 and whenever the
    original's index is negative (it read before the buffer there)."""
    lit = float(Decimal(1) - portion)
    return max(int(count * lit) - 1, 0)


def target_count(count: int, portion: Decimal) -> int:
    """Paper rule: ceil(portion * count), in exact decimal arithmetic, so that at least
    the portion is frozen (0.3 of 10 weights is exactly 3)."""
    return int(math.ceil(portion * count))
