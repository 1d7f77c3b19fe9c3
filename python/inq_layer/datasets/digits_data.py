"""Real handwritten digits for the main job: OpenCV's digits.png as Caffe LMDBs.

Debian's opencv-doc ships examples/data/digits.png: 5000 MNIST digits of 20x20 pixels in a
50 x 100 grid, each band of 5 grid rows one class (0..9), 500 per class. Layout chosen:
each digit centred in a 28x28 uint8 image (4 pixels of zero border, as MNIST pads its
20x20 digits), one channel. Split: per class a seeded permutation, 400 to train and 100 to
test (4000 / 1000), then the train set shuffled (seeded) since Caffe reads LMDBs in order.

"""
from __future__ import annotations

import os

import numpy as np

from ..atomic import move_into_place, sha256_file
from .debian_data import extract, fetch_deb
from ..errors import InqError
from .datum_db import write_arrays

PNG_MEMBER = "./usr/share/doc/opencv-doc/examples/data/digits.png"
PNG_SHA256 = "60c917758ef97cc090f35cd8e293e4de691ef942847da0ff80dedab33d57c662"
SEED = 2017


def fetch_png(downloads: str) -> str:
    """digits.png from the cached opencv-doc .deb (downloaded once with apt-get)."""
    png = os.path.join(downloads, "digits.png")
    if os.path.exists(png) and sha256_file(png) == PNG_SHA256:
        return png
    deb = fetch_deb("opencv-doc", downloads)
    got = extract(deb, [PNG_MEMBER], os.path.join(downloads, ".digits"))[0]
    digest = sha256_file(got)
    if digest != PNG_SHA256:
        raise InqError(f"{deb}: digits.png has sha256 {digest}, expected {PNG_SHA256}")
    move_into_place(got, png)
    return png


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


def make_data(out: str, downloads: str) -> None:
    done = os.path.join(out, ".complete")
    if os.path.exists(done):
        return
    images, labels = cut_digits(fetch_png(downloads))
    tr, te = split(labels)
    os.makedirs(out, exist_ok=True)
    write_arrays(os.path.join(out, "digits_train_lmdb"), images[tr], labels[tr])
    write_arrays(os.path.join(out, "digits_test_lmdb"), images[te], labels[te])
    open(done, "w").close()
    print(f"digits: 4000 train / 1000 test 28x28 images in {out}")
