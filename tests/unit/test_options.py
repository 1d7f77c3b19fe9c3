"""The quantization options object: every value validated where it is made, word for word,
and the campaign record it writes read back to the same options."""
from __future__ import annotations

import dataclasses

import pytest
from inq_layer.errors import InqError
from inq_layer.options import QuantOptions, format_layer_bits, parse_assignments, parse_layer_bits

SEED_MAX = 4294967295  # Caffe's random_seed is a uint32


def refused(message: str, **kw) -> None:
    with pytest.raises(InqError) as e:
        QuantOptions(**kw)
    assert str(e.value) == message


def test_parse_assignments_splits_at_the_last_equals_and_strips():
    assert parse_assignments(None, "--x") == {}
    assert parse_assignments("", "--x") == {}
    assert parse_assignments(" a = 3 , b=c=4", "--x") == {"a": "3", "b=c": "4"}


@pytest.mark.parametrize("text, message", [
    ("a=3,,b=4", "--x 'a=3,,b=4' has an empty item (a stray comma?)"),
    ("a=3,", "--x 'a=3,' has an empty item (a stray comma?)"),
    ("a3", "--x: 'a3' is not LAYER=BITS"),
    ("=3", "--x: '=3' is not LAYER=BITS"),
    (" =3", "--x: '=3' is not LAYER=BITS"),
    ("a=", "--x: 'a=' is not LAYER=BITS"),
    ("a= ", "--x: 'a=' is not LAYER=BITS"),
    ("a=3,a =4", "--x: layer 'a' is given twice"),
])
def test_parse_assignments_refusals_word_for_word(text, message):
    with pytest.raises(InqError) as e:
        parse_assignments(text, "--x")
    assert str(e.value) == message


def test_parse_assignments_names_what_it_wants():
    with pytest.raises(InqError, match=r"^--a: 'x' is not LAYER=F$"):
        parse_assignments("x", "--a", "F")


def test_parse_layer_bits_range_ends_and_refusals():
    assert parse_layer_bits(None) == {}
    assert parse_layer_bits("conv1=2, ip1=8") == {"conv1": 2, "ip1": 8}
    for text, message in [
        ("conv1=1", "--layer-bits: 'conv1=1': bits must be in 2..8"),
        ("conv1=9", "--layer-bits: 'conv1=9': bits must be in 2..8"),
        ("conv1=x", "--layer-bits: 'conv1=x': bits 'x' is not an integer"),
        ("conv1=2.0", "--layer-bits: 'conv1=2.0': bits '2.0' is not an integer"),
    ]:
        with pytest.raises(InqError) as e:
            parse_layer_bits(text)
        assert str(e.value) == message
    with pytest.raises(InqError, match=r"^--own: 'a=9': bits must be in 2\.\.8$"):
        parse_layer_bits("a=9", "--own")


def test_format_layer_bits_is_sorted_and_reads_back():
    bits = {"ip1": 8, "conv1": 3}
    assert format_layer_bits(bits) == "conv1=3,ip1=8"
    assert parse_layer_bits(format_layer_bits(bits)) == bits
    assert format_layer_bits({}) == ""


def test_defaults():
    o = QuantOptions()
    assert (o.bits, o.rule, o.strategy, o.n1_rule, o.seed, o.quantize, o.keep_zeros) == \
        (5, "paper", "magnitude", "max", None, "default", False)
    assert (o.act_bits, o.act_calibration, o.act_calibration_batches, o.act_from) == (None, "mse", 20, "start")
    assert dict(o.layer_bits) == {}


