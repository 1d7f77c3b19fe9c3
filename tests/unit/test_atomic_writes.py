"""atomic.py without Caffe: a write replaces its target whole or not at all, temp files of
dead writers go (and only those), and each refusal of an output path word for word."""
import errno
import hashlib
import os
import subprocess
import sys

import pytest

from inq_layer import atomic
from inq_layer.errors import InqError


def _dead_pid() -> int:
    return int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True).stdout)


def test_a_write_replaces_the_target_whole_or_leaves_it(tmp_path):
    target = tmp_path / "r.json"
    atomic.write_text_atomic(str(target), "first")
    assert target.read_text() == "first"

    def half(f):
        f.write(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")
    with pytest.raises(OSError):
        atomic.write_atomic(str(target), half)
    assert target.read_text() == "first" and os.listdir(tmp_path) == ["r.json"]
    atomic.write_bytes_atomic(str(target), b"\x00second")
    assert target.read_bytes() == b"\x00second" and os.listdir(tmp_path) == ["r.json"]


def test_written_by_path_keeps_the_writers_extension_and_renames_only_on_success(tmp_path):
    target = tmp_path / "a.png"
    with atomic.written_by_path(str(target), ".png") as tmp:
        assert tmp.endswith(".png") and os.path.dirname(tmp) == str(tmp_path) and tmp != str(target)
        open(tmp, "w").write("new")
    assert target.read_text() == "new"
    with pytest.raises(ValueError):
        with atomic.written_by_path(str(target)) as tmp:
            assert tmp.endswith(".tmp")
            open(tmp, "w").write("cut")
            raise ValueError("writer failed")
    assert target.read_text() == "new" and os.listdir(tmp_path) == ["a.png"]


def test_a_folder_at_the_target_is_named_and_nothing_is_written(tmp_path):
    (tmp_path / "d").mkdir()
    for write in (lambda p: atomic.write_text_atomic(p, "x"), lambda p: atomic.written_by_path(p).__enter__()):
        with pytest.raises(IsADirectoryError) as e:
            write(str(tmp_path / "d"))
        assert e.value.filename == str(tmp_path / "d") and e.value.errno == errno.EISDIR
        assert os.listdir(tmp_path) == ["d"] and os.listdir(tmp_path / "d") == []


def test_only_temp_files_of_dead_writers_go(tmp_path):
    dead, me = _dead_pid(), os.getpid()
    names = {f".m.inq.{dead}.abc_1.tmp": False,  # a dead writer's: goes
             f".m.inq.{me}.abc_2.tmp": True,  # a running writer's: stays
             f".other.bin.{dead}.xyz.png": False,  # another target's, any base: goes
             f".m.inq.{dead}.abc.tmp.keep": True,  # not our pattern
             "m.inq": True, f"m.inq.{dead}.abc.tmp": True}  # no leading dot: a user's file
    for n in names:
        (tmp_path / n).write_text("x")
    atomic.remove_stale_temps(str(tmp_path), base="m.inq")
    assert (tmp_path / f".other.bin.{dead}.xyz.png").exists()  # base given: only m.inq's temps
    assert not (tmp_path / f".m.inq.{dead}.abc_1.tmp").exists()
    atomic.remove_stale_temps(str(tmp_path))
    assert sorted(os.listdir(tmp_path)) == sorted(n for n, keep in names.items() if keep)


def test_scratch_file_holds_its_data_only_while_the_block_runs(tmp_path):
    with atomic.scratch_file(str(tmp_path), ".prototxt", b"net: 1") as p:
        assert p.endswith(".prototxt") and open(p, "rb").read() == b"net: 1"
    assert not os.path.exists(p)
    with pytest.raises(KeyError):
        with atomic.scratch_file(str(tmp_path), ".solverstate", b"s") as p:
            raise KeyError("x")
    assert os.listdir(tmp_path) == []


def test_each_refused_output_path_word_for_word(tmp_path, monkeypatch):
    images = tmp_path / "images"
    images.mkdir()
    w = tmp_path / "w.caffemodel"
    w.write_bytes(b"x")
    cases = [(str(w), f"--dump {w} is also an input ({w}); write to another path (the input is untouched)"),
             (str(tmp_path), f"--dump {tmp_path} holds the input {images}; write to another path (the input is "
                             f"untouched)"),
             (str(images / "db"), f"--dump {images}/db lies inside the input folder {images}; write elsewhere (the "
                                  f"input is untouched)")]
    for out, message in cases:
        with pytest.raises(InqError) as e:
            atomic.check_disjoint(out, [str(images), str(w)], "--dump")
        assert str(e.value) == message
    with pytest.raises(InqError) as e:
        atomic.check_output(str(images), [], "-o")
    assert str(e.value) == f"-o {images} is a directory; give a file name"
    with pytest.raises(InqError) as e:
        atomic.check_output(str(tmp_path / "no" / "m.inq"), [])
    assert str(e.value) == f"--out {tmp_path}/no/m.inq: folder {tmp_path}/no does not exist"
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(InqError) as e:
        atomic.check_output(str(tmp_path / "m.inq"), [])
    assert str(e.value) == f"--out {tmp_path}/m.inq: folder {tmp_path} is not writable"
    monkeypatch.undo()
    assert atomic.check_output(str(tmp_path / "m.inq"), [str(w)]) == str(tmp_path / "m.inq")


def test_a_file_where_an_output_folder_goes_is_refused_by_name(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(InqError) as e:
        atomic.check_not_a_file(str(tmp_path / "f"), "--out")
    assert str(e.value) == f"--out {tmp_path}/f is a file; give a folder (nothing was changed)"
    with pytest.raises(InqError) as e:
        atomic.check_not_a_file(str(tmp_path / "f"), "--out", " for the campaign")
    assert str(e.value) == f"--out {tmp_path}/f is a file; give a folder for the campaign (nothing was changed)"
    atomic.check_not_a_file(str(tmp_path), "--out")  # a folder, kept
    atomic.check_not_a_file(str(tmp_path / "new"), "--out")  # made later
    assert (tmp_path / "f").read_text() == "x"


def test_a_database_folder_is_replaced_only_when_ours(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(InqError) as e:
        atomic.check_output_dir(str(tmp_path / "f"), [], "--db")
    assert str(e.value) == f"--db {tmp_path}/f: {tmp_path}/f is a file; give a folder for the database"
    (tmp_path / "d.partial").write_text("x")
    with pytest.raises(InqError) as e:
        atomic.check_output_dir(str(tmp_path / "d"), [])
    assert str(e.value) == f"--out {tmp_path}/d: {tmp_path}/d.partial is a file; give a folder for the database"
    (tmp_path / "theirs").mkdir()
    (tmp_path / "theirs" / "a.jpg").write_text("x")
    with pytest.raises(InqError) as e:
        atomic.check_output_dir(str(tmp_path / "theirs"), [], "--db")
    assert str(e.value) == (f"--db {tmp_path}/theirs: {tmp_path}/theirs exists and was not written by this tool; "
                            f"remove it or choose another --db (nothing was changed)")
    (tmp_path / "empty").mkdir()
    assert atomic.check_output_dir(str(tmp_path / "empty"), []) == str(tmp_path / "empty")
    with pytest.raises(RuntimeError, match="was not made here"):
        with atomic.replaced_dir(str(tmp_path / "theirs")):
            pass
    assert os.listdir(tmp_path / "theirs") == ["a.jpg"]
    with atomic.replaced_dir(str(tmp_path / "empty")) as tmp:
        assert tmp == f"{tmp_path}/empty.partial"
    assert atomic.made_here(str(tmp_path / "empty")) and not atomic.made_here(str(tmp_path / "theirs"))


def test_os_errors_in_one_line_and_checksums(tmp_path):
    assert atomic.describe_os_error(OSError(errno.ENOSPC, "No space left on device"), "/o/x") == (
        "/o/x: no space left on device; free space and rerun (earlier files are intact)")
    assert atomic.describe_os_error(OSError(errno.EACCES, "Permission denied"), "/o/x") == "/o/x: Permission denied"
    assert atomic.describe_os_error(OSError("odd"), "/o/x") == "/o/x: odd"
    data = os.urandom((1 << 22) + 5)  # more than one read chunk
    (tmp_path / "b").write_bytes(data)
    assert atomic.sha256_file(str(tmp_path / "b")) == hashlib.sha256(data).hexdigest()
    assert atomic._alive(os.getpid()) and not atomic._alive(_dead_pid())


def test_a_temp_file_is_named_for_its_target_and_writer(tmp_path, monkeypatch):
    """.TARGET.PID.RANDOM.SUFFIX: whoever finds one left knows what it was and whose; a
    process of another user counts as alive (its files are not ours to remove)."""
    seen = []
    atomic.write_atomic(str(tmp_path / "r.json"), lambda f: seen.extend(os.listdir(tmp_path)))
    [name] = seen
    assert name.startswith(f".r.json.{os.getpid()}.") and name.endswith(".tmp") and atomic._TEMP.match(name)
    with atomic.written_by_path(str(tmp_path / "a.png"), ".png") as tmp:
        name = os.path.basename(tmp)
        assert name.startswith(f".a.png.{os.getpid()}.") and name.endswith(".png") and atomic._TEMP.match(name)

    def not_mine(pid, sig):
        raise PermissionError(errno.EPERM, "Operation not permitted")
    monkeypatch.setattr(os, "kill", not_mine)
    assert atomic._alive(1)


def test_every_input_is_checked_and_folder_names_read_as_given(tmp_path, monkeypatch):
    w = tmp_path / "w.caffemodel"
    w.write_bytes(b"x")
    with pytest.raises(InqError) as e:  # a missing input before it does not end the checks
        atomic.check_disjoint(str(w), [str(tmp_path / "missing"), str(w)])
    assert str(e.value) == f"--out {w} is also an input ({w}); write to another path (the input is untouched)"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(InqError) as e:
        atomic.check_output("m.inq", [])
    assert str(e.value) == "--out m.inq: folder . is not writable"
    monkeypatch.undo()
    (tmp_path / "dbX.partial").write_text("x")
    with pytest.raises(InqError) as e:  # a trailing slash names the same folder (and only the slash goes)
        atomic.check_output_dir(f"{tmp_path}/dbX/", [])
    assert str(e.value) == f"--out {tmp_path}/dbX/: {tmp_path}/dbX.partial is a file; give a folder for the database"
    older = tmp_path / "db"
    older.mkdir()
    (older / "data.mdb").write_text("x")
    (older / ".made-by-inq_layer").write_text("")  # the marker databases of earlier versions carry too
    assert atomic.check_output_dir(str(older), []) == str(older)


def test_a_replaced_folder_keeps_the_error_of_its_writer(tmp_path):
    import shutil
    (tmp_path / "theirs").mkdir()
    (tmp_path / "theirs" / "a").write_text("x")
    with pytest.raises(RuntimeError) as e:
        with atomic.replaced_dir(str(tmp_path / "theirs")):
            pass
    assert str(e.value) == f"{tmp_path}/theirs was not made here"
    with atomic.replaced_dir(f"{tmp_path}/eX/") as tmp:  # a trailing slash names the same folder
        assert tmp == f"{tmp_path}/eX.partial"
    with pytest.raises(ValueError, match="the writer's own"):
        with atomic.replaced_dir(str(tmp_path / "f")) as tmp:
            shutil.rmtree(tmp)  # gone already: the cleanup must not hide the writer's error
            raise ValueError("the writer's own")
    assert sorted(os.listdir(tmp_path)) == ["eX", "theirs"]
