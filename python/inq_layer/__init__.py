"""Incremental Network Quantization (Zhou et al., ICLR 2017) on stock Caffe.

The quantization core (levels, partition, passes, n1_choice, quantize) is pure numpy (with
optional C kernels); the modules that talk to Caffe import it lazily. Importing the
package loads nothing: the names below are imported on first use.
"""
from __future__ import annotations

import importlib

_NAMES = {"Freezer": "freezer", "FrozenBlob": "freezer", "QuantizedBlob": "quantize", "quantize_blob": "quantize",
          "quantize_net": "scheduler", "quantizable_blobs": "selection"}
__all__ = sorted(_NAMES)


def __getattr__(name: str):
    if name in _NAMES:
        return getattr(importlib.import_module(f".{_NAMES[name]}", __name__), name)
    raise AttributeError(f"module 'inq_layer' has no attribute {name!r}")
