"""The README's "INQ in your own pycaffe loop" example, run as written (its first line,
which names the solver and the float model, points at a small net here)."""
import os
import re

import numpy as np

from caffe_nets import write_tiny

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")


def example() -> str:
    text = open(README).read()
    m = re.search(r"<!-- own-loop example -->\n```python\n(.*?)```", text, re.S)
    assert m, "the README lost its own-loop example"
    return m.group(1)


def test_readme_own_loop_example_runs_and_quantizes(tmp_path, monkeypatch):
    import caffe
    from inq_layer.deploy.check import check_model, passed
    from inq_layer.options import QuantOptions
    code = example()
    first, rest = code.split("\n", 1)
    assert first.startswith("solver_file, weights, iters = ")
    solver = write_tiny(str(tmp_path), max_iter=5, snapshot=0)
    caffe.set_mode_cpu()
    s = caffe.get_solver(solver)
    s.net.save(str(tmp_path / "float.caffemodel"))
    del s
    monkeypatch.chdir(tmp_path)
    scope = {}
    exec(f"solver_file, weights, iters = {solver!r}, 'float.caffemodel', 6\n" + rest, scope)
    assert scope["weights"] == "inq_phase4.caffemodel"
    rows = check_model(str(tmp_path / "net.prototxt"), str(tmp_path / "inq_phase4.caffemodel"),
                       QuantOptions(bits=5))
    assert passed(rows) and {r.layer for r in rows} == {"conv1", "ip1"}
    codes = scope["codes"]
    assert all(b.frozen.all() for b in codes.values())
    # phase 1's frozen weights are still exactly where phase 1 put them
    from inq_layer.caffe_edge import caffe_io
    p1 = caffe_io.model_arrays(caffe_io.read_caffemodel(str(tmp_path / "inq_phase1.caffemodel")))
    p4 = caffe_io.model_arrays(caffe_io.read_caffemodel(str(tmp_path / "inq_phase4.caffemodel")))
    w1, w4 = p1["ip1"][0], p4["ip1"][0]
    on_grid1 = (np.abs(w1).view(np.uint32) & 0x7FFFFF) == 0
    assert np.array_equal(w1[on_grid1], w4[on_grid1]) and on_grid1.mean() >= 0.5
