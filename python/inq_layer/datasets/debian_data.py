"""Data files that ship in Debian packages: fetched once with `apt-get download` into a
downloads folder, checked by sha256, extracted member by member (no root install)."""
from __future__ import annotations

import glob
import os
import subprocess
import tempfile

from ..atomic import move_into_place, sha256_file
from ..errors import InqError


def _apt_download(package: str, folder: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["apt-get", "download", package], cwd=folder, capture_output=True, text=True)
    except FileNotFoundError:
        raise InqError(f"apt-get is not available: download Debian's {package} package by hand "
                       f"and put {package}_*.deb in {folder}") from None


def fetch_deb(package: str, downloads: str, sha256: str | None = None) -> str:
    """Path of the package's .deb in `downloads`, downloaded if absent (after an
    `apt-get update` when a fresh machine has no package lists yet)."""
    os.makedirs(downloads, exist_ok=True)
    pattern = os.path.join(downloads, f"{package}_*.deb")
    if not glob.glob(pattern):
        r = _apt_download(package, downloads)
        if r.returncode != 0:
            subprocess.run(["apt-get", "update", "-qq"], capture_output=True)
            r = _apt_download(package, downloads)
        if r.returncode != 0 or not glob.glob(pattern):
            raise InqError(f"apt-get download {package} failed ({r.stderr.strip()[-200:]}); "
                           f"run `apt-get update` or put {package}_*.deb in {downloads}")
    deb = sorted(glob.glob(pattern))[-1]
    if sha256 is not None:
        digest = sha256_file(deb)
        if digest != sha256:
            raise InqError(f"{deb}: sha256 {digest}, expected {sha256} (damaged download? delete it and rerun)")
    return deb


def extract(deb: str, members: list[str], dest: str) -> list[str]:
    """Extract `members` (paths inside the .deb, './usr/...') into `dest`, flat, each
    file renamed into place only once the whole extraction worked."""
    os.makedirs(dest, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest) as tmp:
        quoted = " ".join(f"'{m}'" for m in members)
        cmd = f"dpkg-deb --fsys-tarfile '{deb}' | tar x -C '{tmp}' {quoted}"
        if subprocess.run(cmd, shell=True, capture_output=True).returncode != 0:
            raise InqError(f"{deb}: could not extract {', '.join(members)} (damaged download? delete it and rerun)")
        out = []
        for m in members:
            target = os.path.join(dest, os.path.basename(m))
            move_into_place(os.path.join(tmp, m), target)
            out.append(target)
    return out
