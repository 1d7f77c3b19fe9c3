"""--sparsity and the pruning steps (campaign/prune.py), without Caffe."""
from decimal import Decimal

import pytest

from inq_layer.campaign.prune import PruneSettings, default_steps, parse_sparsity
from inq_layer.errors import InqError


def test_one_sparsity_or_one_per_layer():
    assert parse_sparsity(" 0.9 ") == Decimal("0.9")
    assert parse_sparsity("conv1=0.6, ip1 = 0.95") == {"conv1": Decimal("0.6"), "ip1": Decimal("0.95")}
    assert parse_sparsity("1e-1") == Decimal("0.1")


@pytest.mark.parametrize("text, message", [
    ("abc", "--sparsity abc: not a decimal number"),
    ("conv1", "--sparsity conv1: not a decimal number"),
    ("1", "--sparsity 1: must be in (0, 1) (0 prunes nothing; a layer cannot lose every weight)"),
    ("0", "--sparsity 0: must be in (0, 1) (0 prunes nothing; a layer cannot lose every weight)"),
    ("nan", "--sparsity nan: must be in (0, 1) (0 prunes nothing; a layer cannot lose every weight)"),
    ("-0.5", "--sparsity -0.5: must be in (0, 1) (0 prunes nothing; a layer cannot lose every weight)"),
    ("conv1=1.5", "--sparsity conv1=1.5: must be in (0, 1) (0 prunes nothing; a layer cannot lose every weight)"),
    ("conv1= x", "--sparsity conv1=x: not a decimal number"),
    ("conv1=0.5,ip1", "--sparsity item 'ip1' is not layer=value"),
    ("conv1=0.5,=0.5", "--sparsity item '=0.5' is not layer=value"),
    ("conv1=0.5,ip1= ", "--sparsity item 'ip1= ' is not layer=value"),
    ("conv1=0.5, conv1 =0.6", "--sparsity names layer 'conv1' twice"),
])
def test_each_bad_sparsity_is_named_word_for_word(text, message):
    with pytest.raises(InqError) as e:
        parse_sparsity(text)
    assert str(e.value) == message


def test_default_steps_and_each_steps_sparsity():
    assert default_steps(Decimal("0.9")) == ["0.45", "0.675", "0.81", "0.9"]
    assert default_steps({"conv1": Decimal("0.6")}) == ["0.5", "0.75", "0.9", "1"]  # fractions of each target
    one = PruneSettings(campaign=["0.45", "0.9"], out="unused", sparsity=Decimal("0.9"))
    assert [one.step_sparsity(k) for k in (0, 1)] == [Decimal("0.45"), Decimal("0.9")]
    per = PruneSettings(campaign=["0.5", "1"], out="unused", sparsity={"conv1": Decimal("0.6"), "ip1": Decimal("0.8")})
    assert per.step_sparsity(0) == {"conv1": Decimal("0.3"), "ip1": Decimal("0.4")}
    assert per.own_record() == {"tool": "prune", "campaign": ["0.5", "1"], "quantize": "default", "seed": None,
                                "sparsity": {"conv1": "0.6", "ip1": "0.8"}, "keep_momentum": False}
    assert one.own_record()["sparsity"] == "0.9" and per.final_name == "pruned.caffemodel"
    assert one.describe() == "magnitude pruning, steps 0.45,0.9 (sparsity 0.9)"
