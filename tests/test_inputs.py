"""campaign/inputs.py, what the driver and the prune tool check before any work, word for
word: the starting weights, TEST-only weight layers, the --out folder, errors of the disk."""
import errno
import os

import pytest

from caffe_nets import write_tiny
from driver_util import save_weights
from inq_layer.campaign import inputs
from inq_layer.errors import InqError


def test_a_solver_must_name_its_net_file(tmp_path):
    solver = write_tiny(str(tmp_path), max_iter=2)
    assert inputs.solver_with_net_file(solver).net_path == str(tmp_path / "net.prototxt")
    inline = tmp_path / "inline.prototxt"
    inline.write_text('net_param { name: "n" layer { name: "d" type: "Input" top: "d" } }\n'
                      'lr_policy: "fixed"\nmax_iter: 2\n')
    with pytest.raises(InqError) as e:
        inputs.solver_with_net_file(str(inline))
    assert str(e.value) == (f"{inline}: inline nets (net_param) are not supported; put the net in a file and name it "
                            f"with `net:`")


def test_the_starting_weights(tmp_path):
    solver = write_tiny(str(tmp_path), max_iter=2)
    w = save_weights(tmp_path, solver)
    assert inputs.starting_weights(w, False, None) == w
    assert inputs.starting_weights(None, False, w) == w  # the documented default path, when it is there
    assert inputs.starting_weights(None, True, w) is None  # --init-from-fillers
    assert inputs.starting_weights(w, True, None) == w  # given weights win over the flag
    for default, where in ((str(tmp_path / "float.caffemodel"), f"put it at {tmp_path}/float.caffemodel"),
                           (None, "give it with --weights")):
        with pytest.raises(InqError) as e:
            inputs.starting_weights(None, False, default)
        assert str(e.value) == f"no float model: {where} (or use --init-from-fillers for a smoke run)"
    (tmp_path / "cut.caffemodel").write_bytes(open(w, "rb").read()[:50])
    with pytest.raises(InqError, match="cut.caffemodel"):  # read once here: a bad file fails before any work
        inputs.starting_weights(str(tmp_path / "cut.caffemodel"), False, None)


def test_weights_in_the_test_net_only_are_named(tmp_path):
    write_tiny(str(tmp_path))
    net = tmp_path / "net.prototxt"
    aux = ('layer { name: "NAME" type: "InnerProduct" bottom: "conv1" top: "NAME"\n'
           '  inner_product_param { num_output: 3 } include { phase: TEST } }\n')
    base = net.read_text()
    inputs.refuse_test_only_weights(str(net))
    message = (f"{net}: layer 'aux1' has weights but is in the TEST net only: no training updates or quantizes it "
               f"and no saved model holds it; share its weights with a TRAIN layer (param {{ name: ... }}) or "
               f"remove it")
    net.write_text(base + aux.replace("NAME", "aux1"))
    with pytest.raises(InqError) as e:
        inputs.refuse_test_only_weights(str(net))
    assert str(e.value) == message
    net.write_text(base + aux.replace("NAME", "aux1") + aux.replace("NAME", "aux2"))
    with pytest.raises(InqError) as e:
        inputs.refuse_test_only_weights(str(net))
    assert str(e.value) == message + " (and 1 more such layers)"


def test_the_out_folder(tmp_path):
    out = tmp_path / "o"
    assert inputs.writable_out(str(out), []) == str(out) and os.listdir(out) == []  # made; the probe is gone
    for n in (".lock", "train.log", ".inq_scratch", "phase1", "phase12"):  # what a run of ours leaves first
        (out / n).mkdir()
    assert inputs.writable_out(str(out), []) == str(out)
    for n in ("phase", "train.log.1", "a", "b"):
        (out / n).write_text("x")
    with pytest.raises(InqError) as e:
        inputs.writable_out(str(out), [])
    assert str(e.value) == (f"--out {out}: holds files of no campaign (a, b, phase and 1 more); give an empty or "
                            f"new folder (nothing in it was changed)")
    os.remove(out / "train.log.1")
    with pytest.raises(InqError) as e:
        inputs.writable_out(str(out), [])
    assert "(a, b, phase);" in str(e.value)
    (out / "campaign.json").write_text("{}")  # a campaign's folder: resume decides
    assert inputs.writable_out(str(out), []) == str(out)
    (tmp_path / "f").write_text("x")
    with pytest.raises(InqError) as e:
        inputs.writable_out(str(tmp_path / "f" / "o"), [])
    assert str(e.value) == f"--out {tmp_path}/f/o: not writable (Not a directory)"
    with pytest.raises(InqError) as e:
        inputs.writable_out(str(tmp_path / "f"), [])
    assert str(e.value) == f"--out {tmp_path}/f is a file; give a folder for the campaign (nothing was changed)"
    assert (tmp_path / "f").read_text() == "x"
    with pytest.raises(InqError, match="is also an input"):
        inputs.writable_out(str(tmp_path / "f"), [str(tmp_path / "f")])


def test_a_disk_error_during_a_campaign_says_to_resume(tmp_path):
    out = str(tmp_path)
    with pytest.raises(InqError) as e:
        with inputs.campaign_log(out) as log:
            log("started")
            raise OSError(errno.ENOSPC, "No space left on device", f"{out}/phase1/x")
    assert str(e.value) == (f"{out}/phase1/x: no space left on device; free space and rerun (earlier files are "
                            f"intact); then rerun with --resume")
    assert open(f"{out}/train.log").read().rstrip().endswith("] started")
    with pytest.raises(InqError) as e:
        with inputs.campaign_log(out):
            raise OSError(errno.EIO, "Input/output error")
    assert str(e.value) == f"{out}: Input/output error; then rerun with --resume"
    with pytest.raises(ValueError):  # not an OSError: a bug keeps its traceback
        with inputs.campaign_log(out):
            raise ValueError("bug")
