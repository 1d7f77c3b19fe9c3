"""A campaign's activation quantizers (--act-bits): the rewritten net in --out, its
calibration, the solver that trains it, the saturation its tests saw, the deploy net.

--out/inq_net.prototxt is the train/test net with a quantizer before every quantized
layer (net/act_placement.py); once calibrated, each quantizer's bits, f and signedness are
in its param_str. --out/inq_deploy.prototxt is the same net for deployment. Both are made
again from the user's net and the campaign record on every run, so a resume needs neither.
"""
from __future__ import annotations

import contextlib
import copy
import os
import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..caffe_edge import caffe_io
from ..caffe_edge.solver_config import SolverConfig
from ..errors import InqError
from ..net import act_placement
from ..net.act_calibration import calibrate
from ..net.user_layers import naming_user_layers
from ..options import QuantOptions

if TYPE_CHECKING:
    from caffe import Net

NET_FILE = "inq_net.prototxt"
DEPLOY_FILE = "inq_deploy.prototxt"


class Activations:
    def __init__(self, cfg: SolverConfig, out: str, options: QuantOptions, phases: int):
        if cfg.param.HasField("train_net") or len(cfg.param.test_net):
            raise InqError(f"{cfg.path}: --act-bits needs the solver to name one net file with `net:` "
                           f"(train_net/test_net are not rewritten)")
        self.options, self.out, self.phases = options, out, phases
        self.net = caffe_io.read_net(cfg.net_path)
        self.quantizers = act_placement.add_quantizers(self.net, options.act_bits)
        self.path = os.path.join(out, NET_FILE)
        self.cfg = copy.copy(cfg)
        self.cfg.param = type(cfg.param)()
        self.cfg.param.CopyFrom(cfg.param)
        self.cfg.param.net = self.cfg.net_path = self.path

    def first_phase(self) -> int:
        """The first phase that trains with quantized activations."""
        return 0 if self.options.act_from == "start" else self.phases - 1

    def active(self, k: int) -> bool:
        return k >= self.first_phase()

    def write(self, record: dict | None) -> None:
        """inq_net.prototxt with the calibrated quantizers of `record` (None: not yet)."""
        if record is not None:
            known = {q.name for q in self.quantizers}
            if set(record) != known:
                raise InqError(f"{self.out}: the campaign record's quantizers {sorted(record)} are not the ones the "
                               f"net gets now {sorted(known)}; use another --out")
            act_placement.set_quantizers(self.net, {n: (q["bits"], q["f"], q["signed"]) for n, q in record.items()})
        caffe_io.write_text_proto(self.path, self.net)

    def calibrate(self, caffe, weights: str | None) -> dict:
        """Each quantizer's f from training batches of the net with `weights`; the record
        entries ({name: {"blob", "bits", "f", "signed"}}). inq_net.prototxt is rewritten."""
        made = []  # weakly: a net kept alive would hold its LMDB open while the next opens it

        def make() -> Net:
            net = caffe.Net(self.path, caffe.TRAIN)
            if weights is not None:
                net.copy_from(weights)
            made.append(weakref.ref(net))
            return net
        o = self.options
        with naming_user_layers(lambda: [n for r in made if (n := r()) is not None],
                                lambda: "while calibrating the activation quantizers"):
            got = calibrate(make, self.quantizers, o.act_bits, o.act_calibration_batches, o.act_calibration)
        rec = {q.name: {"blob": q.bottom, "bits": got[q.name].bits, "f": got[q.name].f, "signed": got[q.name].signed}
               for q in self.quantizers}
        self.write(rec)
        return rec

    @contextlib.contextmanager
    def passing(self, nets: list[Net]) -> Iterator[None]:
        """The quantizers of `nets` pass values through meanwhile: the float model's test
        is of float activations too."""
        layers = [ly for net in nets for _, ly in self._layers(net)]
        saved = [ly.f for ly in layers]
        for ly in layers:
            ly.f = None
        try:
            yield
        finally:
            for ly, f in zip(layers, saved):
                ly.f = f

    def reset_counts(self, net: Net) -> None:
        for _, ly in self._layers(net):
            ly.seen = ly.saturated = 0

    def saturated(self, nets: list[Net]) -> dict:
        """{quantizer: the fraction of its inputs it saturated} in `nets` since reset_counts
        (None where it saw nothing)."""
        seen: dict = {q.name: (0, 0) for q in self.quantizers}
        for net in nets:
            for name, ly in self._layers(net):
                s, n = seen[name]
                seen[name] = (s + ly.saturated, n + ly.seen)
        return {name: (s / n if n else None) for name, (s, n) in seen.items()}

    def _layers(self, net: Net) -> list:
        names = {q.name for q in self.quantizers}
        return [(name, ly) for name, ly in zip(net._layer_names, net.layers) if name in names]

    def write_deploy(self, net: Net) -> str:
        """inq_deploy.prototxt, its input shapes from `net` (a built net of this campaign)."""
        shapes = {name: tuple(b.data.shape) for name, b in net.blobs.items()}
        path = os.path.join(self.out, DEPLOY_FILE)
        caffe_io.write_text_proto(path, act_placement.deploy_net(self.net, shapes))
        return path
