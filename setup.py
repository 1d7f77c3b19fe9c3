"""The optional C kernels as shared libraries next to the package (pyproject.toml has
everything else). inq_layer loads them with ctypes and falls back to numpy without them,
so a failed compile does not fail the install (optional=True)."""
from setuptools import Extension, setup

KERNELS = ("writeback", "quantize_kernel", "shift_conv", "requantize")

setup(ext_modules=[Extension(f"inq_layer.core._{k}", [f"python/inq_layer/core/{k}.c"],
                             depends=["python/inq_layer/core/isa.h"],
                             extra_compile_args=["-O3", "-std=c99"], libraries=["m"], optional=True)
                   for k in KERNELS])
