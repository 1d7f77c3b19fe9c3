"""imageset and image_mean: convert_imageset's and compute_image_mean's formats, read back
by Caffe's own Data layer (LMDB and LevelDB, mean file, crop)."""
import os

import numpy as np
import pytest

from driver_util import assert_clean_error, caffe_reads_leveldb, run_tool
from inq_layer.errors import InqError
from inq_layer.datasets.imageset import read_list


@pytest.fixture
def images(tmp_path):
    from PIL import Image
    root = tmp_path / "img"
    (root / "sub").mkdir(parents=True)
    red = np.zeros((6, 8, 3), np.uint8)
    red[..., 0] = 255
    Image.fromarray(red).save(root / "red.png")
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (20, 24, 3)).astype(np.uint8)).save(root / "sub" / "noise one.png")
    Image.fromarray(np.arange(30 * 20, dtype=np.uint32).reshape(30, 20).astype(np.uint8)).save(root / "gray.png")
    (root / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    lst = tmp_path / "list.txt"
    lst.write_text("red.png 1\nsub/noise one.png 0\n\ngray.png 2\n")
    return root, lst


def read_db(path, backend="lmdb"):
    from inq_layer.caffe_edge.caffe_io import pb2
    items = []
    if backend == "lmdb":
        import lmdb
        with lmdb.open(str(path), readonly=True, lock=False).begin() as txn:
            items = [(bytes(k), bytes(v)) for k, v in txn.cursor()]
    else:
        import plyvel
        db = plyvel.DB(str(path))
        items = list(db.iterator())
        db.close()
    out = []
    for k, v in items:
        d = pb2().Datum()
        d.ParseFromString(v)
        out.append((k.decode(), d))
    return out


def test_list_format_and_errors(tmp_path):
    p = tmp_path / "l.txt"
    p.write_text("a b.jpg 3\n\nc.png 0\n")
    assert read_list(str(p)) == [("a b.jpg", 3), ("c.png", 0)]
    for bad in ("x.jpg\n", "x.jpg cat\n", ""):
        p.write_text(bad)
        with pytest.raises(InqError):
            read_list(str(p))


def test_raw_datums_keys_bgr_and_rerun_identical(tmp_path, images):
    root, lst = images
    out = tmp_path / "db"
    r = run_tool("imageset", "--root", str(root), "--list", str(lst), "--out", str(out), "--mixed-sizes")
    assert "3 images" in r.stdout
    got = read_db(out)
    assert [k for k, _ in got] == ["00000000_red.png", "00000001_sub/noise one.png", "00000002_gray.png"]
    d = got[0][1]
    a = np.frombuffer(d.data, np.uint8).reshape(d.channels, d.height, d.width)
    assert (d.channels, d.height, d.width, d.label) == (3, 6, 8, 1) and not d.encoded
    assert np.all(a[2] == 255) and np.all(a[:2] == 0)  # BGR: red is the last plane
    assert got[2][1].channels == 3 and got[2][1].height == 30  # grey files become 3 equal planes
    again = tmp_path / "db2"
    run_tool("imageset", "--root", str(root), "--list", str(lst), "--out", str(again), "--mixed-sizes")
    assert [(k, d.SerializeToString()) for k, d in read_db(again)] == [(k, d.SerializeToString()) for k, d in got]
    r = run_tool("imageset", "--root", str(root), "--list", str(lst), "--out", str(tmp_path / "db3"), "--jobs", "-1",
                 check=False)
    assert_clean_error(r, "--jobs must be 0 (one per core) or positive, got -1")


def test_resize_gray_encoded_shuffle(tmp_path, images):
    root, lst = images
    run_tool("imageset", "--root", str(root), "--list", str(lst), "--out", str(tmp_path / "g"), "--gray",
             "--resize", "5", "7")
    assert all((d.channels, d.height, d.width) == (1, 5, 7) for _, d in read_db(tmp_path / "g"))
    run_tool("imageset", "--root", str(root), "--list", str(lst), "--out", str(tmp_path / "e"), "--encoded",
             "--mixed-sizes")
    enc = read_db(tmp_path / "e")
    assert enc[0][1].encoded and enc[0][1].data == (root / "red.png").read_bytes()
    orders = []
    for seed in ("1", "1", "2"):
        run_tool("imageset", "--root", str(root), "--list", str(lst), "--out", str(tmp_path / "s"), "--shuffle",
                 "--seed", seed, "--mixed-sizes")
        orders.append([k for k, _ in read_db(tmp_path / "s")])
    assert orders[0] == orders[1] and all(k.startswith(f"{i:08d}_") for i, k in enumerate(orders[0]))
    assert sorted(k[9:] for k in orders[0]) == sorted(k[9:] for k in orders[2])


def test_unreadable_images_are_named_and_left_out(tmp_path, images):
    root, lst = images
    lst.write_text(lst.read_text() + "broken.jpg 1\nmissing.jpg 0\n")
    r = run_tool("imageset", "--root", str(root), "--list", str(lst), "--out", str(tmp_path / "db"), "--mixed-sizes")
    warns = [ln for ln in r.stderr.splitlines() if ln.startswith("warning:")]
    assert len(warns) == 2 and "broken.jpg" in warns[0] and "missing.jpg" in warns[1]
    assert len(read_db(tmp_path / "db")) == 3
    r = run_tool("imageset", "--root", str(root), "--list", str(lst), "--out", str(tmp_path / "strict"),
                 "--stop-on-error", "--mixed-sizes", check=False)
    err = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert r.returncode == 2 and len(err) == 1 and "broken.jpg" in err[0] and "Traceback" not in r.stderr
    assert not (tmp_path / "strict").exists() and not (tmp_path / "strict.partial").exists()


@pytest.mark.parametrize("backend", ["lmdb", "leveldb"])
def test_caffe_reads_the_database_and_the_mean_file(tmp_path, images, backend):
    if backend == "leveldb" and not caffe_reads_leveldb():
        pytest.skip("this Caffe was built without LevelDB (USE_LEVELDB)")
    """Caffe's Data layer (TEST phase: centre crop, no mirror) on what imageset and
    image_mean wrote gives (image - mean)[crop] * scale."""
    import caffe
    from google.protobuf import text_format

    from inq_layer.caffe_edge.caffe_io import pb2
    root, lst = images
    db, mean = tmp_path / "db", tmp_path / "mean.binaryproto"
    run_tool("imageset", "--root", str(root), "--list", str(lst), "--out", str(db), "--resize", "16", "16",
             "--backend", backend)
    r = run_tool("image_mean", str(db), str(mean))
    assert "mean of 3 images, 3x16x16" in r.stdout
    blob = pb2().BlobProto()
    blob.ParseFromString(mean.read_bytes())
    assert (blob.num, blob.channels, blob.height, blob.width) == (1, 3, 16, 16)
    datums = [np.frombuffer(d.data, np.uint8).reshape(3, 16, 16).astype(np.float64) for _, d in read_db(db, backend)]
    m = np.asarray(blob.data, np.float32).reshape(3, 16, 16)
    assert np.allclose(m, np.mean(datums, axis=0), atol=1e-4)
    net_text = (f'layer {{ name: "data" type: "Data" top: "data" top: "label" transform_param {{ scale: 0.5 '
                f'crop_size: 10 mean_file: "{mean}" }} data_param {{ source: "{db}" batch_size: 3 '
                f'backend: {backend.upper()} }} }}')
    proto = tmp_path / "net.prototxt"
    proto.write_text(text_format.MessageToString(text_format.Parse(net_text, pb2().NetParameter())))
    caffe.set_mode_cpu()
    net = caffe.Net(str(proto), caffe.TEST)
    net.forward()
    want = np.stack([(x - m)[:, 3:13, 3:13] * 0.5 for x in datums])
    assert np.allclose(net.blobs["data"].data, want, atol=1e-4)
    assert net.blobs["label"].data.tolist() == [1, 0, 2]
    del net
    assert os.path.exists(mean)


def test_list_encoding_and_label_errors_name_the_file_and_line(tmp_path):
    from inq_layer.errors import InqError
    import re
    import pytest
    from inq_layer.datasets.imageset import read_list
    for body, msg in ((b"a.png 1\nb\xff.png 2\n", ":2: not UTF-8 text (byte 2"),
                      (b"a.png 1\n\nc.png 99999999999\n", ":3: label 99999999999 does not fit a Datum's int32")):
        p = tmp_path / "list.txt"
        p.write_bytes(body)
        with pytest.raises(InqError, match=f"^{re.escape(str(p) + msg)}"):
            read_list(str(p))


def test_a_list_starting_with_a_byte_order_mark_keeps_its_first_image(tmp_path):
    lst = tmp_path / "list.txt"
    lst.write_bytes(b"\xef\xbb\xbfa.png 0\nb.png 1\n")
    assert read_list(str(lst)) == [("a.png", 0), ("b.png", 1)]


def test_images_of_two_sizes_need_resize_or_mixed_sizes(tmp_path, images):
    """Without --resize, raw or encoded: refused at the first image whose size differs,
    naming both, and nothing written (an older database at --out stays)."""
    root, lst = images
    out = tmp_path / "db"
    run_tool("imageset", "--root", str(root), "--list", str(lst), "--out", str(out), "--resize", "4", "4")
    before = read_db(out)
    for extra in ([], ["--encoded"]):
        r = run_tool("imageset", "--root", str(root), "--list", str(lst), "--out", str(out), *extra, check=False)
        assert r.returncode == 2 and "Traceback" not in r.stderr
        err = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
        assert err == [f"error: {root}/sub/noise one.png is 3x20x24 but {root}/red.png is 3x6x8: Caffe cannot "
                       f"batch images of different sizes; give --resize HEIGHT WIDTH, or --mixed-sizes if the "
                       f"net's data layer crops every image to one size; nothing was written"], r.stderr
        assert [d.SerializeToString() for _, d in read_db(out)] == [d.SerializeToString() for _, d in before]


def _limited(kbytes):
    """preexec_fn: `ulimit -v kbytes` for the child."""
    import resource

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (kbytes * 1024, kbytes * 1024))
    return limit


