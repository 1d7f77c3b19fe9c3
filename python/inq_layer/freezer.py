"""Keeping frozen weights exact: the "optimizer step" half of INQ (the scheduler being
campaign.py). Stock Caffe updates every weight; after each update the frozen positions are
written back to their quantized values, so forward passes, tests and snapshots see them
exactly and unfrozen weights follow stock Caffe's solver.

The write-back runs in the solver's on_start callback (see Freezer.attach), with the
kernel of writeback.py.

Bookkeeping is 2 bytes per quantizable weight: the upper 16 bits of the frozen float32
value (a power of two or zero has an all-zero lower half), or FLOAT sentinel 0xFFFF (a NaN
pattern, never a quantized value) for weights that are still float.
"""
from __future__ import annotations

import weakref

import numpy as np

from .errors import InqError
from .writeback import FLOAT, blend


def encode(quantized: np.ndarray, frozen: np.ndarray, name: str = "blob") -> np.ndarray:
    """Codes for one blob from its quantized values and frozen mask."""
    bits = np.ascontiguousarray(quantized, np.float32).view(np.uint32)
    if np.any(bits[frozen] & 0xFFFF):
        raise InqError(f"{name}: frozen weights below 2^-133 cannot be stored; the layer's "
                       f"weights are too small for float32 training, rescale the model")
    codes = (bits >> 16).astype(np.uint16)
    codes[~np.asarray(frozen, bool)] = FLOAT
    return codes


def frozen_mask(codes: np.ndarray) -> np.ndarray:
    return codes != FLOAT


def decode(codes: np.ndarray) -> np.ndarray:
    """The frozen values as float32 (meaningless where the mask is False)."""
    return (codes.astype(np.uint32) << 16).view(np.float32)


class Freezer:
    """Frozen codes of every quantizable blob of a net; `restore` writes them back."""

    def __init__(self, codes: dict[tuple[str, int], np.ndarray]):
        self.codes = {k: np.ascontiguousarray(c, np.uint16) for k, c in codes.items()}
        # Blobs with nothing frozen need no work.
        self._active = [k for k, c in self.codes.items() if frozen_mask(c).any()]
        self._solver = None

    def attach(self, solver) -> None:
        """Restore inside Caffe's own loop, at the start of every iteration (the solver's
        on_start callback), so that one step(n) call can run many iterations: calling
        step(1) per iteration cost about 3% on LeNet. After a step() returns, the last
        update is not undone yet: call `restore` before testing or snapshotting."""
        params = solver.net.params  # pycaffe rebuilds this dict on every access
        solver.add_callback(lambda: self.restore(params), lambda: None)
        # Weakly: the callback holds this freezer, and a strong reference back would keep
        # the solver (and its open LMDB) alive after the campaign releases it.
        self._solver = weakref.ref(solver)

    def attached_to(self, solver) -> bool:
        return self._solver is not None and self._solver() is solver

    def restore(self, params) -> None:
        """Write frozen values into `params` ({layer: [blob, ...]}, pycaffe's net.params)."""
        for layer, idx in self._active:
            blend(params[layer][idx].data.reshape(-1).view(np.uint32),
                  self.codes[(layer, idx)].reshape(-1))

    def violations(self, params) -> int:
        """Frozen weights whose value in `params` differs from the frozen value (bitwise)."""
        bad = 0
        for (layer, idx), codes in self.codes.items():
            m = frozen_mask(codes)
            data = np.ascontiguousarray(params[layer][idx].data, np.float32).reshape(codes.shape)
            bad += int(np.count_nonzero(data.view(np.uint32)[m] != decode(codes).view(np.uint32)[m]))
        return bad
