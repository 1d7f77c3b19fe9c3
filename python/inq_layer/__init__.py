"""Incremental Network Quantization (Zhou et al., ICLR 2017) on stock Caffe.

The quantization core (levels, partition, quantize, selection) is pure numpy; the modules
that talk to Caffe import it lazily.
"""
from .quantize import QuantizedBlob, quantize_blob
from .selection import quantizable_blobs

__all__ = ["QuantizedBlob", "quantize_blob", "quantizable_blobs"]
