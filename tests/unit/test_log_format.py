"""The driver's log lines in glog's format, the one Caffe's tools/extra/parse_log.py reads:
`I<mmdd> <hh:mm:ss.micro> <pid> <file>:<line>] <message>`, the same line to both streams."""
import io
import os
import re

from inq_layer.caffe_edge.log_format import CaffeLog

GLOG = re.compile(r"^I(\d{4}) (\d\d:\d\d:\d\d\.\d{6}) (\d+) solver_driver\.py:0\] (.*)$")


def messages(stream: io.StringIO) -> list[str]:
    lines = stream.getvalue().split("\n")
    assert lines[-1] == ""  # every line ends with a newline
    out = []
    for line in lines[:-1]:
        m = GLOG.match(line)
        assert m, line
        assert int(m.group(3)) == os.getpid()
        out.append(m.group(4))
    return out


def test_one_line_in_glogs_format_to_the_stream_and_the_file():
    a, b = io.StringIO(), io.StringIO()
    CaffeLog(a, b)("hello world")
    assert messages(a) == ["hello world"]
    assert a.getvalue() == b.getvalue()
    c = io.StringIO()
    CaffeLog(c)("alone")  # no file
    assert messages(c) == ["alone"]


def test_iteration_lines_as_caffe_train_prints_them():
    s = io.StringIO()
    log = CaffeLog(s)
    log.iteration(20, 0.1234567, {"loss": 0.25, "accuracy": 1 / 3}, 0.01, rate=12.34567)
    log.iteration(30, 2.0, {}, 0.005)
    log.iteration(40, 2.0, {}, 0.005, rate=0.0)
    assert messages(s) == [
        "Iteration 20 (12.35 iter/s), loss = 0.123457",
        "    Train net output #0: loss = 0.25",
        "    Train net output #1: accuracy = 0.333333",
        "Iteration 20, lr = 0.01",
        "Iteration 30, loss = 2",
        "Iteration 30, lr = 0.005",
        "Iteration 40, loss = 2",
        "Iteration 40, lr = 0.005",
    ]


def test_test_lines_as_caffe_train_prints_them():
    s = io.StringIO()
    CaffeLog(s).test(500, 1, {"accuracy": 0.98765432, "loss": 1e-7})
    assert messages(s) == ["Iteration 500, Testing net (#1)", "    Test net output #0: accuracy = 0.987654",
                           "    Test net output #1: loss = 1e-07"]


def test_each_line_is_in_the_file_at_once(tmp_path):
    """A run killed at any moment leaves every line logged before in train.log."""
    path = tmp_path / "train.log"
    with open(path, "w") as f:
        log = CaffeLog(io.StringIO(), f)
        log("first")
        assert messages(io.StringIO(path.read_text())) == ["first"]
        log.test(1, 0, {"accuracy": 0.5})
        assert len(path.read_text().splitlines()) == 3
