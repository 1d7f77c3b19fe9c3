"""The shipped solvers carry the original's values."""
import os

import numpy as np

from inq_layer.caffe_io import read_net
from inq_layer.solver_config import load_solver

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_alexnet_solver_is_the_original():
    p = load_solver(os.path.join(ROOT, "prototxt", "alexnet_solver.prototxt")).param
    f32 = np.float32  # protobuf float fields
    assert (f32(p.base_lr), p.lr_policy, f32(p.gamma), p.stepsize, p.max_iter) == \
        (f32(0.003), "step", f32(0.2), 15000, 63000)
    assert (f32(p.momentum), f32(p.weight_decay)) == (f32(0.9), f32(0.0005))
    assert p.solver_mode == 1  # GPU, as the original; the driver falls back to CPU here
    assert (list(p.test_iter), p.test_interval, p.snapshot, p.display) == ([1000], 3000, 3000, 40)
    net = read_net(os.path.join(ROOT, "prototxt", "alexnet_train_val.prototxt"))
    train = [ly for ly in net.layer if ly.type == "Data" and ly.include[0].phase == 0][0]
    assert train.data_param.batch_size == 256
    weights = [ly.name for ly in net.layer if ly.type in ("Convolution", "InnerProduct")]
    assert weights == ["conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"]


def test_resnet8_is_a_residual_net_with_batchnorm():
    """bench_resnet_mini times this net: three basic blocks, BatchNorm + Scale after every
    convolution, projections where the shape changes; INQ would quantize only the weights."""
    from inq_layer.selection import quantizable_blobs
    net = read_net(os.path.join(ROOT, "prototxt", "fashion_resnet8_train_test.prototxt"))
    layers = {ly.name: ly for ly in net.layer}
    convs = [ly.name for ly in net.layer if ly.type == "Convolution"]
    assert convs == ["conv1", "res2a", "res2b", "res3a", "res3b", "res3_proj", "res4a", "res4b", "res4_proj"]
    for c in convs:
        assert layers[f"{c}_bn"].type == "BatchNorm" and layers[f"{c}_scale"].type == "Scale"
    sums = [ly for ly in net.layer if ly.type == "Eltwise"]
    assert [list(ly.bottom) for ly in sums] == [["res2b", "conv1"], ["res3b", "res3_proj"], ["res4b", "res4_proj"]]
    assert [layers[c].convolution_param.stride[0] for c in ("res3a", "res3_proj", "res4a", "res4_proj")] == [2] * 4
    blobs = quantizable_blobs([(ly.name, ly.type, 1) for ly in net.layer if ly.type not in ("Data", "ReLU")])
    assert [n for n, _ in blobs] == convs + ["ip"]
