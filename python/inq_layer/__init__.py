"""Incremental Network Quantization (Zhou et al., ICLR 2017) on stock Caffe.

core/ is the quantization core, pure numpy (with optional C kernels); caffe_edge/ reads and
checks Caffe's files; net/ quantizes and freezes a net's blobs; campaign/ runs INQ's phases;
deploy/ checks and exports the result; tools/ holds the commands. Importing the
package loads nothing: the names below are imported on first use.
"""
from __future__ import annotations

import importlib

_NAMES = {"Freezer": "net.freezer", "FrozenBlob": "net.freezer", "QuantOptions": "options",
          "QuantizedBlob": "core.quantize", "quantize_blob": "core.quantize", "quantize_net": "net.quantize_net",
          "quantizable_blobs": "net.selection"}
__all__ = sorted(_NAMES)


def __getattr__(name: str):
    if name in _NAMES:
        return getattr(importlib.import_module(f".{_NAMES[name]}", __name__), name)
    raise AttributeError(f"module 'inq_layer' has no attribute {name!r}")
