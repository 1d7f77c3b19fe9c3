"""evaluate: a test pass as Caffe's Solver::TestAll makes it, on the trained weights, for
every test net with its own test_iter, and the names the report gives the results."""
import numpy as np

from caffe_nets import lmdb_tiny

POWER = """name: "p"
layer { name: "x" type: "Input" top: "x" input_param { shape { dim: 2 dim: 3 } } }
layer { name: "y" type: "Power" bottom: "x" top: "y" power_param { scale: 2 } }
"""


def by_hand(net, iters):
    """What a test pass must give: each output's mean over its elements, averaged over iters."""
    sums = {}
    for _ in range(iters):
        out = net.forward()
        for k in net.outputs:
            sums[k] = sums.get(k, 0.0) + float(np.mean(out[k]))
    return {k: v / iters for k, v in sums.items()}


def test_outputs_are_averaged_over_iterations_of_new_batches(tmp_path):
    import gc

    import caffe
    from inq_layer.campaign.evaluate import test_net_outputs
    caffe.set_mode_cpu()
    lmdb_tiny(tmp_path)
    net = str(tmp_path / "net.prototxt")
    weights = str(tmp_path / "w.caffemodel")
    caffe.Net(net, caffe.TEST).save(weights)

    def fresh():
        gc.collect()  # the last net's LMDB reader must be gone before another opens the database
        return caffe.Net(net, weights, caffe.TEST)
    got = {n: test_net_outputs(fresh(), n) for n in (3, 1, 0, -1)}
    want = {n: by_hand(fresh(), n) for n in (3, 1)}
    assert set(got[3]) == {"loss", "accuracy"}
    assert got[3] == want[3] and got[1] == want[1]
    assert got[3]["loss"] != got[1]["loss"]  # each pass reads the next batch
    assert got[0] == got[-1] == {}


def test_a_larger_output_is_averaged_over_its_elements(tmp_path):
    import caffe
    from inq_layer.campaign.evaluate import test_net_outputs
    path = tmp_path / "p.prototxt"
    path.write_text(POWER)
    net = caffe.Net(str(path), caffe.TEST)
    net.blobs["x"].data[...] = [[1, 2, 3], [4, 5, 7]]
    assert test_net_outputs(net, 2) == {"y": float(np.mean(np.float32([2, 4, 6, 8, 10, 14])))}


def test_every_test_net_with_its_own_iterations_on_the_trained_weights(tmp_path):
    import gc

    import caffe
    from inq_layer.caffe_edge.solver_config import load_solver
    from inq_layer.campaign.evaluate import flatten, test_all
    from inq_layer.datasets.datum_db import write_arrays
    caffe.set_mode_cpu()
    lmdb_tiny(tmp_path)
    # a second test net on other images (one LMDB read by two live nets aborts Caffe's DataReader)
    rng = np.random.default_rng(1)
    write_arrays(str(tmp_path / "db_B"), rng.integers(0, 255, (64, 8, 8)).astype(np.uint8), rng.integers(0, 3, 64))
    a = tmp_path / "net.prototxt"
    b = tmp_path / "b.prototxt"
    b.write_text(a.read_text().replace(str(tmp_path / "db_TEST"), str(tmp_path / "db_B")))
    solver = tmp_path / "two.prototxt"
    solver.write_text(f'train_net: "{a}"\ntest_net: "{a}"\ntest_net: "{b}"\n'
                      'test_iter: 2\ntest_iter: 3\ntest_interval: 1000\ntest_initialization: false\n'
                      'base_lr: 0.1\nlr_policy: "fixed"\nmax_iter: 10\nrandom_seed: 1\nsolver_mode: CPU\n')
    cfg = load_solver(str(solver))
    s = caffe.get_solver(cfg.path)
    s.step(3)  # the test nets still hold their fillers' weights: test_all must share the trained ones
    got = test_all(s, cfg)
    trained = str(tmp_path / "trained.caffemodel")
    s.net.save(trained)
    del s
    gc.collect()
    assert got == [by_hand(caffe.Net(str(a), trained, caffe.TEST), 2),
                   by_hand(caffe.Net(str(b), trained, caffe.TEST), 3)]
    assert got[0] != got[1]
    assert flatten(got) == {"loss": got[0]["loss"], "accuracy": got[0]["accuracy"],
                            "test1/loss": got[1]["loss"], "test1/accuracy": got[1]["accuracy"]}


def test_flatten_names_later_nets_by_their_index():
    from inq_layer.campaign.evaluate import flatten
    assert flatten([]) == {}
    assert flatten([{"a": 1.0}, {}, {"a": 2.0, "b": 3.0}]) == {"a": 1.0, "test2/a": 2.0, "test2/b": 3.0}
