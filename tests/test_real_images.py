"""The ImageNet path of the README on real photographs, small: opencv-doc's photos ->
imageset -> LMDB -> image_mean -> a small net whose Data layer does what AlexNet's does
(crop, mirror, mean file) -> a short campaign -> the check. (make bench runs the real
AlexNet definition on the same photos: bench/bench_alexnet_real.py.)"""
import json
import os

from driver_util import ROOT, run_driver, run_tool

NET = """name: "small_real"
layer {{ name: "data" type: "Data" top: "data" top: "label" include {{ phase: TRAIN }}
  transform_param {{ mirror: true crop_size: 56 mean_file: "{mean}" scale: 0.0078125 }}
  data_param {{ source: "{db}" batch_size: 4 backend: LMDB }} }}
layer {{ name: "data" type: "Data" top: "data" top: "label" include {{ phase: TEST }}
  transform_param {{ mirror: false crop_size: 56 mean_file: "{mean}" scale: 0.0078125 }}
  data_param {{ source: "{val}" batch_size: 2 backend: LMDB }} }}
layer {{ name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
  convolution_param {{ num_output: 4 kernel_size: 5 stride: 4 weight_filler {{ type: "xavier" }} }} }}
layer {{ name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }}
layer {{ name: "fc" type: "InnerProduct" bottom: "conv1" top: "fc"
  inner_product_param {{ num_output: 2 weight_filler {{ type: "xavier" }} }} }}
layer {{ name: "loss" type: "SoftmaxWithLoss" bottom: "fc" bottom: "label" top: "loss" }}
layer {{ name: "acc" type: "Accuracy" bottom: "fc" bottom: "label" top: "accuracy" include {{ phase: TEST }} }}
"""


def test_photos_to_lmdb_mean_and_a_campaign(tmp_path):
    from sample_images import sample_imageset
    images, listing = sample_imageset(os.path.join(ROOT, "build", "downloads"), str(tmp_path / "photos"))
    assert len(open(listing).read().split("\n")) >= 20
    db, mean = str(tmp_path / "db"), str(tmp_path / "mean.binaryproto")
    r = run_tool("imageset", "--root", images, "--list", listing, "--out", db, "--resize", "64", "64", "--shuffle")
    assert "unreadable" in r.stdout and "images/s" in r.stdout
    val = str(tmp_path / "val")  # Caffe 1.0 cannot open one source in a train and a test layer of one name
    run_tool("imageset", "--root", images, "--list", listing, "--out", val, "--resize", "64", "64")
    run_tool("image_mean", db, mean)
    (tmp_path / "net.prototxt").write_text(NET.format(db=db, val=val, mean=mean))
    (tmp_path / "solver.prototxt").write_text(
        f'net: "{tmp_path / "net.prototxt"}"\ntest_iter: 3\ntest_interval: 100\nbase_lr: 0.01\nlr_policy: "fixed"\n'
        'momentum: 0.9\nweight_decay: 0.0005\ndisplay: 2\nmax_iter: 6\nsnapshot: 3\nsnapshot_prefix: "x"\n'
        "random_seed: 1\nsolver_mode: CPU\n")
    out = tmp_path / "out"
    r = run_driver("--solver", str(tmp_path / "solver.prototxt"), "--init-from-fillers", "--out", str(out),
                   "--campaign", "0.3,0.6,0.8,1", "--final-iters", "2")
    assert "check passed" in r.stdout
    rep = json.load(open(out / "report.json"))
    assert rep["check_passed"] and set(rep["phases"][0]["layers"]) == {"conv1", "fc"}
    assert "accuracy" in rep["test_float"]
