"""`python -m inq_layer.tools.image_mean`, the documented name of inq_layer.datasets.image_mean."""
import runpy

if __name__ == "__main__":
    runpy.run_module("inq_layer.datasets.image_mean", run_name="__main__", alter_sys=True)
