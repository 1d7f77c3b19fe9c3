"""The shipped solvers carry the original's values."""
import os

import numpy as np

from inq_layer.caffe_edge.caffe_io import read_net
from inq_layer.caffe_edge.solver_config import load_solver

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
    from inq_layer.net.selection import quantizable_blobs
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


def test_resnet18_builds_in_caffe_with_its_weight_count(tmp_path):
    """prototxt/resnet18_train_val.prototxt, its Data layers swapped for an Input layer (no
    LMDB here), built by Caffe: 20 convolutions each followed by BatchNorm + Scale, 8 residual
    sums, fc1000, and ResNet-18's 11,689,512 weights (convolutions, Scale, fc1000)."""
    import caffe
    from inq_layer.caffe_edge.caffe_io import write_text_proto
    net = read_net(os.path.join(ROOT, "prototxt", "resnet18_train_val.prototxt"))
    data = [ly for ly in net.layer if ly.type == "Data"]
    assert [ly.data_param.source for ly in data] == ["data/ilsvrc12_train_lmdb", "data/ilsvrc12_val_lmdb"]
    assert [ly.transform_param.crop_size for ly in data] == [224, 224]
    kept = [ly for ly in net.layer if ly.type != "Data"]
    del net.layer[:]
    net.layer.add(name="data", type="Input", top=["data", "label"]).input_param.shape.add(dim=[2, 3, 224, 224])
    net.layer[0].input_param.shape.add(dim=[2])
    net.layer.extend(kept)
    path = str(tmp_path / "resnet18.prototxt")
    write_text_proto(path, net)
    caffe.set_mode_cpu()
    n = caffe.Net(path, caffe.TRAIN)
    types = {name: ly.type for name, ly in n.layer_dict.items()}
    convs = [k for k, t in types.items() if t == "Convolution"]
    assert len(convs) == 20 and convs[0] == "conv1" and sum(t == "Eltwise" for t in types.values()) == 8
    names = list(n.layer_dict)
    for c in convs:
        i = names.index(c)
        assert (types[names[i + 1]], types[names[i + 2]]) == ("BatchNorm", "Scale")
    assert [k for k, t in types.items() if t == "InnerProduct"] == ["fc1000"]
    weights = sum(b.data.size for k, blobs in n.params.items() if types[k] in ("Convolution", "InnerProduct", "Scale")
                  for b in blobs)
    assert weights == 11_689_512
    n.blobs["data"].data[...] = np.random.default_rng(0).normal(size=(2, 3, 224, 224))
    n.blobs["label"].data[...] = [1, 2]
    assert n.forward()["loss"] > 0 and n.blobs["fc1000"].data.shape == (2, 1000)


def test_resnet18_inq_solver_is_the_original_alexnet_solver_on_resnet18():
    """The recommended 2-bit settings: the original's phase length and lr (its comment says why)."""
    p = load_solver(os.path.join(ROOT, "prototxt", "resnet18_inq_solver.prototxt")).param
    a = load_solver(os.path.join(ROOT, "prototxt", "alexnet_solver.prototxt")).param
    for f in ("base_lr", "lr_policy", "gamma", "stepsize", "max_iter", "momentum", "weight_decay"):
        assert getattr(p, f) == getattr(a, f), f
    assert p.net == os.path.join(ROOT, "prototxt", "resnet18_train_val.prototxt") and list(p.test_iter) == [1000]
