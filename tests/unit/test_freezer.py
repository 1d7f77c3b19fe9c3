import numpy as np
import pytest
from hyp import examples
from hypothesis import given, settings, strategies as st

from inq_layer import quantize_blob
from inq_layer.errors import InqError
from inq_layer.core.codes import FLOAT, decode, encode, frozen_mask
from inq_layer.net.freezer import Freezer, FrozenBlob


class Blob:
    def __init__(self, data):
        self.data = data


@settings(max_examples=examples(60), deadline=None)
@given(st.integers(1, 3000), st.sampled_from(["0.3", "0.5", "0.9", "1.0"]), st.integers(2, 8), st.integers(0, 99))
def test_restore_writes_exactly_the_frozen_values(n, portion, bits, seed):
    rng = np.random.default_rng(seed)
    w = rng.normal(0, 0.1, n).astype(np.float32)
    r = quantize_blob(w, portion, bits, rule="paper")
    codes = encode(r.quantized, r.frozen)
    assert codes.dtype == np.uint16 and codes.nbytes == 2 * n  # 2 bytes per weight
    assert np.array_equal(frozen_mask(codes), r.frozen)
    assert np.array_equal(decode(codes)[r.frozen].view(np.uint32), r.quantized[r.frozen].view(np.uint32))
    trained = rng.normal(0, 0.1, n).astype(np.float32)  # what an SGD step left behind
    params = {"ip": [Blob(trained.copy())]}
    f = Freezer({("ip", 0): codes})
    f.restore(params)
    got = params["ip"][0].data
    assert np.array_equal(got[r.frozen].view(np.uint32), r.quantized[r.frozen].view(np.uint32))
    assert np.array_equal(got[~r.frozen].view(np.uint32), trained[~r.frozen].view(np.uint32))
    assert f.violations(params) == 0
    if (~r.frozen).any() or r.frozen.any():
        params["ip"][0].data[...] = trained
        assert f.violations(params) == int(np.count_nonzero(trained[r.frozen] != r.quantized[r.frozen]))


def test_large_blob_across_chunks_and_nothing_frozen():
    w = np.random.default_rng(1).normal(0, 0.01, (1500, 1000)).astype(np.float32)
    r = quantize_blob(w, 0.6, 5, rule="paper")
    params = {"fc": [Blob(np.ones_like(w))], "other": [Blob(np.ones(5, np.float32))]}
    f = Freezer({("fc", 0): encode(r.quantized, r.frozen), ("other", 0): np.full(5, FLOAT, np.uint16)})
    f.restore(params)
    assert np.array_equal(params["fc"][0].data[r.frozen], r.quantized[r.frozen])
    assert np.all(params["fc"][0].data[~r.frozen] == 1) and np.all(params["other"][0].data == 1)
    # violations add up over blobs
    two = Freezer({("a", 0): encode(np.full(3, 0.5, np.float32), np.ones(3, bool)),
                   ("b", 0): encode(np.full(2, 0.25, np.float32), np.array([True, False]))})
    assert two.violations({"a": [Blob(np.zeros(3, np.float32))], "b": [Blob(np.zeros(2, np.float32))]}) == 4


def test_frozen_blob_state_and_counts():
    q = np.array([[0.5, -0.0], [0.0, 0.25], [0.3, -1.0]], np.float32)
    frozen = np.array([[True, True], [True, True], [False, True]])
    b = FrozenBlob("conv1", 0, -1, -8, encode(q, frozen))
    assert b.pruned is None and b.frozen.tolist() == frozen.tolist()
    # zeros: +0 and -0 among the frozen (two positive and one negative non-zero value besides)
    assert b.counts() == {"count": 6, "frozen_fraction": 5 / 6, "zero_fraction": 2 / 6, "pruned_fraction": 0.0,
                          "n1": -1, "n2": -8}
    p = FrozenBlob("conv1", 0, -1, -8, b.codes, pruned=np.array([[False, False], [True, False], [False, False]]))
    assert p.counts()["pruned_fraction"] == 1 / 6
    assert FrozenBlob("conv1", 0, -1, -8, b.codes, bits=5).counts() == {**b.counts(), "bits": 5}


class FakeSolver:
    """pycaffe's calls that Freezer uses: net.params, add_callback, step. Each iteration
    runs the on_start callbacks, a forward pass (recorded) and an update that moves every
    weight, as Caffe's Solver::Step does."""

    def __init__(self, params):
        self.net = type("Net", (), {"params": params})()
        self.starts, self.seen = [], []

    def add_callback(self, on_start, on_gradients_ready):
        self.starts.append(on_start)
        on_gradients_ready()  # pycaffe ignores its return value

    def step(self, n):
        for _ in range(n):
            for cb in self.starts:
                cb()
            self.seen.append(self.net.params["ip"][0].data.copy())
            self.net.params["ip"][0].data += np.float32(0.01)


def test_attach_and_step_keep_frozen_weights_exact_in_every_forward_pass():
    w = np.random.default_rng(4).normal(0, 0.1, 200).astype(np.float32)
    r = quantize_blob(w, 0.5, 5, rule="paper")
    solver = FakeSolver({"ip": [Blob(w.copy())]})
    f = Freezer({("ip", 0): FrozenBlob("ip", 0, r.n1, r.n2, encode(r.quantized, r.frozen))})
    with pytest.raises(RuntimeError, match=r"^Freezer.step: attach\(solver\) first$"):
        f.step(1)
    assert not f.attached_to(solver)
    f.attach(solver)
    assert f.attached_to(solver) and not f.attached_to(FakeSolver({}))
    f.step(3)
    assert len(solver.seen) == 3
    for seen in solver.seen:  # every forward pass saw the frozen values
        assert np.array_equal(seen[r.frozen], r.quantized[r.frozen])
    got = solver.net.params["ip"][0].data
    assert f.violations(solver.net.params) == 0  # step() restored after the last update
    assert np.allclose(got[~r.frozen], w[~r.frozen] + 3 * np.float32(0.01))
    del solver  # held weakly: a released solver is not kept alive by its freezer
    import gc
    gc.collect()
    with pytest.raises(RuntimeError, match="attach"):
        f.step(1)


def test_freezer_refuses_codes_that_are_not_uint16():
    for bad, dtype in ((np.zeros(3, np.int32), "int32"), (np.zeros(3, np.float32), "float32"), ([0, 1], "None")):
        with pytest.raises(InqError, match=rf"^Freezer: the codes of \('ip', 0\) are {dtype}, not uint16 "
                                           r"\(core\.codes\.encode makes them\)$"):
            Freezer({("ip", 0): bad})