@pytest.mark.parametrize("kw, message", [
    ({"bits": 1}, "bits must be an integer in 2..8, got 1"),
    ({"bits": 9}, "bits must be an integer in 2..8, got 9"),
    ({"bits": True}, "bits must be an integer in 2..8, got True"),
    ({"layer_bits": {"c": 1}}, "layer bits: layer 'c': bits must be an integer in 2..8, got 1"),
    ({"layer_bits": {"c": 9}}, "layer bits: layer 'c': bits must be an integer in 2..8, got 9"),
    ({"layer_bits": {"c": True}}, "layer bits: layer 'c': bits must be an integer in 2..8, got True"),
    ({"layer_bits": {"c": 3.0}}, "layer bits: layer 'c': bits must be an integer in 2..8, got 3.0"),
    ({"rule": "x"}, "unknown rule 'x': use one of reference, paper"),
    ({"strategy": "x"}, "unknown strategy 'x': use one of magnitude, random"),
    ({"n1_rule": "x"}, "unknown n1 rule 'x': use one of max, mse"),
    ({"quantize": "x"}, "unknown quantize mode 'x': use one of default, every-blob0"),
    ({"seed": -1}, f"--seed must be an integer in 0..{SEED_MAX}, got -1"),
    ({"seed": SEED_MAX + 1}, f"--seed must be an integer in 0..{SEED_MAX}, got {SEED_MAX + 1}"),
    ({"seed": True}, f"--seed must be an integer in 0..{SEED_MAX}, got True"),
    ({"act_bits": 1}, "--act-bits must be an integer in 2..16, got 1"),
    ({"act_bits": 17}, "--act-bits must be an integer in 2..16, got 17"),
    ({"act_bits": "8"}, "--act-bits must be an integer in 2..16, got '8'"),
    ({"act_calibration": "x"}, "unknown activation calibration 'x': use one of mse, max"),
    ({"act_calibration_batches": 0}, "--act-calibration-batches must be an integer in 1..2147483647, got 0"),
    ({"act_calibration_batches": 2**31},
     "--act-calibration-batches must be an integer in 1..2147483647, got 2147483648"),
    ({"act_from": "x"}, "unknown --act-from 'x': use one of start, end"),
])
def test_every_value_is_checked_where_the_options_are_made(kw, message):
    refused(message, **kw)


def test_range_ends_are_accepted():
    QuantOptions(bits=2, layer_bits={"a": 2, "b": 8}, seed=0, act_bits=2, act_calibration_batches=1)
    QuantOptions(bits=8, seed=SEED_MAX, act_bits=16, act_calibration_batches=2**31 - 1)


def test_layer_bits_are_sorted_and_read_only():
    own = {"z": 3, "a": 4}
    o = QuantOptions(layer_bits=own)
    assert list(o.layer_bits) == ["a", "z"]
    own["a"] = 8  # the caller's dict is copied
    assert o.layer_bits["a"] == 4
    with pytest.raises(TypeError):
        o.layer_bits["a"] = 5
    assert (o.bits_of("a"), o.bits_of("z"), o.bits_of("other")) == (4, 3, 5)


def test_record_leaves_off_values_out_and_reads_back():
    o = QuantOptions()
    assert o.record() == {"bits": 5, "rule": "paper", "strategy": "magnitude", "seed": None,
                          "quantize": "default", "n1_rule": "max", "keep_zeros": False}
    assert QuantOptions.from_record(o.record()) == o
    full = QuantOptions(bits=3, layer_bits={"ip": 8}, rule="reference", strategy="random", n1_rule="mse",
                        seed=7, quantize="every-blob0", keep_zeros=True, act_bits=4, act_calibration="max",
                        act_calibration_batches=3, act_from="end")
    rec = full.record()
    assert rec == {"bits": 3, "rule": "reference", "strategy": "random", "seed": 7, "quantize": "every-blob0",
                   "n1_rule": "mse", "keep_zeros": True, "layer_bits": {"ip": 8}, "act_bits": 4,
                   "act_calibration": "max", "act_calibration_batches": 3, "act_from": "end"}
    assert QuantOptions.from_record({**rec, "other": 1}) == full


def test_describe():
    assert QuantOptions().describe() == "5 bits, paper rule, magnitude partition, n1 rule max"
    o = QuantOptions(bits=2, layer_bits={"ip": 8, "conv1": 8}, n1_rule="mse", act_bits=8, act_from="end")
    assert o.describe() == ("2 bits, conv1=8,ip=8, paper rule, magnitude partition, n1 rule mse, "
                            "activations 8 bits (mse calibration, from the end)")


def test_options_cannot_change_after_they_were_checked():
    o = QuantOptions()
    for name, value in (("bits", 1), ("act_bits", 99), ("layer_bits", {"a": 1})):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(o, name, value)
    assert o == QuantOptions()
