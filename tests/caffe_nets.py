"""Small nets and solvers written into a test's tmp folder."""
import os

import numpy as np

NET = """name: "tiny"
layer {{ name: "data" type: "DummyData" top: "data" top: "label"
  dummy_data_param {{ shape {{ dim: {batch} dim: 1 dim: {hw} dim: {hw} }} shape {{ dim: {batch} }}
    data_filler {{ type: "{filler}" {fparam} }} data_filler {{ type: "constant" value: 1 }} }} }}
layer {{ name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
  convolution_param {{ num_output: {conv} kernel_size: 3 weight_filler {{ type: "xavier" }}
    bias_filler {{ type: "constant" value: 0.1 }} }} }}
layer {{ name: "bn1" type: "BatchNorm" bottom: "conv1" top: "conv1" }}
layer {{ name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }}
layer {{ name: "ip1" type: "InnerProduct" bottom: "conv1" top: "ip1"
  inner_product_param {{ num_output: 3 weight_filler {{ type: "xavier" }} }} }}
layer {{ name: "loss" type: "SoftmaxWithLoss" bottom: "ip1" bottom: "label" top: "loss" }}
layer {{ name: "acc" type: "Accuracy" bottom: "ip1" bottom: "label" top: "accuracy" include {{ phase: TEST }} }}
"""

SOLVER = """net: "{net}"
test_iter: 2
test_interval: {test_interval}
base_lr: 0.01
lr_policy: "step"
gamma: 0.5
stepsize: 7
momentum: 0.9
weight_decay: 0.0005
display: 3
max_iter: {max_iter}
snapshot: {snapshot}
snapshot_prefix: "tiny"
random_seed: 1
solver_mode: CPU
"""


def write_tiny(folder, max_iter=10, snapshot=4, test_interval=5, batch=8, hw=8, conv=4,
               deterministic=False):
    """Write net.prototxt and solver.prototxt; return the solver path. `deterministic`
    uses constant data so that a resumed run can be compared bit for bit."""
    filler, fparam = ("constant", "value: 0.5") if deterministic else ("gaussian", "std: 1")
    net = os.path.join(folder, "net.prototxt")
    with open(net, "w") as f:
        f.write(NET.format(batch=batch, hw=hw, conv=conv, filler=filler, fparam=fparam))
    solver = os.path.join(folder, "solver.prototxt")
    with open(solver, "w") as f:
        f.write(SOLVER.format(net=net, max_iter=max_iter, snapshot=snapshot, test_interval=test_interval))
    return solver


def lmdb_tiny(tmp_path, **kw):
    """The tiny net reading 64 random images from LMDBs (8 batches of 8: where a data
    layer stands matters)."""
    from inq_layer.datasets.datum_db import write_arrays
    rng = np.random.default_rng(0)
    data = 'name: "tiny_lmdb"\n'
    for phase in ("TRAIN", "TEST"):
        db = str(tmp_path / f"db_{phase}")
        write_arrays(db, rng.integers(0, 255, (64, 8, 8)).astype(np.uint8), rng.integers(0, 3, 64))
        data += ('layer { name: "data" type: "Data" top: "data" top: "label"\n'
                 f'  include {{ phase: {phase} }} transform_param {{ scale: 0.00390625 }}\n'
                 f'  data_param {{ source: "{db}" batch_size: 8 backend: LMDB }} }}\n')
    solver = write_tiny(str(tmp_path), **kw)
    net = tmp_path / "net.prototxt"
    text = net.read_text()
    net.write_text(data + text[text.index('layer { name: "conv1"'):])
    return solver


def write_without_quantizers(deploy, path) -> str:
    """The deploy prototxt without its quantizers (a weight-only model's deploy net)."""
    from inq_layer.caffe_edge.caffe_io import read_net, write_text_proto
    from inq_layer.net.act_placement import without_quantizers
    write_text_proto(str(path), without_quantizers(read_net(deploy)))
    return str(path)
