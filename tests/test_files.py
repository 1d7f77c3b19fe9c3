"""files: only regular files are read, and what a file declares must fit in memory first."""
import os
import struct
import zlib

import numpy as np
import pytest

from driver_util import run_driver, run_tool
from inq_layer.errors import InqError
from inq_layer.files import check_fits_memory, check_regular, read_regular
from inq_layer.deploy.inq_format import HEADER, Entry, serialize


def test_only_regular_files_are_read(tmp_path):
    f = tmp_path / "w.caffemodel"
    f.write_bytes(b"abc")
    assert check_regular(str(f), "caffemodel") == 3 and read_regular(str(f), "caffemodel") == b"abc"
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for path, kind in ((str(fifo), "a FIFO"), ("/dev/zero", "a character device"), (str(tmp_path), "a directory")):
        with pytest.raises(InqError, match=f"^{path}: is {kind}, expected a regular caffemodel file$"):
            read_regular(path, "caffemodel")
    with pytest.raises(InqError, match="not found"):
        read_regular(str(tmp_path / "nope"), "caffemodel")


def test_check_fits_memory_names_the_source():
    check_fits_memory(1 << 20, "m.inq", "1 value")
    with pytest.raises(InqError, match=r"^m\.inq: 2\^62 values would take .* GiB to decode, more than the"):
        check_fits_memory(1 << 62 + 1, "m.inq", "2^62 values")


def test_tools_refuse_devices_and_fifos_by_name(tmp_path):
    fifo = str(tmp_path / "weights")
    os.mkfifo(fifo)
    solver = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "prototxt",
                          "lenet_inq_solver.prototxt")
    for weights, kind in (("/dev/zero", "a character device"), (fifo, "a FIFO")):
        r = run_driver("--solver", solver, "--weights", weights, "--out", str(tmp_path / "o"), check=False,
                       timeout=60)
        assert r.returncode == 2 and f"{weights}: is {kind}" in r.stderr and "Traceback" not in r.stderr
    r = run_tool("export", "--load", "/dev/zero", "--model", solver, "--out", str(tmp_path / "x.caffemodel"),
                 check=False, timeout=60)
    assert r.returncode == 2 and "/dev/zero: is a character device" in r.stderr


NET = """name: "n"
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 4 } } }
layer { name: "fc" type: "InnerProduct" bottom: "data" top: "fc"
  inner_product_param { num_output: 3 bias_term: false } }
"""


def _huge_claim(tmp_path, rows: int, freq0: int) -> str:
    """A 16 KB-sized .inq with a valid CRC whose one entropy-coded entry claims rows x 32768
    codes, code 0 with frequency freq0, and no words."""
    lanes = 1 << 16
    freqs = np.zeros(32, "<u2")
    freqs[0], freqs[1] = freq0, (1 << 15) - freq0
    name = b"fc"
    entry = (struct.pack("<BH", 3, len(name)) + name + struct.pack("<HB2I", 0, 2, rows, 1 << 15)
             + struct.pack("<BhBI", 5, -1, 15, lanes) + freqs.tobytes()
             + np.full(lanes, 1 << 16, "<u4").tobytes() + struct.pack("<I", 0))
    path = tmp_path / "claim.inq"
    path.write_bytes(HEADER.pack(b"INQMODEL", 3, 5, 0, 1, len(entry), zlib.crc32(entry)) + entry)
    return str(path)


def test_export_load_checks_declared_shapes_before_decoding(tmp_path):
    model = tmp_path / "net.prototxt"
    model.write_text(NET.replace("dim: 4", "dim: 32768"))  # fc's weights: 3 x 32768, as Caffe computes them
    out = str(tmp_path / "back.caffemodel")
    # 2^15 x 2^15 codes under a layer of 3 outputs: refused by the shape the net states
    r = run_tool("export", "--load", _huge_claim(tmp_path, 1 << 15, 1 << 15), "--model", str(model), "--out", out,
                 check=False, timeout=60)
    assert r.returncode == 2 and "layer 'fc' weights have shape (32768, 32768)" in r.stderr
    assert not os.path.exists(out)
    # the shape the net states, and a code with the whole probability range: any count from no data
    r = run_tool("export", "--load", _huge_claim(tmp_path, 3, 1 << 15), "--model", str(model), "--out", out,
                 check=False, timeout=60)
    assert r.returncode == 2 and "a code has the whole probability range" in r.stderr and not os.path.exists(out)


def test_declared_entries_beyond_memory_are_refused_before_decoding(tmp_path, monkeypatch):
    from inq_layer.deploy import export
    from inq_layer import files
    model = tmp_path / "net.prototxt"
    model.write_text(NET.replace("num_output: 3", "num_output: 40000"))
    w = np.zeros((40000, 4), np.float32)
    w[0, 0] = 0.5
    (tmp_path / "m.inq").write_bytes(serialize([Entry("fc", 0, w, True, -1)], 5))
    monkeypatch.setattr(files, "available_memory", lambda: 1 << 20)  # 1 MiB left
    with pytest.raises(InqError, match=r"m\.inq: 160,000 values would take 0\.0 GiB to decode, more than the 0\.0"):
        export.load_model(str(tmp_path / "m.inq"), str(model), str(tmp_path / "b.caffemodel"))


def test_export_load_writes_only_what_caffe_loads_into_the_net(tmp_path):
    """An entry for a parameterless layer, a duplicated bias, a layer without its bias."""
    model = tmp_path / "net.prototxt"
    relu = 'layer { name: "relu" type: "ReLU" bottom: "fc" top: "fc" }\n'
    model.write_text(NET.replace("bias_term: false", "") + relu)
    w = np.zeros((3, 4), np.float32)
    w[0, 0] = 0.5
    b = np.ones(3, np.float32)
    weights = Entry("fc", 0, w, True, -1)
    out = str(tmp_path / "back.caffemodel")
    for entries, msg in (([weights, Entry("fc", 1, b, False), Entry("relu", 0, b, False)],
                          "layer 'relu' has blobs [0], {m} gives it none"),
                         ([weights, Entry("fc", 1, b, False), Entry("fc", 1, b, False)], "layer 'fc' has blob 1 twice"),
                         ([weights], "layer 'fc' has blobs [0], {m} gives it [0, 1]")):
        (tmp_path / "m.inq").write_bytes(serialize(entries, 5))
        r = run_tool("export", "--load", str(tmp_path / "m.inq"), "--model", str(model), "--out", out, check=False)
        assert r.returncode == 2 and msg.format(m=model) in r.stderr and not os.path.exists(out), r.stderr
    (tmp_path / "m.inq").write_bytes(serialize([weights, Entry("fc", 1, b, False)], 5))
    run_tool("export", "--load", str(tmp_path / "m.inq"), "--model", str(model), "--out", out)
    import caffe
    net = caffe.Net(str(model), caffe.TEST, weights=out)  # stock Caffe loads it
    assert net.params["fc"][1].data.tolist() == [1.0, 1.0, 1.0]
