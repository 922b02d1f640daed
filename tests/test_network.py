"""A small residual network runs bit-exactly and accounts its compulsory off-chip bytes."""

import numpy as np
import pytest

from isosceles.golden import conv2d, dense_conv2d
from isosceles.golden.csf import csf_encode
from isosceles.golden.network import (
    Add,
    Conv,
    FullyConnected,
    GlobalAvgPool,
    Network,
    Pool,
    conv_accumulations,
)
from isosceles.golden.numerics import requantize, saturate
from isosceles.golden.pou import PouParams

SEED = 3


def small_resnet():
    rng = np.random.default_rng(SEED)

    def weights(shape, density):
        return rng.integers(-20, 21, shape) * (rng.random(shape) < density)

    def pou(k):
        return PouParams.make(bias=rng.integers(-50, 50, k), mult=rng.integers(1, 64, k),
                              shift=np.full(k, 8), relu=True)

    return Network((
        Conv("conv1", weights((3, 3, 8, 3), 0.8), pou(8), padding=1),
        Conv("conv2", weights((8, 3, 8, 3), 0.4), pou(8), padding=1),
        Conv("conv3", weights((8, 1, 8, 1), 0.5), pou(8)),
        Add("add", ("conv1", "conv3")),
        Pool("pool", "max", 2),
        GlobalAvgPool("gap"),
        FullyConnected("fc", weights((8, 5), 0.5), pou(5)),
    ))


def test_run_matches_layer_by_layer_reference():
    net = small_resnet()
    x = np.random.default_rng(SEED).integers(0, 30, (8, 8, 3))
    out = net.run(x)

    def conv(name, source):
        layer = next(layer for layer in net.layers if layer.name == name)
        acc = saturate(dense_conv2d(source, layer.weights, padding=layer.padding), 16)
        p = layer.pou
        return requantize(acc, np.array(p.bias), np.array(p.mult), np.array(p.shift), relu=True)

    c1 = conv("conv1", x)
    c3 = conv("conv3", conv("conv2", c1))
    assert np.array_equal(out["conv1"], c1) and np.array_equal(out["conv3"], c3)
    added = np.clip(c1 + c3, -128, 127)
    assert np.array_equal(out["add"], added)
    pooled = added.reshape(4, 2, 4, 2, 8).max(axis=(1, 3))
    assert np.array_equal(out["pool"], pooled)
    assert out["fc"].shape == (1, 1, 5)


def test_offchip_bytes_are_csf_sizes():
    net = small_resnet()
    x = np.random.default_rng(SEED).integers(0, 30, (8, 8, 3))
    report = {row["layer"]: row for row in net.offchip_bytes(x)}
    out = net.run(x)
    size = csf_encode(out["conv1"], "PQK").nbytes(value_bits=8, coord_bits=16)
    assert report["conv1"]["output_bytes"] == size
    assert report["add"]["input_bytes"] == (
        csf_encode(out["conv1"], "HWC").nbytes(value_bits=8, coord_bits=16)
        + csf_encode(out["conv3"], "HWC").nbytes(value_bits=8, coord_bits=16))
    assert report["conv2"]["weight_bytes"] > 0 and report["pool"]["weight_bytes"] == 0


def test_dangling_input_is_named():
    with pytest.raises(ValueError, match="layer 'add' reads 'nope'"):
        Network((Add("add", ("input", "nope")),))


@pytest.mark.parametrize("magnitude", [3, 127])
def test_conv_accumulations_are_the_isos_models_with_and_without_saturation(magnitude):
    seed = 21
    print(f"seed {seed}")
    rng = np.random.default_rng(seed)
    i = rng.integers(-magnitude, magnitude + 1, (5, 5, 8))
    f = rng.integers(-magnitude, magnitude + 1, (8, 3, 4, 3))
    acc = conv_accumulations(i, f, padding=1)
    assert np.array_equal(acc, conv2d(i, f, padding=1))
    # Products up to 127 * 127, 72 to an output, pass 16 bits: the stream model saturates them
    # and the exact sum differs.
    assert np.array_equal(acc, dense_conv2d(i, f, padding=1)) == (magnitude == 3)
    with pytest.raises(ValueError, match="i"):
        conv_accumulations(i * 100, f)
