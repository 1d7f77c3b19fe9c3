"""`python -m inq_layer.tools.imageset`, the documented name of inq_layer.datasets.imageset."""
import runpy

if __name__ == "__main__":
    runpy.run_module("inq_layer.datasets.imageset", run_name="__main__", alter_sys=True)
