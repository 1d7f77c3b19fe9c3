"""Keeping frozen weights exact: the "optimizer step" half of INQ (which weights freeze
when is quantize_net.py). Stock Caffe updates every weight; after each update the frozen
positions are written back to their quantized values, so forward passes, tests and
snapshots see them exactly and unfrozen weights follow stock Caffe's solver.

The write-back runs in the solver's on_start callback (see Freezer.attach), with the
kernel of core/codes.py, which also defines the 2-byte codes a FrozenBlob holds.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..core.codes import blend, decode, frozen_mask
from ..errors import InqError

if TYPE_CHECKING:  # annotations only: pycaffe is not imported at load time
    from collections.abc import Mapping, Sequence

    from caffe._caffe import Blob, Solver

    Params = Mapping[str, Sequence[Blob]]  # pycaffe's net.params


@dataclass
class FrozenBlob:
    """One quantizable blob's INQ state: its grid (kept from its first phase), the frozen
    codes, and the weights held at 0 since the start (--keep-zeros), if any."""
    layer: str
    index: int
    n1: int | None  # None: the blob is all zero
    n2: int | None
    codes: np.ndarray  # uint16, the blob's shape
    pruned: np.ndarray | None = None  # bool, the blob's shape
    bits: int | None = None  # the blob's bit width (None: pruning only)

    @property
    def frozen(self) -> np.ndarray:
        return frozen_mask(self.codes)

    def counts(self) -> dict:
        """Per-blob numbers for reports: count, frozen, zero (frozen at 0) and pruned
        fractions, n1, n2, and the bit width when the blob has one."""
        n = self.codes.size
        zeros = int(np.count_nonzero((self.codes & 0x7FFF) == 0))  # +0 and -0 codes
        pruned = 0 if self.pruned is None else int(np.count_nonzero(self.pruned))
        return {"count": int(n), "frozen_fraction": int(self.frozen.sum()) / n, "zero_fraction": zeros / n,
                "pruned_fraction": pruned / n, "n1": self.n1, "n2": self.n2,
                **({"bits": self.bits} if self.bits is not None else {})}


class Freezer:
    """Frozen codes of every quantizable blob of a net; `restore` writes them back.

    `codes`: {(layer, blob index): FrozenBlob or uint16 codes}, e.g. what
    quantize_net returns."""

    def __init__(self, codes: dict):
        for k, c in codes.items():
            dtype = getattr(getattr(c, "codes", c), "dtype", None)
            if dtype != np.uint16:
                raise InqError(f"Freezer: the codes of {k} are {dtype}, not uint16 (core.codes.encode makes them)")
        self.codes = {k: np.ascontiguousarray(getattr(c, "codes", c)) for k, c in codes.items()}
        # Blobs with nothing frozen need no work.
        self._active = [k for k, c in self.codes.items() if frozen_mask(c).any()]
        self._solver = None

    def attach(self, solver: Solver) -> None:
        """Restore inside Caffe's own loop, at the start of every iteration (the solver's
        on_start callback), so that one step(n) call can run many iterations: calling
        step(1) per iteration cost about 3% on LeNet. After a step() returns, the last
        update is not undone yet: call `restore` before testing or snapshotting."""
        params = solver.net.params  # one lookup: pycaffe builds this dict on first access
        solver.add_callback(lambda: self.restore(params), lambda: None)
        # Weakly: the callback holds this freezer, and a strong reference back would keep
        # the solver (and its open LMDB) alive after the campaign releases it.
        self._solver = weakref.ref(solver)

    def step(self, iters: int) -> None:
        """Run the attached solver `iters` iterations and write the frozen values back
        after the last update, so that what follows (a test, a save) sees them exact."""
        solver = self._solver() if self._solver is not None else None
        if solver is None:
            raise RuntimeError("Freezer.step: attach(solver) first")
        solver.step(iters)
        self.restore(solver.net.params)

    def attached_to(self, solver: Solver) -> bool:
        return self._solver is not None and self._solver() is solver

    def restore(self, params: Params) -> None:
        """Write frozen values into `params` ({layer: [blob, ...]}, pycaffe's net.params)."""
        for layer, idx in self._active:
            blend(params[layer][idx].data.reshape(-1).view(np.uint32),
                  self.codes[(layer, idx)].reshape(-1))

    def violations(self, params: Params) -> int:
        """Frozen weights whose value in `params` differs from the frozen value (bitwise)."""
        bad = 0
        for (layer, idx), codes in self.codes.items():
            m = frozen_mask(codes)
            data = np.ascontiguousarray(params[layer][idx].data, np.float32).reshape(codes.shape)
            bad += int(np.count_nonzero(data.view(np.uint32)[m] != decode(codes).view(np.uint32)[m]))
        return bad
