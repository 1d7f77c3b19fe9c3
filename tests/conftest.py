import pytest


@pytest.fixture
def tiny(tmp_path):
    """The tiny DummyData net's solver (tests/caffe_nets.py): 3 iterations, no snapshots."""
    from caffe_nets import write_tiny
    return write_tiny(str(tmp_path), max_iter=3, snapshot=0)


@pytest.fixture
def tiny_net(tmp_path):
    """The tiny net's pycaffe train Net (its solver released afterwards)."""
    import caffe
    from caffe_nets import write_tiny
    caffe.set_mode_cpu()
    solver = caffe.get_solver(write_tiny(str(tmp_path)))
    yield solver.net
    del solver
