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


def read_from_lmdb(folder, data_param):
    """Make the tiny net in `folder` read a 2-image LMDB through a Data layer with
    `data_param` ('{db}' stands for the database)."""
    from inq_layer.datasets.datum_db import write_arrays
    db = os.path.join(folder, "db")
    write_arrays(db, np.zeros((2, 8, 8), np.uint8), np.zeros(2, np.int64))
    path = os.path.join(folder, "net.prototxt")
    text = open(path).read()
    start = text.index('layer { name: "conv1"')
    with open(path, "w") as f:
        f.write('name: "t"\nlayer { name: "data" type: "Data" top: "data" top: "label"\n'
                f'  data_param {{ {data_param.format(db=db)} }} }}\n' + text[start:])
    return path


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


def pb2_files(tmp_path, layers, blobs, quantizer=False):
    """net.prototxt of InnerProduct layers ({name: param names, () for none}, 4 inputs, 2
    outputs each), with an 8-bit quantizer after the input when asked, and w.caffemodel
    holding `blobs` ({layer: arrays}): written with caffe_pb2 alone, no Caffe net built."""
    from caffe.proto import caffe_pb2
    from google.protobuf import text_format
    from inq_layer.net.fixed_point_params import LAYER, MODULE, param_str
    net = caffe_pb2.NetParameter(name="n")
    ly = net.layer.add(name="data", type="Input", top=["data"])
    ly.input_param.shape.add(dim=[1, 4])
    if quantizer:
        q = net.layer.add(name="data_q", type="Python", bottom=["data"], top=["data_q"])
        q.python_param.module, q.python_param.layer = MODULE, LAYER
        q.python_param.param_str = param_str(8, 5, True)
    for name, shared in layers.items():
        ly = net.layer.add(name=name, type="InnerProduct", bottom=["data_q" if quantizer else "data"], top=[name])
        ly.inner_product_param.num_output = 2
        for p in shared:
            ly.param.add(name=p)
    model = tmp_path / "net.prototxt"
    model.write_text(text_format.MessageToString(net))
    m = caffe_pb2.NetParameter()
    for name, arrays in blobs.items():
        ly = m.layer.add(name=name, type="InnerProduct")
        for a in arrays:
            ly.blobs.add(shape=caffe_pb2.BlobShape(dim=list(a.shape)), data=a.reshape(-1).tolist())
    weights = tmp_path / "w.caffemodel"
    weights.write_bytes(m.SerializeToString())
    return str(model), str(weights)
