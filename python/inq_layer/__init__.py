"""Incremental Network Quantization (Zhou et al., ICLR 2017) on stock Caffe.

The quantization core (levels, partition, quantize, selection) is pure numpy; the modules
that talk to Caffe import it lazily.
"""
from . import interpreter

interpreter.ensure()  # before numpy: a system Python is re-executed under build/venv

from .freezer import Freezer, FrozenBlob  # noqa: E402
from .quantize import QuantizedBlob, quantize_blob  # noqa: E402
from .scheduler import quantize_net  # noqa: E402
from .selection import quantizable_blobs  # noqa: E402

__all__ = ["Freezer", "FrozenBlob", "QuantizedBlob", "quantize_blob", "quantize_net", "quantizable_blobs"]
