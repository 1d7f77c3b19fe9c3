"""Helpers to run solver_driver.py and read what it wrote."""
import glob
import os
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DRIVER = os.path.join(ROOT, "solver_driver.py")


def run_driver(*args, check=True, **kw):
    out = subprocess.run([sys.executable, DRIVER, *args], capture_output=True, text=True, **kw)
    if check and out.returncode != 0:
        raise AssertionError(f"driver failed ({out.returncode}):\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return out


def caffemodel_params(path):
    from inq_layer.caffe_edge import caffe_io
    return caffe_io.model_arrays(caffe_io.read_caffemodel(path))


def states(out_dir, phase):
    """[(iteration, state path)] of a phase, by iteration."""
    from inq_layer.campaign.state import snapshot_iteration
    found = []
    for p in glob.glob(os.path.join(out_dir, f"phase{phase}", "*.inqstate.npz")):
        found.append((snapshot_iteration(p), p))
    return sorted(found)


def phase_states(out_dir, n):
    """The last INQ state of each of the first n phases."""
    from inq_layer.campaign.state import load_snapshot_state
    return [load_snapshot_state(states(out_dir, k)[-1][1]) for k in range(1, n + 1)]


def final_masks(out_dir, phase):
    from inq_layer.core.codes import frozen_mask
    from inq_layer.campaign.state import load_snapshot_state
    st = load_snapshot_state(states(out_dir, phase)[-1][1])
    return {(b.layer, b.index): frozen_mask(b.codes) for b in st.blobs}


def bits(a):
    return np.ascontiguousarray(a, np.float32).view(np.uint32)


def same_models(path_a, path_b):
    """Same layers, and every blob bit-identical."""
    a, b = caffemodel_params(path_a), caffemodel_params(path_b)
    return sorted(a) == sorted(b) and all(
        len(a[n]) == len(b[n]) and all(np.array_equal(bits(x), bits(y)) for x, y in zip(a[n], b[n])) for n in a)


def run_tool(module, *args, check=True, **kw):
    """`python -m inq_layer.tools.<module> ...` from the repository root."""
    out = subprocess.run([sys.executable, "-m", f"inq_layer.tools.{module}", *args], capture_output=True, text=True,
                         cwd=ROOT, **kw)
    if check and out.returncode != 0:
        raise AssertionError(f"{module} failed ({out.returncode}):\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return out


def driver_module():
    """solver_driver.py loaded in this process (to patch what it calls)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("solver_driver", DRIVER)
    drv = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(drv)
    return drv


def caffe_has(layer_type: str) -> bool:
    """Whether the pycaffe in use knows a layer type (a user's own Caffe may lack the
    Python layer: it is built only WITH_PYTHON_LAYER)."""
    import caffe
    return layer_type in caffe.layer_type_list()


_LEVELDB = []


def caffe_reads_leveldb() -> bool:
    """Whether the Caffe in use was built with LevelDB (tried in a child: Caffe aborts on
    an unknown backend)."""
    if not _LEVELDB:
        import tempfile

        from inq_layer.caffe_edge.probe import run_child
        from inq_layer.datasets.datum_db import DatumWriter
        with tempfile.TemporaryDirectory() as tmp:
            db = os.path.join(tmp, "db")
            w = DatumWriter(db, "leveldb")
            from inq_layer.caffe_edge.caffe_io import pb2
            w.put(b"0", pb2().Datum(channels=1, height=1, width=1, data=b"\0", label=0).SerializeToString())
            w.commit()
            w.close()
            net = os.path.join(tmp, "net.prototxt")
            with open(net, "w") as f:
                f.write(f'layer {{ name: "d" type: "Data" top: "d" top: "l" data_param {{ source: "{db}" '
                        f'batch_size: 1 backend: LEVELDB }} }}\n')
            ok, _ = run_child("import sys, caffe; caffe.set_mode_cpu(); caffe.Net(sys.argv[1], caffe.TEST)", net)
        _LEVELDB.append(ok)
    return _LEVELDB[0]


def log_messages(text: str) -> list[str]:
    """The messages of a Caffe-style log (the driver's stdout, train.log), without the
    glog prefix that ends in '] '."""
    return [line.split("] ", 1)[1] for line in text.splitlines() if "] " in line]


def assert_clean_error(r, *words):
    assert r.returncode == 2, (r.returncode, r.stdout[-1500:], r.stderr[-1500:])
    err = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(err) == 1, r.stderr[-2000:]
    assert "Traceback" not in r.stderr and "Check failed" not in r.stderr
    for w in words:
        assert w in err[0], err[0]


def save_weights(tmp_path, solver, mutate=None, name="w.caffemodel"):
    import caffe
    caffe.set_mode_cpu()
    s = caffe.get_solver(solver)
    if mutate:
        mutate(s.net)
    path = str(tmp_path / name)
    s.net.save(path)
    return path


def interrupted(args, out, phase, at):
    """The driver (args, --out `out`) stopped by Ctrl-C once phase `phase` has a snapshot at
    iteration `at` or later, before its final model."""
    import signal
    import time
    # Ctrl-C's default action in the child, even when this test runs in the background
    # (a shell starts background jobs with SIGINT ignored, and the child would inherit that).
    p = subprocess.Popen([sys.executable, DRIVER, *args, "--out", out], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while time.time() < deadline and p.poll() is None and not any(it >= at for it, _ in states(out, phase)):
        time.sleep(0.002)
    p.send_signal(signal.SIGINT)
    p.wait()
    assert not os.path.exists(os.path.join(out, "final_inq.caffemodel")), "interrupted too late"


def param_counts(net_path):
    """(every parameter, the weights INQ quantizes) of a net's TRAIN phase, counted by Caffe."""
    import caffe

    from inq_layer.net.selection import WEIGHT_LAYER_TYPES
    net = caffe.Net(net_path, caffe.TRAIN)
    floats = sum(b.data.size for params in net.params.values() for b in params)
    quantized = sum(params[0].data.size for name, params in net.params.items()
                    if net.layers[list(net._layer_names).index(name)].type in WEIGHT_LAYER_TYPES)
    return floats, quantized


def disk_with(monkeypatch, folder, free):
    """shutil.disk_usage says `folder` has `free` bytes free, every other folder a terabyte."""
    import collections
    import shutil
    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10 ** 12, 0, free if path == folder else 10 ** 12))
