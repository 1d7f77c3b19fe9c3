"""scheduler: which weights of a pycaffe net freeze when (quantize_net, prune_net)."""
import numpy as np
import pytest

from inq_layer.errors import InqError
from inq_layer.options import QuantOptions


def test_quantize_net_takes_the_plain_codes_freezer_takes(tiny_net):
    from inq_layer import Freezer, quantize_net
    first = quantize_net(tiny_net, 0.5, QuantOptions(bits=5))
    plain = {k: b.codes.copy() for k, b in first.items()}
    Freezer(plain)  # what Freezer takes ...
    again = quantize_net(tiny_net, 0.75, QuantOptions(bits=5), plain)  # ... quantize_net takes too, with the same grids
    for k, b in first.items():
        assert (again[k].n1, again[k].n2) == (b.n1, b.n2) and (again[k].frozen >= b.frozen).all()
    with pytest.raises(InqError, match="prev codes are int32, not uint16"):
        quantize_net(tiny_net, 0.75, QuantOptions(bits=5), {k: c.astype(np.int32) for k, c in plain.items()})


def test_plain_codes_give_their_grid_read_off_the_frozen_values():
    from inq_layer.core.codes import encode
    from inq_layer.core.levels import n2_from_n1
    from inq_layer.net.quantize_net import from_codes
    values = np.array([0.25, -0.0625, 0.0, 0.125, 0.3], np.float32)
    frozen = np.array([True, True, True, True, False])
    b = from_codes("ip1", 0, encode(values, frozen), 5)
    # the frozen zero says nothing of the grid: its top is 2^-2, not 2^-1
    assert (b.layer, b.index, b.n1, b.n2, b.bits) == ("ip1", 0, -2, n2_from_n1(-2, 5), 5)
    assert b.frozen.tolist() == frozen.tolist() and b.pruned is None
    none = from_codes("ip1", 0, encode(np.zeros(3, np.float32), np.array([True, False, True])), 5)
    assert (none.n1, none.n2) == (None, None)
    wide = encode(np.array([0.5, 2.0 ** -12], np.float32), np.array([True, True]))
    with pytest.raises(InqError) as e:
        from_codes("ip1", 1, wide, 5)
    assert str(e.value) == "layer 'ip1' blob 1: the frozen values span 2^-12..2^-1, more than a 5-bit grid"
    assert from_codes("ip1", 1, wide, 8).n1 == -1
    edge = from_codes("ip1", 1, encode(np.array([0.5, -2.0 ** -8], np.float32), np.array([True, True])), 5)
    assert (edge.n1, edge.n2) == (-1, -8)  # the grid's smallest level is on it
    with pytest.raises(InqError) as e:
        from_codes("ip1", 2, wide.astype(np.int32), 5)
    assert str(e.value) == "layer 'ip1' blob 2: prev codes are int32, not uint16"


def test_the_random_partitions_seeds_stay_what_campaigns_were_run_with():
    """A resumed or multi-process campaign draws its random partitions again: each blob's
    seed must be the same function of (seed, position, portion) in every version."""
    from decimal import Decimal
    from inq_layer.net.quantize_net import blob_seed
    assert blob_seed(None, 0, Decimal("0.5")) is None
    assert [blob_seed(7, 0, Decimal("0.5")), blob_seed(7, 1, Decimal("0.5")), blob_seed(7, 0, Decimal("0.75")),
            blob_seed(0, 0, Decimal("1"))] == [2718264928, 2512246139, 1205053918, 4192293496]
    assert blob_seed(2 ** 32 + 7, 0, Decimal("0.5")) == blob_seed(7, 0, Decimal("0.5"))  # caffe's seeds are 32-bit


