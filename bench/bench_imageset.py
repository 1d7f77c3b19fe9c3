"""imageset speed: 500x375 JPEGs (ImageNet's typical size) -> 256x256 raw Datums, with all
cores. The photos are real ones from Debian's opencv-doc (fetched by `make data`), cut and
scaled to 500x375 and saved as JPEG (quality 90), 1000 files. Prints images/s and the time
ILSVRC-2012's 1.28M training images would take at that rate."""
import os
import subprocess
import tempfile
import time

from inq_layer.datasets.debian_data import extract, fetch_deb
from inq_layer.datasets.imageset import Options, convert

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")

PHOTOS = ["baboon.jpg", "fruits.jpg", "building.jpg", "aero1.jpg", "home.jpg", "board.jpg", "apple.jpg",
          "butterfly.jpg", "lena.jpg", "starry_night.jpg"]


def main(n: int = 1000) -> None:
    from PIL import Image
    deb = fetch_deb("opencv-doc", os.path.join(ROOT, "build", "downloads"))
    with tempfile.TemporaryDirectory() as tmp:
        listed = subprocess.run(f"dpkg-deb -c '{deb}'", shell=True, capture_output=True, text=True).stdout
        members = [f"./usr/share/doc/opencv-doc/examples/data/{p}" for p in PHOTOS if f"/examples/data/{p}" in listed]
        photos = extract(deb, members, os.path.join(tmp, "src"))
        lines = []
        for i in range(n):
            with Image.open(photos[i % len(photos)]) as im:
                im = im.convert("RGB")
                w, h = im.size
                s = 0.6 + 0.4 * ((i * 37) % 100) / 100  # a different crop for every file
                box = (int((w - w * s) * ((i * 13) % 7) / 7), int((h - h * s) * ((i * 7) % 5) / 5))
                crop = im.crop((box[0], box[1], box[0] + int(w * s), box[1] + int(h * s))).resize((500, 375))
                crop.save(os.path.join(tmp, f"{i:05d}.jpg"), quality=90)
            lines.append((f"{i:05d}.jpg", i % 2))
        t = time.perf_counter()
        r = convert(Options(tmp, (256, 256)), lines, os.path.join(tmp, "lmdb"), progress=False)
        secs = time.perf_counter() - t
    rate = r["written"] / secs
    print(f"imageset: {r['written']} JPEGs of 500x375 -> 256x256 raw Datums in {secs:.2f} s with "
          f"{os.cpu_count()} cores: {rate:.0f} images/s (goal 300); ILSVRC-2012's 1,281,167 training "
          f"images would take {1281167 / rate / 3600:.1f} h")


if __name__ == "__main__":
    main()
