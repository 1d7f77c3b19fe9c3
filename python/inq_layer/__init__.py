"""Incremental Network Quantization (Zhou et al., ICLR 2017) on stock Caffe.

The quantization core (levels, partition, quantize, selection) is pure numpy; the modules
that talk to Caffe import it lazily.
"""
from .freezer import Freezer, FrozenBlob
from .quantize import QuantizedBlob, quantize_blob
from .scheduler import quantize_net
from .selection import quantizable_blobs

__all__ = ["Freezer", "FrozenBlob", "QuantizedBlob", "quantize_blob", "quantize_net", "quantizable_blobs"]