def test_quantize_net_refuses_by_name(tiny_net):
    from inq_layer import quantize_net
    from inq_layer.net.quantize_net import from_codes
    with pytest.raises(TypeError) as e:
        quantize_net(tiny_net, 0.5, {"bits": 5})
    assert str(e.value) == "options must be a QuantOptions, got dict"
    with pytest.raises(InqError) as e:
        quantize_net(tiny_net, "1.5")
    assert str(e.value) == "portion '1.5' is outside (0, 1]"
    first = quantize_net(tiny_net, 0.5)  # QuantOptions() when none are given: 5 bits
    assert {b.bits for b in first.values()} == {5}
    cut = {k: from_codes(k[0], k[1], b.codes[:1], 5) for k, b in first.items()}
    with pytest.raises(InqError) as e:
        quantize_net(tiny_net, 0.75, QuantOptions(bits=5), cut)
    assert str(e.value) == ("layer 'conv1' blob 0: the previous phase's state has shape (1, 1, 3, 3), "
                            "the net (4, 1, 3, 3)")
    c = first[("conv1", 0)]
    with pytest.raises(InqError) as e:
        quantize_net(tiny_net, 0.75, QuantOptions(bits=4), first)
    assert str(e.value) == (f"layer 'conv1' blob 0: the previous phase's grid {c.n2}..{c.n1} is not a 4-bit grid; "
                            f"give the bits of the previous phase")
    tiny_net.params["conv1"][0].data[0, 0, 0, 0] = np.nan
    with pytest.raises(InqError, match="conv1"):
        quantize_net(tiny_net, 0.75, QuantOptions(bits=5))


def test_the_n1_of_the_first_phase_carries_over_unless_the_reference_rule_reselects_it(tiny_net):
    """The paper rule and the mse n1 rule keep a blob's grid; the reference rule with the max
    n1 rule chooses it again each phase, from the weights as training left them."""
    from inq_layer import quantize_net
    for rule, n1_rule, kept in (("paper", "max", True), ("reference", "mse", True), ("reference", "max", False)):
        w = tiny_net.params["ip1"][0].data
        w[...] = np.linspace(-0.2, 0.2, w.size, dtype=np.float32).reshape(w.shape)
        o = QuantOptions(bits=5, rule=rule, n1_rule=n1_rule)
        first = quantize_net(tiny_net, 0.25, o)
        n1 = first[("ip1", 0)].n1
        w[~first[("ip1", 0)].frozen] *= 16  # training moved the float weights far up
        again = quantize_net(tiny_net, 0.5, o, first)
        assert (again[("ip1", 0)].n1 == n1) == kept, (rule, n1_rule)


def test_prune_net_refuses_by_name(tiny_net):
    from decimal import Decimal
    from inq_layer.net.quantize_net import prune_net
    with pytest.raises(InqError) as e:
        prune_net(tiny_net, {"ip1": Decimal("0.999")})
    assert str(e.value) == ("sparsity 0.999 would prune every one of the 432 weights of layer 'ip1'; "
                            "give a lower sparsity")
    first = prune_net(tiny_net, {"ip1": Decimal("0.5")})
    assert int(first[("ip1", 0)].pruned.sum()) == 216 and not first[("conv1", 0)].pruned.any()
    bad = {k: type(b)(b.layer, b.index, None, None, b.codes[:1], b.pruned[:1]) for k, b in first.items()}
    with pytest.raises(InqError) as e:
        prune_net(tiny_net, Decimal("0.5"), bad)
    assert str(e.value) == "layer 'conv1' blob 0: the previous step's pruned mask does not fit the net"
    with pytest.raises(ValueError, match="quantize mode"):
        prune_net(tiny_net, Decimal("0.5"), quantize="all")


