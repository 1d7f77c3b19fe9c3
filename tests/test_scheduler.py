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
