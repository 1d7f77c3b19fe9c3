"""A Caffe Python layer that watches weights during training: it shares blobs with other
layers (same `param { name }`) and appends, at every TRAIN forward pass, the number of
their weights that lie on a power-of-two grid (0 or +-2^k) to the file in param_str.
A line "setup" marks each new net (each INQ phase builds a fresh solver)."""
import caffe
import numpy as np


def on_grid(w):
    a = np.abs(np.ascontiguousarray(w, np.float32).reshape(-1)).view(np.uint32)
    return int(np.count_nonzero((a & 0x7FFFFF) == 0))  # mantissa zero: 0 or a power of two


class WatchLayer(caffe.Layer):
    def setup(self, bottom, top):
        self.path, *shapes = self.param_str.split(";")
        for s in shapes:
            self.blobs.add_blob(*[int(d) for d in s.split(",")])
        with open(self.path, "a") as f:
            f.write("setup\n")

    def reshape(self, bottom, top):
        pass

    def forward(self, bottom, top):
        if self.phase == caffe.TRAIN:
            with open(self.path, "a") as f:
                f.write(" ".join(str(on_grid(b.data)) for b in self.blobs) + "\n")

    def backward(self, top, propagate_down, bottom):
        pass
