"""Check a model's activations: every quantizer of the net (inq_net.prototxt, which the
campaign wrote) is calibrated at the expected bits, and its output on a few test batches
lies on its grid, q * 2^-f with q in its b-bit range."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..caffe_edge import caffe_io
from ..caffe_edge.probe import try_net
from ..core import fixed_point
from ..datasets.record_shapes import check_record_shapes
from ..errors import InqError
from ..net.act_placement import calibrated
from ..net.user_layers import naming_user_layers


@dataclass
class ActCheck:
    name: str
    bits: int
    f: int
    signed: bool
    count: int  # output elements checked
    off_grid: int  # of them, not q * 2^-f with q in range
    first_bad: float | None = None


DEFAULT_BATCHES = 3


def check_activations(model_path: str, weights_path: str, act_bits: int,
                      batches: int = DEFAULT_BATCHES) -> list[ActCheck]:
    """The quantizers of `model_path` (a net with its data layers) checked on `batches`
    TEST batches with the weights of `weights_path`."""
    import caffe
    net_param = caffe_io.read_net(model_path)
    found = [(top, p) for _, top, p in calibrated(net_param, model_path)]
    for name, p in found:
        if p["bits"] != act_bits:
            raise InqError(f"{model_path}: quantizer {name!r} has {p['bits']} bits, not --act-bits {act_bits}")
    if not found:
        raise InqError(f"{model_path} has no activation quantizers: give the inq_net.prototxt that a campaign "
                       f"with --act-bits wrote")
    if batches < 1:
        raise InqError(f"--act-batches must be at least 1, got {batches}")
    caffe_io.check_net_for_caffe(model_path, net_param, list(caffe.layer_type_list()))
    check_record_shapes(model_path, net_param)
    try_net(model_path, model_path)  # Caffe aborts the process on what it refuses: a child tries first
    caffe.set_mode_cpu()
    net = caffe.Net(model_path, caffe.TEST)
    caffe_io.check_weights_fit(weights_path, caffe_io.read_caffemodel(weights_path),
                               {name: [tuple(b.data.shape) for b in ly.blobs]
                                for name, ly in zip(net._layer_names, net.layers)})
    net.copy_from(weights_path)
    rows = {name: ActCheck(name, p["bits"], p["f"], p["signed"], 0, 0) for name, p in found}
    for b in range(batches):
        with naming_user_layers(lambda: [net], lambda b=b: f"in test batch {b + 1} of the check"):
            net.forward()
        for name, p in found:
            r = rows[name]
            y = net.blobs[name].data.astype(np.float64) * 2.0 ** p["f"]
            lo, hi = fixed_point.int_range(p["bits"], p["signed"])
            bad = (y != np.floor(y)) | (y < lo) | (y > hi)
            r.count += y.size
            r.off_grid += int(np.count_nonzero(bad))
            if r.first_bad is None and bad.any():
                r.first_bad = float(net.blobs[name].data.reshape(-1)[np.flatnonzero(bad)[0]])
    return list(rows.values())


def format_act_table(rows: list[ActCheck]) -> str:
    lines = [f"{'activation':<20} {'bits':>4} {'f':>4} {'signed':>6} {'checked':>11} {'off grid':>9}"]
    for r in rows:
        lines.append(f"{r.name:<20} {r.bits:>4} {r.f:>4} {str(r.signed):>6} {r.count:>11,} {r.off_grid:>9,}"
                     + (f"  first bad value {r.first_bad!r}" if r.off_grid else ""))
    return "\n".join(lines)