def test_under_an_address_space_limit_and_with_sizes_that_cannot_be_stored(tmp_path, images):
    """ulimit -v 3000000: the database is written (LMDB maps what the limit allows); a
    --resize whose records exceed protobuf's 2 GiB, or whose decoding cannot fit in the
    memory left, is one error line before any work."""
    root, lst = images
    out = tmp_path / "db"
    r = run_tool("imageset", "--root", str(root), "--list", str(lst), "--out", str(out), "--resize", "8", "8",
                 "--jobs", "2", preexec_fn=_limited(3_000_000), check=False)
    assert r.returncode == 0, r.stderr[-2000:]
    assert len(read_db(out)) == 3
    for size, limit, words in ((("100000", "100000"), None, "beyond the 2,147,418,111 a Datum (a protobuf"),
                               (("20000", "20000"), 3_000_000, "processes would need about")):
        kw = {"preexec_fn": _limited(limit)} if limit else {}
        r = run_tool("imageset", "--root", str(root), "--list", str(lst), "--out", str(tmp_path / "big"),
                     "--resize", *size, "--jobs", "2", check=False, **kw)
        err = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
        assert r.returncode == 2 and len(err) == 1 and words in err[0] and "Traceback" not in r.stderr, r.stderr[-2000:]
        assert not (tmp_path / "big").exists()


def test_no_more_decoding_processes_than_images(tmp_path, images, monkeypatch):
    from inq_layer.datasets import imageset
    root, lst = images
    made = []
    real = imageset.ProcessPoolExecutor
    monkeypatch.setattr(imageset, "ProcessPoolExecutor", lambda n: made.append(n) or real(n))
    items = imageset.read_list(str(lst))[:2]
    opt = imageset.Options(str(root), (4, 4), False, False, False)
    imageset.convert(opt, items, str(tmp_path / "db"), jobs=100000, progress=False)
    imageset.convert(opt, items, str(tmp_path / "db"), jobs=0, progress=False)
    assert made == [2, min(2, os.cpu_count())]
    with pytest.raises(ValueError, match="jobs must be 0"):
        imageset.convert(opt, items, str(tmp_path / "db"), jobs=-1, progress=False)
