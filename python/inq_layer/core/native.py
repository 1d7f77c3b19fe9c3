"""The optional compiled kernels: C files next to this one, which `pip install` (setup.py,
run by make setup) compiles into libraries named like extension modules.

A kernel is used only when its library loads and reports the version its Python side
expects: a stale build from an older checkout falls back to numpy, never to wrong bits.
"""
from __future__ import annotations

import ctypes
import importlib.machinery
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def library_path(name: str) -> str:
    """Where the kernel's library is (the first extension suffix found; the first suffix
    when there is none)."""
    paths = [os.path.join(HERE, f"_{name}{suffix}") for suffix in importlib.machinery.EXTENSION_SUFFIXES]
    return next((p for p in paths if os.path.exists(p)), paths[0])


def load(path: str, prefix: str, version: int, env: str) -> ctypes.CDLL | None:
    """The library at `path` if `{prefix}_version()` returns `version`, else None (missing,
    unloadable, stale, or switched off with the environment variable `env`=numpy)."""
    if os.environ.get(env) == "numpy":
        return None
    try:
        lib = ctypes.CDLL(path)
        if getattr(lib, f"{prefix}_version")() != version:
            return None
    except (OSError, AttributeError):
        return None
    return lib


ISAS = ("base", "AVX2", "AVX-512")  # the instruction sets a kernel with an `_isa` entry has


def use_isa(isa_fn, want: int = -1) -> str:
    """Make a kernel run instruction set `want` (an index of ISAS) through its
    `inq_NAME_isa` function, or the widest this CPU has when it has not that one or want
    is -1; the name of the one it runs. Every set computes the same integers."""
    isa_fn.argtypes, isa_fn.restype = [ctypes.c_int], ctypes.c_int
    return ISAS[isa_fn(want)]
