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
    from inq_layer import caffe_io
    return caffe_io.model_arrays(caffe_io.read_caffemodel(path))


def states(out_dir, phase):
    """[(iteration, state path)] of a phase, by iteration."""
    from inq_layer.state import _STATE_RE
    found = []
    for p in glob.glob(os.path.join(out_dir, f"phase{phase}", "*.inqstate.npz")):
        found.append((int(_STATE_RE.search(p).group(1)), p))
    return sorted(found)


def final_masks(out_dir, phase):
    from inq_layer.freezer import frozen_mask
    from inq_layer.state import load_snapshot_state
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
    """`python -m inq_layer.<module> ...` from the repository root."""
    out = subprocess.run([sys.executable, "-m", f"inq_layer.{module}", *args], capture_output=True, text=True,
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
