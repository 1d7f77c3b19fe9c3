"""The README's section "2-bit ResNet: what to use", written from the kept runs between two
marker comments, so that its numbers are the runs' and never typed by hand."""
from __future__ import annotations

import os

from inq_layer.atomic import write_text_atomic

from .layout import ROOT
from .render_resnet import readme_section

README = os.path.join(ROOT, "README.md")
BEGIN = "<!-- begin: written by `make replication-doc` (experiments/replication/replication/readme.py); do not edit -->"
END = "<!-- end: written by `make replication-doc` -->"


def with_section(text: str) -> str:
    """`text` (the README) with the section between the markers rendered anew."""
    if text.count(BEGIN) != 1 or text.count(END) != 1 or text.index(BEGIN) > text.index(END):
        raise ValueError(f"{README}: needs one {BEGIN!r} line and, after it, one {END!r} line")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return head + BEGIN + "\n" + "\n".join(readme_section()) + "\n" + END + tail


def write_section() -> None:
    with open(README) as f:
        text = f.read()
    new = with_section(text)
    if new != text:
        write_text_atomic(README, new)
