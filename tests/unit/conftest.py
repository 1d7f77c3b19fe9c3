"""Fixtures of the numpy tier (no pycaffe here)."""
import pytest


@pytest.fixture(scope="module", params=["compiled", "numpy"])
def both_kernels(request):
    """Runs a module's tests with quantize_kernel.c and again with the numpy fallback
    (module scope: hypothesis tests cannot take function-scoped fixtures)."""
    from inq_layer.core import passes
    saved = passes._lib
    if request.param == "numpy":
        passes._lib = None
    elif saved is None:
        pytest.skip("quantize_kernel.c is not built (make setup)")
    yield request.param
    passes._lib = saved
