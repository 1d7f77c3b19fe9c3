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
