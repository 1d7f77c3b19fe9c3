from decimal import Decimal

import numpy as np
import pytest

from inq_layer.core.partition import parse_portion, parse_schedule, reference_partition_index, target_count


def test_parse_portion_float_and_string_agree():
    for p in (0.3, 0.6, 0.8, 1.0, 0.875, 0.95, 1):
        assert parse_portion(p) == parse_portion(str(p)) == Decimal(repr(float(p)))
    assert parse_portion(0.3) == Decimal("0.3")  # not the binary double 0.2999...
    assert parse_portion(Decimal("0.875")) == Decimal("0.875") and parse_portion(" 0.5 ") == Decimal("0.5")
    for bad in (0, 0.0, -0.1, 1.01, "abc", float("nan"), None, True, "inf", Decimal("1.5"), Decimal("NaN")):
        with pytest.raises(ValueError, match="portion"):
            parse_portion(bad)


def test_parse_portion_messages():
    with pytest.raises(ValueError, match=r"^portion 'abc' is not a decimal number$"):
        parse_portion("abc")
    with pytest.raises(ValueError, match=r"^portion must be a number or a decimal string, got None$"):
        parse_portion(None)
    with pytest.raises(ValueError, match=r"^portion 1\.5 is outside \(0, 1\]$"):
        parse_portion(1.5)


def test_parse_schedule_keeps_the_typed_strings_and_refuses_bad_lists():
    assert parse_schedule(" 0.3, 0.6 ,0.8,1.0", "--campaign") == ["0.3", "0.6", "0.8", "1.0"]
    assert parse_schedule("0.5,0.9", "--steps") == ["0.5", "0.9"]  # need not end at 1 by default
    assert parse_schedule("0.5,0.8,1", "--campaign", end_at_one=True) == ["0.5", "0.8", "1"]
    bad = {" ": r"^--campaign is empty; give portions like 0\.3,0\.6,0\.8,1\.0$",
           "0.5,,1": r"^--campaign '0\.5,,1' has an empty item \(a stray comma\?\)$",
           "0.5,0.75,": r"has an empty item",
           "0.5,x": r"^--campaign: portion 'x' is not a decimal number$",
           "0.5,0.5,1": r"^--campaign must be strictly increasing \(0\.5 then 0\.5\)$",
           "0.3,0.6,0.5,1": r"^--campaign must be strictly increasing \(0\.6 then 0\.5\)$",
           "0.5,0.8,0.9": r"^--campaign must end at 1 \(all weights quantized\); it ends at 0\.9$",
           "1,2": r"^--campaign: portion '2' is outside \(0, 1\]$"}
    for text, msg in bad.items():
        with pytest.raises(ValueError, match=msg):
            parse_schedule(text, "--campaign", end_at_one=True)


def test_reference_index_uses_the_decimal_literal():
    # For p = 0.8 the original's literal is 0.2, while 1.0 - 0.8 in doubles is
    # 0.19999999999999996: at 10 weights int(10 * L) is 2 with the literal, 1 with the
    # subtraction, so the index tells the two apart.
    assert int(10 * 0.2) - 1 == 1 and int(10 * (1.0 - 0.8)) - 1 == 0
    assert reference_partition_index(10, Decimal("0.8")) == 1
    assert reference_partition_index(10 ** 6 + 5, Decimal("0.8")) == int((10 ** 6 + 5) * 0.2) - 1
    assert reference_partition_index(1000, Decimal("0.6")) == int(1000 * 0.4) - 1
    assert reference_partition_index(3, Decimal("0.8")) == 0  # int(0.6) - 1 = -1 -> 0
    assert reference_partition_index(5, Decimal(1)) == 0
    assert target_count(10, Decimal("0.3")) == 3 and target_count(7, Decimal("0.5")) == 4


def test_a_numpy_float_portion_means_the_decimal_its_type_prints():
    """np.float32(0.3) is 0.30000001192... as a float64: read as that, 31 of 100 weights
    would freeze; it means 0.3, as in every type."""
    for p in (np.float32(0.3), np.float16(0.3), np.float64(0.3), 0.3, "0.3"):
        assert parse_portion(p) == Decimal("0.3") and target_count(100, parse_portion(p)) == 30
    assert parse_portion(np.float32(0.7)) == Decimal("0.7")
