"""Bad input to solver_driver.py: one line naming the file/layer/value, exit 2, no
traceback, no Caffe abort."""
import os
import stat

import numpy as np
import pytest

from caffe_nets import write_tiny
from driver_util import assert_clean_error, caffemodel_params, log_messages, run_driver, run_tool, save_weights


def test_missing_and_directory_files(tmp_path, tiny):
    assert_clean_error(run_driver("--solver", str(tmp_path / "no.prototxt"), check=False), "no.prototxt", "not found")
    assert_clean_error(run_driver("--solver", str(tmp_path), check=False), "is a directory")
    assert_clean_error(run_driver("--solver", tiny, "--weights", str(tmp_path / "x.caffemodel"), check=False),
                       "x.caffemodel", "not found")


def test_malformed_prototxt_and_unknown_field(tmp_path, tiny):
    bad = tmp_path / "bad.prototxt"
    bad.write_text('base_lr: 0.1\nmax_iter: {\n')
    assert_clean_error(run_driver("--solver", str(bad), check=False), "bad.prototxt:2:")
    bad.write_text('base_lr: 0.1\nfrobnicate: 3\n')
    assert_clean_error(run_driver("--solver", str(bad), check=False), "bad.prototxt:2:", "frobnicate")


def test_bad_caffemodels(tmp_path, tiny):
    good = save_weights(tmp_path, tiny)
    data = open(good, "rb").read()
    trunc = tmp_path / "trunc.caffemodel"
    trunc.write_bytes(data[: len(data) // 2])
    assert_clean_error(run_driver("--solver", tiny, "--weights", str(trunc), check=False), "trunc.caffemodel")
    junk = tmp_path / "junk.caffemodel"
    junk.write_bytes(b"\x00\x01hello world" * 10)
    assert_clean_error(run_driver("--solver", tiny, "--weights", str(junk), check=False), "junk.caffemodel")
    other_dir = tmp_path / "other"
    other_dir.mkdir()
    other = save_weights(other_dir, write_tiny(str(other_dir), conv=6))
    assert_clean_error(run_driver("--solver", tiny, "--weights", other, "--out", str(tmp_path / "o1"), check=False),
                       "conv1", "shape")


def test_nan_weights_name_the_layer(tmp_path, tiny):
    def poison(net):
        net.params["ip1"][0].data[0, 0] = np.nan
    w = save_weights(tmp_path, tiny, poison)
    assert_clean_error(run_driver("--solver", tiny, "--weights", w, "--out", str(tmp_path / "o"), check=False),
                       "ip1", "NaN")


@pytest.mark.parametrize("args,words", [
    (["--campaign", "0.5,0.3,1"], ["strictly increasing"]),
    (["--campaign", "0.5,1.5"], ["outside (0, 1]"]),
    (["--campaign", "0.3,0.6"], ["must end at 1"]),
    (["--campaign", "0,1"], ["outside (0, 1]"]),
    (["--bits", "9"], ["bits"]),
    (["--bits", "1"], ["bits"]),
    (["--rule", "magic"], ["--rule", "magic"]),
    (["--strategy", "x"], ["--strategy"]),
])
def test_bad_options(tmp_path, tiny, args, words):
    assert_clean_error(run_driver("--solver", tiny, "--init-from-fillers", *args, check=False), *words)


def test_out_not_writable(tmp_path, tiny):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(stat.S_IRUSR | stat.S_IXUSR)
    if os.access(str(ro), os.W_OK):  # root ignores permissions: use a path under a file instead
        ro = tmp_path / "afile"
        ro.write_text("x")
        ro = ro / "sub"
    assert_clean_error(run_driver("--solver", tiny, "--init-from-fillers", "--out", str(ro), check=False), "--out")


def test_second_campaign_on_same_out_refused(tmp_path, tiny):
    import fcntl
    out = tmp_path / "o"
    out.mkdir()
    fd = os.open(str(out / ".lock"), os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.write(fd, b"4242\n")
    try:
        r = run_driver("--solver", tiny, "--init-from-fillers", "--out", str(out), check=False)
        assert_clean_error(r, "pid 4242")
    finally:
        os.close(fd)


def test_missing_default_weights_says_where(tmp_path):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if os.path.exists(os.path.join(root, "models/bvlc_alexnet/bvlc_alexnet.caffemodel")):
        pytest.skip("the AlexNet model is installed here")
    r = run_driver("--solver", "prototxt/alexnet_solver.prototxt", check=False, cwd=root)
    assert_clean_error(r, "models/bvlc_alexnet/bvlc_alexnet.caffemodel")


def test_all_zero_layer_warns_and_goes_on(tmp_path, tiny):
    def zero(net):
        net.params["conv1"][0].data[...] = 0
    w = save_weights(tmp_path, tiny, zero)
    r = run_driver("--solver", tiny, "--weights", w, "--out", str(tmp_path / "o"), "--campaign", "0.5,1", check=False)
    assert r.returncode == 0, r.stderr[-2000:]
    assert log_messages(r.stdout).count("warning: layer 'conv1': all weights are zero, counted as quantized") == 2


def test_disk_full_during_state_write_keeps_previous_and_resume_works(tmp_path, monkeypatch, capsys):
    import errno

    from driver_util import driver_module, states
    from inq_layer.campaign import state as state_mod
    from inq_layer.campaign.state import newest_complete_snapshot
    drv = driver_module()
    solver = write_tiny(str(tmp_path), max_iter=8, snapshot=2)
    out = str(tmp_path / "o")
    args = ["--solver", solver, "--init-from-fillers", "--out", out, "--campaign", "0.5,1"]
    real, calls = state_mod.write_bytes_atomic, []

    def failing(path, data):
        calls.append(path)
        if len(calls) == 3:  # the third state write: phase 1, iteration 6
            with open(path + ".partial", "wb") as f:
                f.write(data[: len(data) // 3])
            raise OSError(errno.ENOSPC, "No space left on device", path)
        real(path, data)
    monkeypatch.setattr(state_mod, "write_bytes_atomic", failing)
    assert drv.main(args) == 2
    err = capsys.readouterr().err
    assert "no space left on device" in err and "--resume" in err
    good = newest_complete_snapshot(os.path.join(out, "phase1"))
    assert good is not None and good[1].iteration == 4  # the previous snapshot is intact
    monkeypatch.setattr(state_mod, "write_bytes_atomic", real)
    assert drv.main(args + ["--resume"]) == 0
    assert "check passed" in capsys.readouterr().out
    assert [it for it, _ in states(out, 1)][-1] == 8


def test_caffemodel_of_another_net_names_it(tmp_path, tiny):
    from inq_layer.caffe_edge.caffe_io import pb2
    m = pb2().NetParameter(name="other")
    layer = m.layer.add(name="fc_other", type="InnerProduct")
    b = layer.blobs.add()
    b.shape.dim.extend([2, 2])
    b.data.extend([0.1, 0.2, 0.3, 0.4])
    path = tmp_path / "other.caffemodel"
    path.write_bytes(m.SerializeToString())
    assert_clean_error(run_driver("--solver", tiny, "--weights", str(path), "--out", str(tmp_path / "o"), check=False),
                       "other.caffemodel", "belongs to another net")


def test_two_real_campaigns_on_one_out(tmp_path):
    import subprocess
    import sys
    import time

    from driver_util import DRIVER
    solver = write_tiny(str(tmp_path), max_iter=100000, snapshot=0)
    out = tmp_path / "o"
    first = subprocess.Popen([sys.executable, DRIVER, "--solver", solver, "--init-from-fillers", "--out", str(out)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while time.time() < deadline and not (out / "campaign.json").exists():
            time.sleep(0.05)
        r = run_driver("--solver", solver, "--init-from-fillers", "--out", str(out), "--resume", check=False)
        assert_clean_error(r, f"pid {first.pid}")
    finally:
        first.kill()
        first.wait()


def test_bad_net_files_are_caught_before_caffe(tmp_path, tiny):
    net = tmp_path / "net.prototxt"
    good = net.read_text()
    net.write_text(good.replace('type: "ReLU"', 'type: "ReLUU"'))
    assert_clean_error(run_driver("--solver", tiny, "--init-from-fillers", "--out", str(tmp_path / "a"), check=False),
                       "net.prototxt", "relu1", "ReLUU")
    net.write_text(good.replace("layer {", "layer {{", 1))
    assert_clean_error(run_driver("--solver", tiny, "--init-from-fillers", "--out", str(tmp_path / "b"), check=False),
                       "net.prototxt:2:")
    start = good.index('layer { name: "conv1"')
    net.write_text('name: "t"\nlayer { name: "data" type: "Data" top: "data" top: "label"\n'
                   '  data_param { source: "nope_lmdb" batch_size: 2 backend: LMDB } }\n' + good[start:])
    r = run_driver("--solver", tiny, "--init-from-fillers", "--out", str(tmp_path / "c"), check=False)
    assert_clean_error(r, "nope_lmdb", "does not exist")


def test_inline_net_is_refused_before_training(tmp_path, tiny):
    text = open(tiny).read()
    net = open(str(tmp_path / "net.prototxt")).read()
    inline = tmp_path / "inline.prototxt"
    inline.write_text(text.replace(f'net: "{tmp_path / "net.prototxt"}"', "net_param {\n" + net + "\n}"))
    out = tmp_path / "o"
    r = run_driver("--solver", str(inline), "--init-from-fillers", "--out", str(out), check=False)
    assert_clean_error(r, "inline.prototxt", "net_param")
    assert not out.exists()  # refused before any phase ran


# -- round 2: what Caffe would abort on, divergence, disk, shapes, outputs ---------------


def edit_net(tmp_path, old, new):
    net = tmp_path / "net.prototxt"
    text = net.read_text()
    assert old in text
    net.write_text(text.replace(old, new, 1))


def edit_solver(path, *lines):
    text = open(path).read().splitlines()
    for extra in lines:
        key = extra.split(":")[0]
        text = [ln for ln in text if not ln.startswith(key + ":")] + [extra]
    open(path, "w").write("\n".join(text) + "\n")


@pytest.mark.parametrize("case", ["bottom", "rmsprop_momentum", "not_an_lmdb", "no_outputs", "batch_0"])
def test_what_caffe_would_abort_on_is_one_line(tmp_path, tiny, case):
    if case == "batch_0":  # Caffe's Data layer would wait forever for its first batch
        from caffe_nets import read_from_lmdb
        read_from_lmdb(str(tmp_path), 'source: "{db}" backend: LMDB')
        words = ("net.prototxt: layer 'data' has batch_size 0 (data_param; 0 when not given); give it at least 1",)
    elif case == "no_outputs":
        edit_net(tmp_path, "num_output: 3", "num_output: 0")
        words = ("net.prototxt: layer 'ip1' has num_output 0 (inner_product_param); give it at least one output",)
    elif case == "bottom":
        edit_net(tmp_path, 'bottom: "conv1" top: "ip1"', 'bottom: "nope" top: "ip1"')
        words = ("solver.prototxt", "nope")
    elif case == "rmsprop_momentum":
        edit_solver(tiny, 'type: "RMSProp"', "momentum: 0.9")
        words = ("solver.prototxt", "RMSProp")
    else:
        (tmp_path / "empty_db").mkdir()
        text = (tmp_path / "net.prototxt").read_text()
        start = text.index('layer { name: "conv1"')
        (tmp_path / "net.prototxt").write_text(
            'name: "t"\nlayer { name: "data" type: "Data" top: "data" top: "label"\n'
            f'  data_param {{ source: "{tmp_path / "empty_db"}" batch_size: 2 backend: LMDB }} }}\n' + text[start:])
        words = ("solver.prototxt", "Caffe cannot build")
    out = tmp_path / "o"
    r = run_driver("--solver", tiny, "--init-from-fillers", "--out", str(out), check=False)
    assert_clean_error(r, *words)
    assert not list(out.glob("phase*/tmp*"))  # no scratch file left behind


@pytest.mark.parametrize("lines,words", [
    (['lr_policy: "step"', "stepsize: 0"], "stepsize > 0"),
    (['lr_policy: "exp"', "gamma: -0.1"], "gamma >= 0"),
    (['lr_policy: "sigmoid"', "gamma: 0.1", "stepsize: 0"], "stepsize > 0"),
    (['lr_policy: "wavy"'], "unknown lr_policy"),
    (["snapshot_format: HDF5"], "HDF5"),
])
def test_solver_settings_caffe_would_die_on_later(tmp_path, tiny, lines, words):
    edit_solver(tiny, *lines)
    assert_clean_error(run_driver("--solver", tiny, "--init-from-fillers", "--out", str(tmp_path / "o"), check=False),
                       "solver.prototxt", words)


def test_divergence_stops_with_one_line_and_keeps_earlier_snapshots(tmp_path):
    solver = write_tiny(str(tmp_path), max_iter=30, snapshot=2)
    edit_solver(solver, 'lr_policy: "fixed"', "base_lr: 0.01", "display: 1")
    out = tmp_path / "o"
    run_driver("--solver", solver, "--init-from-fillers", "--out", str(out), "--campaign", "0.5,1")  # sane first
    edit_solver(solver, "base_lr: 1e30")
    out2 = tmp_path / "o2"
    r = run_driver("--solver", solver, "--init-from-fillers", "--out", str(out2), "--campaign", "0.5,1", check=False)
    assert_clean_error(r, "training diverged at iteration", "loss nan")
    from inq_layer.campaign.state import load_snapshot_state
    for p in out2.glob("phase1/*.inqstate.npz"):  # whatever was snapshotted is complete and finite
        st = load_snapshot_state(str(p))
        w = caffemodel_params(str(p)[: -len(".inqstate.npz")] + ".caffemodel")
        assert all(np.isfinite(a).all() for arrs in w.values() for a in arrs), st.iteration


def test_no_space_for_caffes_snapshot_is_one_line_and_resumable(tmp_path, monkeypatch, capsys):
    import collections
    import shutil

    from driver_util import driver_module
    drv = driver_module()
    solver = write_tiny(str(tmp_path), max_iter=6, snapshot=2)
    out = str(tmp_path / "o")
    args = ["--solver", solver, "--init-from-fillers", "--out", out, "--campaign", "0.5,1"]
    real = shutil.disk_usage
    usage = collections.namedtuple("usage", "total used free")
    calls = []

    def tight(path):
        calls.append(path)
        return usage(10 ** 9, 10 ** 9 - 1000, 1000) if len(calls) == 2 else real(path)
    monkeypatch.setattr(shutil, "disk_usage", tight)
    assert drv.main(args) == 2
    err = capsys.readouterr().err
    assert "no space left on device for a snapshot" in err and "--resume" in err
    monkeypatch.setattr(shutil, "disk_usage", real)
    assert drv.main(args + ["--resume"]) == 0


def test_test_iter_zero_is_announced_and_reported(tmp_path, tiny):
    edit_solver(tiny, "test_iter: 0")
    out = tmp_path / "o"
    r = run_driver("--solver", tiny, "--init-from-fillers", "--out", str(out), "--campaign", "0.5,1")
    assert "no tests will run" in r.stdout and "check passed" in r.stdout
    assert "No tests ran" in (out / "report.md").read_text()


def test_damaged_campaign_record_is_one_line(tmp_path, tiny):
    out = tmp_path / "o"
    run_driver("--solver", tiny, "--init-from-fillers", "--out", str(out), "--campaign", "0.5,1")
    for damage in ("{}", "[]", '{"settings": {"campaign": ["0.5", "1"]}, "phases": [{"x": 1}]}'):
        (out / "campaign.json").write_text(damage)
        r = run_driver("--solver", tiny, "--init-from-fillers", "--out", str(out), "--campaign", "0.5,1",
                       "--resume", check=False)
        assert_clean_error(r, "campaign.json", "damaged campaign record")


def test_weights_without_a_layer_are_named(tmp_path, tiny):
    from inq_layer.caffe_edge import caffe_io
    w = save_weights(tmp_path, tiny)
    model = caffe_io.read_caffemodel(w)
    keep = [ly for ly in model.layer if ly.name != "ip1"]
    del model.layer[:]
    model.layer.extend(keep)
    part = tmp_path / "part.caffemodel"
    part.write_bytes(model.SerializeToString())
    r = run_driver("--solver", tiny, "--weights", str(part), "--out", str(tmp_path / "o"), "--campaign", "0.5,1")
    assert "has no weights for layer(s) ip1: they keep the values of their fillers" in r.stdout


def test_malformed_lists_are_refused_not_repaired(tmp_path, tiny):
    for bad in ("0.5,0.75,", ",0.5,1", "0.5,,1"):
        r = run_driver("--solver", tiny, "--init-from-fillers", "--out", str(tmp_path / "o"), "--campaign", bad,
                       check=False)
        assert_clean_error(r, "empty item")


def test_no_space_for_the_final_model_is_one_line_and_resumable(tmp_path, monkeypatch, capsys):
    """The final save is budgeted like a snapshot; a temp file a killed save left beside
    the final model goes at the next start (its writer is gone), a user's file stays."""
    import collections
    import shutil

    from driver_util import driver_module
    drv = driver_module()
    solver = write_tiny(str(tmp_path), max_iter=2, snapshot=0)
    out = str(tmp_path / "o")
    args = ["--solver", solver, "--init-from-fillers", "--out", out, "--campaign", "0.5,1"]
    real, usage = shutil.disk_usage, collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage",
                        lambda path: usage(10 ** 9, 10 ** 9 - 1000, 1000) if path == out else real(path))
    assert drv.main(args) == 2
    err = capsys.readouterr().err
    assert "no space left on device for the final model" in err and "--resume" in err
    assert not os.path.exists(os.path.join(out, "final_inq.caffemodel"))
    monkeypatch.setattr(shutil, "disk_usage", real)
    stale = [os.path.join(out, ".final_inq.caffemodel.99999999.abcd_123.tmp"),  # writers long gone
             os.path.join(out, "phase1", ".inq_iter_7.inqstate.npz.99999999.x1y2z3w4.tmp")]
    mine = os.path.join(out, "phase1", "tmp_mine.prototxt")
    for p in stale + [mine]:
        open(p, "w").close()
    assert drv.main(args + ["--resume"]) == 0
    assert not any(os.path.exists(p) for p in stale) and os.path.exists(mine)
    assert not os.path.exists(os.path.join(out, ".inq_scratch")) or not os.listdir(os.path.join(out, ".inq_scratch"))


def test_an_out_folder_of_a_users_files_is_refused_untouched(tmp_path):
    """A folder that holds no campaign (no campaign.json) and files a campaign would write
    over: refused before anything is written; an empty folder is fine."""
    solver = write_tiny(str(tmp_path), max_iter=2, snapshot=0)
    out = tmp_path / "mine"
    out.mkdir()
    (out / "report.md").write_text("my notes")
    (out / "tmp1.prototxt").write_text("mine")
    r = run_driver("--solver", solver, "--init-from-fillers", "--out", str(out), "--campaign", "1", check=False)
    assert_clean_error(r, f"--out {out}: holds files of no campaign (report.md, tmp1.prototxt)")
    assert sorted(os.listdir(out)) == ["report.md", "tmp1.prototxt"] and (out / "report.md").read_text() == "my notes"
    empty = tmp_path / "empty"
    empty.mkdir()
    run_driver("--solver", solver, "--init-from-fillers", "--out", str(empty), "--campaign", "1")
    assert (empty / "campaign.json").exists()


def test_a_layer_with_weights_in_the_test_net_only(tmp_path):
    """Refused before training (driver and prune), naming it, unless it shares its weights
    with a TRAIN layer: then the campaign quantizes them with that layer and passes."""
    solver = write_tiny(str(tmp_path), max_iter=2, snapshot=0)
    net = tmp_path / "net.prototxt"
    base = net.read_text()
    aux = ('layer { name: "aux" type: "InnerProduct" bottom: "conv1" top: "aux" %s\n'
           '  inner_product_param { num_output: 3 weight_filler { type: "xavier" } } include { phase: TEST } }\n')
    net.write_text(base + aux % "")
    out = tmp_path / "o"
    args = ("--solver", solver, "--init-from-fillers", "--campaign", "0.5,1", "--out", str(out))
    r = run_driver(*args, check=False)
    assert_clean_error(r, "layer 'aux' has weights but is in the TEST net only", "share its weights")
    assert not out.exists()
    r = run_tool("prune", "--solver", solver, "--init-from-fillers", "--sparsity", "0.5", "--out",
                 str(tmp_path / "p"), check=False)
    assert_clean_error(r, "layer 'aux' has weights but is in the TEST net only")
    shared = base.replace('top: "ip1"\n', 'top: "ip1" param { name: "w_ip1" }\n')
    net.write_text(shared + aux % 'param { name: "w_ip1" }')
    r = run_driver(*args)
    assert "check passed" in r.stdout


def _mixed_db(path, sizes):
    """An LMDB of 64 one-channel records, 8x8 but for {index: side}."""
    from inq_layer.caffe_edge.caffe_io import pb2
    from inq_layer.datasets.datum_db import DatumWriter
    db = DatumWriter(str(path), "lmdb")
    for i in range(64):
        s = sizes.get(i, 8)
        db.put(f"{i:08d}".encode(), pb2().Datum(channels=1, height=s, width=s, data=bytes(s * s), label=i % 3)
               .SerializeToString())
    db.close()


def test_a_record_caffe_would_wait_on_forever_is_named_by_the_driver_and_image_mean(tmp_path):
    """A record whose pixels do not fill its shape: Caffe's data layer never delivers the
    batch. The driver's pre-flight sample and image_mean name it in one line; a database
    without records is named too."""
    from caffe_nets import lmdb_tiny
    from inq_layer.caffe_edge.caffe_io import pb2
    from inq_layer.datasets.datum_db import DatumWriter
    solver = lmdb_tiny(tmp_path, max_iter=2, snapshot=0)
    train = tmp_path / "db_TRAIN"
    import shutil
    shutil.rmtree(train)
    db = DatumWriter(str(train), "lmdb")
    for i in range(64):
        db.put(f"{i:08d}".encode(), pb2().Datum(channels=1, height=8, width=8, data=bytes(64 if i else 60))
               .SerializeToString())
    db.close()
    want = f"{train}: record '00000000' holds 60 values, but its shape 1x8x8 needs 64"
    assert_clean_error(run_driver("--solver", solver, "--init-from-fillers", "--out", str(tmp_path / "o"),
                                  check=False), want)
    assert_clean_error(run_tool("image_mean", str(train), str(tmp_path / "mean.binaryproto"), check=False), want)
    assert not (tmp_path / "mean.binaryproto").exists()
    shutil.rmtree(train)
    DatumWriter(str(train), "lmdb").close()  # no records: Caffe's data layer aborts on its first read
    assert_clean_error(run_driver("--solver", solver, "--init-from-fillers", "--out", str(tmp_path / "o"),
                                  check=False), f"layer 'data' reads {train}, which holds no records")


def test_a_database_of_mixed_sizes_is_refused_before_training(tmp_path):
    """Caffe would abort mid-training (Check failed: K_ == new_K); the driver reads a sample
    spread over each Data layer's records first: sizes that differ where the layer does not
    crop, or a record smaller than the crop, are one error line naming the record."""
    from caffe_nets import lmdb_tiny
    solver = lmdb_tiny(tmp_path, max_iter=2, snapshot=0)
    net = tmp_path / "net.prototxt"
    text = net.read_text()
    train = str(tmp_path / "db_TRAIN")
    import shutil
    shutil.rmtree(train)
    _mixed_db(train, {63: 10})  # the last record: the sample reaches it
    from inq_layer.datasets.record_shapes import sampled_shapes
    assert [i for i, _ in sampled_shapes(train, limit=5)] == [0, 15, 31, 47, 63]
    assert sampled_shapes(train, limit=5)[-1][1] == (1, 10, 10)
    args = ("--solver", solver, "--init-from-fillers", "--campaign", "1", "--out", str(tmp_path / "o"))
    r = run_driver(*args, check=False)
    assert_clean_error(r, f"layer 'data' reads {train}, whose record 63 is 1x10x10 but record 0 is 1x8x8: "
                          f"Caffe cannot batch them (no crop_size makes them one size)")
    net.write_text(text.replace("transform_param { scale: 0.00390625 }",
                                "transform_param { scale: 0.00390625 crop_size: 8 }"))
    run_driver(*args)  # cropped to 8x8: Caffe batches them
    shutil.rmtree(train)
    _mixed_db(train, {31: 6})
    r = run_driver(*args[:-1], str(tmp_path / "o2"), check=False)
    assert_clean_error(r, f"reads {train}, whose record 31 is 1x6x6, smaller than its crop_size 8")
