"""selection: which blobs INQ quantizes, and which layers own a shared blob."""
import pytest

from inq_layer.net.selection import owners, quantizable_blobs

# (name, type, number of blobs): every weight layer type, old (V1) names too, and others
LAYERS = [("data", "Data", 0), ("conv", "Convolution", 2), ("deconv", "Deconvolution", 1),
          ("ip", "InnerProduct", 2), ("v1conv", "CONVOLUTION", 2), ("v1deconv", "DECONVOLUTION", 2),
          ("v1ip", "INNER_PRODUCT", 1), ("bn", "BatchNorm", 3), ("scale", "Scale", 2),
          ("conv_nob", "Convolution", 0), ("relu", "ReLU", 0)]


def test_default_takes_blob_0_of_every_weight_layer_type_old_names_too():
    assert quantizable_blobs(LAYERS) == [("conv", 0), ("deconv", 0), ("ip", 0), ("v1conv", 0), ("v1deconv", 0),
                                         ("v1ip", 0)]
    assert quantizable_blobs(LAYERS, "default") == quantizable_blobs(LAYERS)


def test_every_blob0_takes_blob_0_of_every_layer_with_blobs():
    assert quantizable_blobs(LAYERS, "every-blob0") == [
        ("conv", 0), ("deconv", 0), ("ip", 0), ("v1conv", 0), ("v1deconv", 0), ("v1ip", 0), ("bn", 0), ("scale", 0)]


def test_an_unknown_mode_is_refused_by_name():
    with pytest.raises(ValueError) as e:
        quantizable_blobs(LAYERS, "all")
    assert str(e.value) == "unknown quantize mode 'all': use one of default, every-blob0"


def test_a_shared_blob_belongs_to_its_first_layer():
    keys = [("a", 0), ("b", 0), ("c", 0), ("d", 0), ("e", 0)]
    ident = {("a", 0): "w", ("b", 0): None, ("c", 0): "w", ("d", 0): None, ("e", 0): "v"}
    own, alias = owners(keys, ident.get)
    assert own == [("a", 0), ("b", 0), ("d", 0), ("e", 0)]  # no identity: always its own
    assert alias == {("c", 0): ("a", 0)}
    assert owners([], ident.get) == ([], {})
