"""Fashion-MNIST as Caffe LMDBs, the replication's task (60,000 train / 10,000 test).

Debian's dataset-fashion-mnist package holds the four IDX files of Zalando's release. The
.deb is fetched once with `apt-get download` and checked by sha256; the images and labels
go into LMDBs unchanged (1 x 28 x 28 uint8 Datums, labels 0..9, the layout of Caffe's own
convert_mnist_data). Only the order differs: the training set is shuffled with a fixed
seed, since Caffe reads an LMDB front to back; the test set keeps the file's order.

"""
from __future__ import annotations

import gzip
import os
import struct

import numpy as np

from .debian_data import extract, fetch_deb
from ..errors import InqError
from .datum_db import write_arrays

PACKAGE = "dataset-fashion-mnist"
DEB_SHA256 = "39e172fe32dd318ebb3e512220c3beea2fa47d7e20bab348fb4e0922d6beefc0"
_DIR = "./usr/share/datasets/fashion-mnist/"
FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", 60000),
         "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", 10000)}
SEED = 2017


def read_idx(path: str) -> np.ndarray:
    """An IDX file of unsigned bytes (gzipped or not) as a uint8 array of its dims."""
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise InqError(f"{path}: cannot read IDX file ({e})") from None
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] != 0x08:
        raise InqError(f"{path}: not an IDX file of unsigned bytes")
    ndim = data[3]
    dims = struct.unpack_from(f">{ndim}I", data, 4)
    body = data[4 + 4 * ndim:]
    if len(body) != int(np.prod(dims, dtype=np.int64)):
        raise InqError(f"{path}: {len(body)} bytes of data, dims {dims} need {int(np.prod(dims))}")
    return np.frombuffer(body, np.uint8).reshape(dims)


def load_split(images_path: str, labels_path: str, expect: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise InqError(f"{images_path}: {images.shape} images do not match {labels_path}: {labels.shape} labels")
    if expect is not None and len(images) != expect:
        raise InqError(f"{images_path}: {len(images)} images, expected {expect}")
    if labels.max() > 9:
        raise InqError(f"{labels_path}: label {int(labels.max())} outside 0..9")
    return images, labels


def train_order(n: int, seed: int = SEED) -> np.ndarray:
    return np.random.default_rng(seed).permutation(n)


def make_data(out: str, downloads: str) -> None:
    done = os.path.join(out, ".complete")
    if os.path.exists(done):
        return
    deb = fetch_deb(PACKAGE, downloads, DEB_SHA256)
    raw = os.path.join(downloads, "fashion-mnist")
    names = [n for split in FILES.values() for n in split[:2]]
    if not all(os.path.exists(os.path.join(raw, n)) for n in names):
        extract(deb, [_DIR + n for n in names], raw)
    os.makedirs(out, exist_ok=True)
    for split, (imgs, labs, n) in FILES.items():
        images, labels = load_split(os.path.join(raw, imgs), os.path.join(raw, labs), n)
        order = train_order(n) if split == "train" else np.arange(n)
        write_arrays(os.path.join(out, f"fashion_{split}_lmdb"), images[order], labels[order])
    open(done, "w").close()
    print(f"fashion-mnist: 60000 train (shuffled, seed {SEED}) / 10000 test 28x28 images in {out}")
