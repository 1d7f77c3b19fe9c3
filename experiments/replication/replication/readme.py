"""The README's sections written from the kept runs ("2-bit ResNet: what to use", the rows
behind "Low-precision activations"), each between two marker comments naming it, so that
their numbers are the runs' and never typed by hand."""
from __future__ import annotations

import os
from typing import Callable

from inq_layer.atomic import write_text_atomic

from .layout import ROOT
from .render_act import readme_section as act_section
from .render_resnet import readme_section as resnet_section

README = os.path.join(ROOT, "README.md")
SECTIONS: dict[str, Callable[[], list[str]]] = {"2-bit ResNet": resnet_section, "activations": act_section}


def begin(key: str) -> str:
    return (f"<!-- begin: {key}, written by `make replication-doc` (experiments/replication/replication/readme.py); "
            "do not edit -->")


def end(key: str) -> str:
    return f"<!-- end: {key}, written by `make replication-doc` -->"


def with_sections(text: str) -> str:
    """`text` (the README) with every section between its markers rendered anew."""
    for key, render in SECTIONS.items():
        b, e = begin(key), end(key)
        if text.count(b) != 1 or text.count(e) != 1 or text.index(b) > text.index(e):
            raise ValueError(f"{README}: needs one {b!r} line and, after it, one {e!r} line")
        head, rest = text.split(b, 1)
        _, tail = rest.split(e, 1)
        text = head + b + "\n" + "\n".join(render()) + "\n" + e + tail
    return text


def write_sections() -> None:
    with open(README) as f:
        text = f.read()
    new = with_sections(text)
    if new != text:
        write_text_atomic(README, new)
