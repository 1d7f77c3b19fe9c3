"""atomic: outputs never destroy inputs, and only folders this project made are replaced."""
import os

import pytest

from driver_util import run_tool
from inq_layer.atomic import MADE, check_disjoint, check_output, check_output_dir, replaced_dir
from inq_layer.errors import InqError


def test_an_output_that_is_holds_or_lies_inside_an_input_is_refused(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    (images / "a.png").write_bytes(b"x")
    w = tmp_path / "w.caffemodel"
    w.write_bytes(b"x")
    for out, msg in ((str(w), "is also an input"), (str(tmp_path), "holds the input"),
                     (str(images / "db"), "lies inside the input folder")):
        with pytest.raises(InqError, match=msg):
            check_disjoint(out, [str(images), str(w)])
    check_disjoint(str(tmp_path / "elsewhere"), [str(images), str(w), None, str(tmp_path / "missing")])
    with pytest.raises(InqError, match="lies inside the input folder"):
        check_output(str(images / "m.inq"), [str(images)])


def test_only_a_folder_this_project_made_is_replaced(tmp_path):
    out = str(tmp_path / "db")
    with replaced_dir(out) as tmp:
        open(os.path.join(tmp, "data.mdb"), "w").write("1")
    assert os.path.isfile(os.path.join(out, MADE)) and check_output_dir(out, []) == out
    with replaced_dir(out) as tmp:  # ours: replaced
        open(os.path.join(tmp, "data.mdb"), "w").write("2")
    assert open(os.path.join(out, "data.mdb")).read() == "2" and not os.path.exists(out + ".partial")
    with pytest.raises(ValueError):
        with replaced_dir(out) as tmp:  # an error inside: the old folder stays, the scratch goes
            raise ValueError("boom")
    assert open(os.path.join(out, "data.mdb")).read() == "2" and not os.path.exists(out + ".partial")
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "photo.jpg").write_bytes(b"x")
    with pytest.raises(InqError, match="exists and was not written by this tool"):
        check_output_dir(str(theirs), [])
    (tmp_path / "x.partial").mkdir()
    (tmp_path / "x.partial" / "keep").write_bytes(b"x")
    with pytest.raises(InqError, match="x.partial exists and was not written by this tool"):
        check_output_dir(str(tmp_path / "x"), [])


def test_imageset_never_replaces_its_input_folder(tmp_path):
    """imageset --root X --out X once replaced the images with an LMDB and exited 0."""
    from PIL import Image
    import numpy as np
    root = tmp_path / "imgs"
    root.mkdir()
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(root / "a.png")
    lst = tmp_path / "list.txt"
    lst.write_text("a.png 0\n")
    for out in (root, tmp_path, root / "db"):
        r = run_tool("imageset", "--root", str(root), "--list", str(lst), "--out", str(out), check=False)
        assert r.returncode == 2 and "input" in r.stderr and (root / "a.png").exists()
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("x")
    r = run_tool("imageset", "--root", str(root), "--list", str(lst), "--out", str(other), check=False)
    assert r.returncode == 2 and "was not written by this tool" in r.stderr and (other / "notes.txt").exists()
    run_tool("imageset", "--root", str(root), "--list", str(lst), "--out", str(tmp_path / "db"))
    run_tool("imageset", "--root", str(root), "--list", str(lst), "--out", str(tmp_path / "db"))  # ours: again


def test_a_killed_writers_temp_file_goes_at_the_next_write(tmp_path):
    import subprocess
    import sys
    from inq_layer.atomic import write_bytes_atomic
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f".m.inq.{int(dead.stdout)}.abc123.tmp"
    stale.write_bytes(b"half")
    live = tmp_path / f".m.inq.{os.getpid()}.def456.tmp"  # a writer still running keeps its file
    live.write_bytes(b"busy")
    write_bytes_atomic(str(tmp_path / "m.inq"), b"whole")
    assert sorted(os.listdir(tmp_path)) == [live.name, "m.inq"]


def test_written_files_follow_the_umask(tmp_path):
    """Outputs get the mode a plain open() gives under the user's umask, not mkstemp's 0600."""
    import stat
    from inq_layer.atomic import write_text_atomic, written_by_path
    old = os.umask(0o022)
    try:
        write_text_atomic(str(tmp_path / "a.json"), "{}")
        with written_by_path(str(tmp_path / "b.caffemodel")) as tmp:
            open(tmp, "w").write("x")
        os.umask(0o077)
        write_text_atomic(str(tmp_path / "c.json"), "{}")
    finally:
        os.umask(old)
    modes = [stat.S_IMODE(os.stat(tmp_path / n).st_mode) for n in ("a.json", "b.caffemodel", "c.json")]
    assert modes == [0o644, 0o644, 0o600]