def test_summary_and_unfrozen_count(tiny_net):
    from inq_layer import quantize_net
    from inq_layer.net.quantize_net import summary, unfrozen_by_reselection
    first = quantize_net(tiny_net, 0.5, QuantOptions(bits=5))
    s = summary(first)
    total = sum(b.codes.size for b in first.values())
    assert s["frozen_fraction"] == sum(int(b.frozen.sum()) for b in first.values()) / total
    assert list(s["layers"]) == ["conv1", "ip1"] and s["layers"]["ip1"] == first[("ip1", 0)].counts()
    assert summary({}) == {"frozen_fraction": 0.0, "layers": {}}
    from inq_layer.core.codes import encode
    from inq_layer.net.freezer import FrozenBlob
    one = FrozenBlob("one", 0, -1, -8, encode(np.array([0.5], np.float32), np.array([True])), None, 5)
    assert summary({("one", 0): one})["frozen_fraction"] == 1.0
    assert unfrozen_by_reselection(None, first) == 0 == unfrozen_by_reselection({}, first)
    later = quantize_net(tiny_net, 0.75, QuantOptions(bits=5, rule="reference"), first)
    moved = {k: type(b)(b.layer, b.index, b.n1, b.n2, b.codes.copy(), b.pruned, b.bits) for k, b in later.items()}
    from inq_layer.core.codes import FLOAT
    moved[("ip1", 0)].codes.reshape(-1)[np.flatnonzero(first[("ip1", 0)].frozen)[:3]] = FLOAT
    assert unfrozen_by_reselection(first, moved) == 3
    assert unfrozen_by_reselection(first, {("ip1", 0): moved[("ip1", 0)], ("x", 0): moved[("conv1", 0)]}) == 3


def test_a_net_without_weight_layers_is_refused_by_name(tmp_path):
    import caffe
    from decimal import Decimal
    from inq_layer import quantize_net
    from inq_layer.net.quantize_net import prune_net
    path = tmp_path / "scale.prototxt"
    path.write_text('layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 2 } } }\n'
                    'layer { name: "s" type: "Scale" bottom: "data" top: "s" }\n')
    caffe.set_mode_cpu()
    net = caffe.Net(str(path), caffe.TEST)  # a Scale has blobs, but no weights INQ quantizes
    with pytest.raises(InqError) as e:
        quantize_net(net, 0.5)
    assert str(e.value) == "the net has no quantizable layer (Convolution, Deconvolution, InnerProduct)"
    with pytest.raises(InqError) as e:
        prune_net(net, Decimal("0.5"))
    assert str(e.value) == "the net has no prunable layer (Convolution, Deconvolution, InnerProduct)"
    assert list(prune_net(net, Decimal("0.5"), quantize="every-blob0")) == [("s", 0)]
    with pytest.raises(ValueError) as e:
        prune_net(net, Decimal("0.5"), quantize="all")
    assert str(e.value) == "unknown quantize mode 'all': use one of default, every-blob0"


def test_prune_net_zeroes_the_smallest_magnitudes_and_keeps_what_it_pruned(tiny_net):
    from decimal import Decimal
    from inq_layer.net.quantize_net import prune_net
    w = tiny_net.params["ip1"][0].data
    rng = np.random.default_rng(5)
    mags = rng.permutation(np.arange(1, w.size + 1)).reshape(w.shape).astype(np.float32) / 1024
    signs = np.where(rng.random(w.shape) < 0.5, -1, 1).astype(np.float32)
    w[...] = mags * signs  # distinct magnitudes, half of them negative
    w.reshape(-1)[rng.permutation(w.size)[:5]] = np.float32(0)  # exact zeros go first
    mags = np.abs(w)
    before = w.copy()
    first = prune_net(tiny_net, {"ip1": Decimal("0.25")})
    small = mags <= np.sort(mags.reshape(-1))[w.size // 4 - 1]
    assert np.array_equal(first[("ip1", 0)].pruned, small) and (w[small] == 0).all()
    assert np.array_equal(w[~small], before[~small])
    w[small] = 1.0  # training moved the pruned weights: they stay pruned, and the next step adds the smallest
    second = prune_net(tiny_net, {"ip1": Decimal("0.5")}, first)
    half = mags <= np.sort(mags.reshape(-1))[w.size // 2 - 1]
    assert np.array_equal(second[("ip1", 0)].pruned, half) and (w[half] == 0).all()
