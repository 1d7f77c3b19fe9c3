"""A user's Caffe Python layer that raises (in training, calibration or a check): the error
names the layer, its module, the exception and when, on one line, and keeps the user's own
frames (their bug) below it; the package's frames are left out."""
from __future__ import annotations

import contextlib
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from ..errors import InqError

if TYPE_CHECKING:
    from caffe import Net

PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _python_layers(nets: list[Net]) -> dict[str, tuple[str, str]]:
    """{source file: (layer name, module.Class)} of the Python layers of `nets` that are
    not this package's."""
    out = {}
    for net in nets:
        for name, ly in zip(net._layer_names, net.layers):
            mod = type(ly).__module__
            path = getattr(sys.modules.get(mod), "__file__", None)
            if path and not os.path.abspath(path).startswith(PACKAGE + os.sep):
                out[os.path.abspath(path)] = (name, f"{mod}.{type(ly).__name__}")
    return out


def user_layer_error(nets: list[Net], exc: BaseException, when: str) -> InqError | None:
    """The one-line error for `exc` if a user's Python layer of `nets` raised it, else None;
    `when` ends the line ("at iteration 7; ...")."""
    frames = traceback.extract_tb(exc.__traceback__)
    layers = _python_layers(nets)
    hit = next((layers[os.path.abspath(f.filename)] for f in reversed(frames)
                if os.path.abspath(f.filename) in layers), None)
    if hit is None:
        return None
    own = [f for f in frames if not os.path.abspath(f.filename).startswith(PACKAGE + os.sep)
           and os.path.basename(f.filename) != "solver_driver.py"]
    err = InqError(f"Python layer {hit[0]!r} ({hit[1]}) raised {type(exc).__name__}: {exc} {when}")
    err.details = "the layer's frames:\n" + "".join(traceback.format_list(own)).rstrip()
    return err


@contextlib.contextmanager
def naming_user_layers(nets: Callable[[], list[Net]], when: Callable[[], str]) -> Iterator[None]:
    """Turn an exception a user's Python layer of `nets()` raises in the block into
    user_layer_error's line; anything else goes on as it is (a bug of ours keeps its
    traceback)."""
    try:
        yield
    except Exception as e:
        err = user_layer_error(nets(), e, when())
        if err is None:
            raise
        raise err from e
