"""Bad input to check and export: one line, exit 2, nothing written that loses anything."""
from driver_util import assert_clean_error, run_driver, run_tool


def other_net_inq(tmp_path, tiny):
    """An .inq and a caffemodel of the tiny net with ip1 at 4 outputs instead of 3."""
    net = (tmp_path / "net.prototxt").read_text()
    other = tmp_path / "other"
    other.mkdir()
    (other / "net.prototxt").write_text(net.replace("num_output: 3", "num_output: 4"))
    solver = other / "solver.prototxt"
    solver.write_text(open(tiny).read().replace(str(tmp_path / "net.prototxt"), str(other / "net.prototxt")))
    out = other / "o"
    run_driver("--solver", str(solver), "--init-from-fillers", "--out", str(out), "--campaign", "1")
    inq = other / "m.inq"
    run_tool("export", "--model", str(other / "net.prototxt"), "--weights", str(out / "final_inq.caffemodel"),
             "--out", str(inq))
    return inq, out / "final_inq.caffemodel"


def test_tools_refuse_weights_of_another_net(tmp_path, tiny):
    inq, model = other_net_inq(tmp_path, tiny)
    net = str(tmp_path / "net.prototxt")
    assert_clean_error(run_tool("export", "--load", str(inq), "--model", net, "--out", str(tmp_path / "b.caffemodel"),
                                check=False), "ip1", "3 outputs", "another net")
    assert not (tmp_path / "b.caffemodel").exists()
    assert_clean_error(run_tool("check", "--model", net, "--weights", str(model), check=False), "ip1", "another net")


def test_export_outputs_that_would_lose_something(tmp_path, tiny):
    out = tmp_path / "o"
    run_driver("--solver", tiny, "--init-from-fillers", "--out", str(out), "--campaign", "1")
    model, net = out / "final_inq.caffemodel", str(tmp_path / "net.prototxt")
    before = model.read_bytes()
    (tmp_path / "empty").mkdir()
    for target, words in ((model, "also an input"), (tmp_path, "holds the input"),
                          (tmp_path / "empty", "is a directory"), (tmp_path / "no" / "m.inq", "does not exist")):
        r = run_tool("export", "--model", net, "--weights", str(model), "--out", str(target), check=False)
        assert_clean_error(r, words)
    assert model.read_bytes() == before
    inq = tmp_path / "m.inq"
    run_tool("export", "--model", net, "--weights", str(model), "--out", str(inq))
    assert_clean_error(run_tool("export", "--load", str(inq), "--model", net, "--out", str(inq), check=False),
                       "also an input")
    assert_clean_error(run_tool("export", "--load", str(inq), "--model", net, "--bits", "3", "--quantize", "default",
                                "--out", str(tmp_path / "b.caffemodel"), check=False),
                       "error: --bits, --quantize: only with --weights (an .inq file holds each layer's bits)")
    assert not (tmp_path / "b.caffemodel").exists()
