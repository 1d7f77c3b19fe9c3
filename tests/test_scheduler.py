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
