"""Real handwritten digits for the main job: OpenCV's digits.png as Caffe LMDBs.

Debian's opencv-doc ships examples/data/digits.png: 5000 MNIST digits of 20x20 pixels in a
50 x 100 grid, each band of 5 grid rows one class (0..9), 500 per class. Layout chosen:
each digit centred in a 28x28 uint8 image (4 pixels of zero border, as MNIST pads its
20x20 digits), one channel. Split: per class a seeded permutation, 400 to train and 100 to
test (4000 / 1000), then the train set shuffled (seeded) since Caffe reads LMDBs in order.

    python -m inq_layer.digits_data [--out build/digits]
"""
from __future__ import annotations

import argparse
import glob
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

from .atomic import sha256_file
from .errors import InqError, cli_main

PNG_MEMBER = "./usr/share/doc/opencv-doc/examples/data/digits.png"
PNG_SHA256 = "60c917758ef97cc090f35cd8e293e4de691ef942847da0ff80dedab33d57c662"
SEED = 2017


def fetch_png(downloads: str) -> str:
    """digits.png from the cached opencv-doc .deb (downloaded once with apt-get)."""
    os.makedirs(downloads, exist_ok=True)
    png = os.path.join(downloads, "digits.png")
    if os.path.exists(png) and sha256_file(png) == PNG_SHA256:
        return png
    debs = glob.glob(os.path.join(downloads, "opencv-doc_*.deb"))
    if not debs:
        r = _apt_download(downloads)
        if r.returncode != 0:  # a fresh machine may have no package lists yet
            subprocess.run(["apt-get", "update", "-qq"], capture_output=True)
            r = _apt_download(downloads)
        debs = glob.glob(os.path.join(downloads, "opencv-doc_*.deb"))
        if r.returncode != 0 or not debs:
            raise InqError(f"apt-get download opencv-doc failed ({r.stderr.strip()[-200:]}); "
                           f"run `apt-get update` or put opencv-doc_*.deb in {downloads}")
    with tempfile.TemporaryDirectory(dir=downloads) as tmp:
        cmd = f"dpkg-deb --fsys-tarfile '{debs[0]}' | tar x -C '{tmp}' '{PNG_MEMBER}'"
        if subprocess.run(cmd, shell=True, capture_output=True).returncode != 0:
            raise InqError(f"{debs[0]}: could not extract digits.png (damaged download? delete it and rerun)")
        got = os.path.join(tmp, PNG_MEMBER)
        digest = sha256_file(got)
        if digest != PNG_SHA256:
            raise InqError(f"{debs[0]}: digits.png has sha256 {digest}, expected {PNG_SHA256}")
        os.replace(got, png)
    return png


def _apt_download(folder: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["apt-get", "download", "opencv-doc"], cwd=folder, capture_output=True, text=True)
    except FileNotFoundError:
        raise InqError("apt-get is not available: download Debian's opencv-doc package by hand "
                       f"and put opencv-doc_*.deb in {folder}") from None


def cut_digits(png: str) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 N x 28 x 28, labels) in grid order."""
    import matplotlib.image
    img = matplotlib.image.imread(png)
    if img.ndim == 3:
        img = img[..., 0]
    img = np.rint(img * 255).astype(np.uint8) if img.dtype != np.uint8 else img
    if img.shape != (1000, 2000):
        raise InqError(f"{png}: expected a 1000x2000 image, got {img.shape}")
    cells = img.reshape(50, 20, 100, 20).transpose(0, 2, 1, 3).reshape(5000, 20, 20)
    out = np.zeros((5000, 28, 28), np.uint8)
    out[:, 4:24, 4:24] = cells
    labels = np.repeat(np.arange(10), 500)
    return out, labels


def split(labels: np.ndarray, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in range(10):
        idx = rng.permutation(np.flatnonzero(labels == c))
        train.append(idx[:400])
        test.append(idx[400:])
    return rng.permutation(np.concatenate(train)), np.concatenate(test)


def write_lmdb(path: str, images: np.ndarray, labels: np.ndarray) -> None:
    """Datums built with caffe_pb2 directly (caffe.io's helpers need numpy < 2's tostring)."""
    import lmdb
    from .caffe_io import pb2
    tmp = path + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    env = lmdb.open(tmp, map_size=1 << 30)
    with env.begin(write=True) as txn:
        for i, (im, lab) in enumerate(zip(images, labels)):
            d = pb2().Datum(channels=1, height=im.shape[0], width=im.shape[1], data=im.tobytes(), label=int(lab))
            txn.put(f"{i:08d}".encode(), d.SerializeToString())
    env.close()
    shutil.rmtree(path, ignore_errors=True)
    os.replace(tmp, path)


def make_data(out: str, downloads: str) -> None:
    done = os.path.join(out, ".complete")
    if os.path.exists(done):
        return
    images, labels = cut_digits(fetch_png(downloads))
    tr, te = split(labels)
    os.makedirs(out, exist_ok=True)
    write_lmdb(os.path.join(out, "digits_train_lmdb"), images[tr], labels[tr])
    write_lmdb(os.path.join(out, "digits_test_lmdb"), images[te], labels[te])
    open(done, "w").close()
    print(f"digits: 4000 train / 1000 test 28x28 images in {out}")


@cli_main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="build/digits")
    ap.add_argument("--downloads", default="build/downloads")
    a = ap.parse_args(argv)
    make_data(a.out, a.downloads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
