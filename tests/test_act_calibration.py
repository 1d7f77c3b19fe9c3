"""Calibration on blobs whose values are known exactly (LMDB images through Power layers):
each quantizer's f, signedness, largest magnitude and squared error equal what the core's
rules give over every calibration batch, and every refusal is one line naming the blob."""
import dataclasses
import gc

import numpy as np
import pytest

from inq_layer.core import fixed_point as fp
from inq_layer.errors import InqError
from inq_layer.net.act_calibration import Calibrated, calibrate
from inq_layer.net.act_placement import Quantizer

BATCH = 4
# three batches of 2x2 images; the largest pixel (200) only in the last batch, a 0 in the first
IMAGES = np.array([[[0, 7], [9, 13]], [[21, 33], [50, 1]], [[2, 3], [4, 5]], [[6, 8], [10, 12]],
                   [[17, 19], [23, 29]], [[31, 37], [41, 43]], [[47, 53], [59, 61]], [[67, 71], [73, 79]],
                   [[83, 89], [97, 101]], [[103, 107], [109, 113]], [[127, 131], [137, 139]],
                   [[149, 151], [157, 200]]], np.uint8)
POWER = 'layer {{ name: "{0}" type: "Power" bottom: "data" top: "{0}" power_param {{ {1} }} }}\n'
LAYERS = {"centred": "shift: -0.25", "zeros": "scale: 0", "nan": "shift: -0.25 power: 0.5", "tiny": "scale: 1e-38"}


def net_maker(folder, images):
    """A function making a fresh TEST net reading `images` (batches of BATCH) with the blobs of
    LAYERS; its `calls` counts the nets made."""
    import caffe
    from inq_layer.datasets.datum_db import write_arrays
    caffe.set_mode_cpu()
    write_arrays(str(folder / "db"), images, np.zeros(len(images), np.int64))
    net = folder / "net.prototxt"
    net.write_text('layer { name: "data" type: "Data" top: "data" top: "label" '
                   'transform_param { scale: 0.00390625 } '
                   f'data_param {{ source: "{folder / "db"}" batch_size: {BATCH} backend: LMDB }} }}\n'
                   + "".join(POWER.format(k, v) for k, v in LAYERS.items()))

    def new():
        new.calls += 1
        gc.collect()  # the previous net's LMDB reader is gone before another opens the database
        return caffe.Net(str(net), caffe.TEST)
    new.calls = 0
    return new


@pytest.fixture
def make(tmp_path):
    return net_maker(tmp_path, IMAGES)


def batches(blob: str, n: int) -> list[np.ndarray]:
    data = IMAGES.astype(np.float32)[:, None] * np.float32(1 / 256)
    values = {"data": data, "centred": data - np.float32(0.25)}[blob]
    return [values[i * BATCH:(i + 1) * BATCH] for i in range(n)]


def by_hand(blob: str, bits: int, n: int, rule: str) -> Calibrated:
    xs = batches(blob, n)
    top = max(float(np.abs(x).max()) for x in xs)
    signed = any(x.min() < 0 for x in xs)
    f_max = fp.f_for_max(top, bits, signed)
    if rule == "max":
        return Calibrated(bits, f_max, signed, top)
    err = {f: sum(fp.squared_error(x, bits, f, signed) for x in xs) for f in fp.mse_candidates(f_max)}
    best = min(err.values())
    f = min(f for f in err if err[f] == best)
    return Calibrated(bits, f, signed, top, err[f])


QS = [Quantizer("data_q", "data"), Quantizer("centred_q", "centred")]


@pytest.mark.parametrize("rule", ["max", "mse"])
@pytest.mark.parametrize("bits, n", [(4, 3), (3, 3), (8, 3), (4, 1)])
def test_each_quantizer_as_its_rule_gives_over_every_batch(make, rule, bits, n):
    got = calibrate(make, QS, bits, n, rule)
    assert got == {"data_q": by_hand("data", bits, n, rule), "centred_q": by_hand("centred", bits, n, rule)}
    assert make.calls == (2 if rule == "mse" else 1)  # mse reads the same batches again, on a new net
    assert got["data_q"].signed is False and got["centred_q"].signed is True  # a 0 is unsigned


def test_what_the_rules_choose_here(make):
    """Absolute values: the largest pixel is 200/256; at 8 bits every pixel is exact at f 8
    and 9, and a tie keeps the wider range."""
    got = calibrate(make, QS, 8, 3, "mse")
    assert (got["data_q"].f, got["data_q"].squared_error, got["data_q"].max_abs) == (8, 0.0, 0.78125)
    assert calibrate(make, QS, 8, 1, "max")["data_q"].max_abs == 50 / 256  # one batch: its own largest
    three = calibrate(make, QS, 3, 3, "max")["data_q"]
    assert three.f == 3 and three.squared_error is None  # 7.5 / 0.78125 = 9.6: f = 3


def test_a_tie_keeps_the_wider_range(tmp_path):
    """These pixels at 2 bits: f 1 and f 2 give the same squared error; f 1 clips less."""
    make = net_maker(tmp_path, np.tile(np.array([[168, 113], [38, 238]], np.uint8), (BATCH, 1, 1)))
    got = calibrate(make, QS[:1], 2, 1)["data_q"]
    x = np.array([168, 113, 38, 238], np.float32) / 256
    assert fp.squared_error(x, 2, 1, False) == fp.squared_error(x, 2, 2, False)
    assert (got.f, got.squared_error) == (1, 4 * fp.squared_error(x, 2, 1, False))


def test_the_rule_is_mse_unless_told(make):
    assert calibrate(make, QS, 4, 3) == calibrate(make, QS, 4, 3, "mse")


@pytest.mark.parametrize("blob, message", [
    ("zeros", "calibration: blob 'zeros' (quantizer 'zeros_q') is 0 on every element of 3 batches: "
              "no fixed-point step can be chosen for it"),
    ("nan", "calibration: blob 'nan' (quantizer 'nan_q') holds NaN or Inf values: the float model does not "
            "give finite activations"),
    ("tiny", "calibration: blob 'tiny': largest magnitude 7.8125e-39: f must be an integer in -100..100, got 134"),
])
def test_a_blob_without_a_usable_value_is_named(make, blob, message):
    with pytest.raises(InqError) as e:
        calibrate(make, [QS[0], Quantizer(f"{blob}_q", blob)], 8, 3, "max")
    assert str(e.value) == message


def test_refusals_before_any_net_is_made(make):
    with pytest.raises(ValueError) as e:
        calibrate(make, QS, 8, 3, "median")
    assert str(e.value) == "unknown calibration rule 'median': use one of mse, max"
    with pytest.raises(ValueError) as e:
        calibrate(make, QS, 17, 3)
    assert str(e.value) == "activation bits must be an integer in 2..16, got 17"
    assert make.calls == 0


def test_a_calibration_cannot_change_afterwards():
    c = Calibrated(8, 3, False, 1.0)
    assert c.squared_error is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.f = 4
