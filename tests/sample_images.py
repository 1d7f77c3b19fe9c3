"""Real photographs for smoke runs of the ImageNet path: the camera-calibration shots that
Debian's opencv-doc ships (examples/data/left01.jpg ... right14.jpg, 640x480), fetched with
the .deb that `make data` already downloads, as a two-class image list (left 0, right 1)
in the format of imageset / convert_imageset."""
from __future__ import annotations

import os
import re
import subprocess

from inq_layer.atomic import write_text_atomic
from inq_layer.datasets.debian_data import extract, fetch_deb
from inq_layer.errors import InqError

_MEMBER = re.compile(r"\./usr/share/doc/opencv-doc/examples/data/(left|right)\d+\.jpg")


def sample_imageset(downloads: str, folder: str) -> tuple[str, str]:
    """(image folder, list file) of the left/right photos, extracted once into `folder`."""
    images = os.path.join(folder, "images")
    listing = os.path.join(folder, "list.txt")
    if not os.path.exists(listing):
        deb = fetch_deb("opencv-doc", downloads)
        r = subprocess.run(["dpkg-deb", "-c", deb], capture_output=True, text=True)
        members = sorted({m.group(0) for m in _MEMBER.finditer(r.stdout)})
        if not members:
            raise InqError(f"{deb}: no left/right photos in it")
        extract(deb, members, images)
        lines = [f"{os.path.basename(m)} {0 if os.path.basename(m).startswith('left') else 1}" for m in members]
        write_text_atomic(listing, "\n".join(lines) + "\n")
    return images, listing
