"""Pooling, fully connected, residual add and the POU, against direct definitions."""

import numpy as np
import pytest

from isosceles.golden import dense_conv2d, isos_streams
from isosceles.golden.layers import (
    avg_pool,
    avg_pool_as_conv,
    fully_connected,
    global_avg_pool,
    max_pool,
    residual_add,
    residual_add_streams,
)
from isosceles.golden.numerics import Numerics
from isosceles.golden.pou import PouParams, pou_dense, pou_stream

SEED = 11


def rng():
    return np.random.default_rng(SEED)


def test_fully_connected_equals_matmul_and_saturates():
    g = rng()
    x = g.integers(-128, 128, 50) * (g.random(50) < 0.4)
    w = g.integers(-8, 8, (50, 7))
    assert np.array_equal(fully_connected(x, w, numerics=Numerics(acc_bits=32)), x @ w)
    big = fully_connected(np.full(40, 127), np.full((40, 2), 127))
    assert big.tolist() == [32767, 32767]


def test_max_and_avg_pool():
    i = rng().integers(-128, 128, (6, 6, 3))
    assert np.array_equal(max_pool(i, size=2), i.reshape(3, 2, 3, 2, 3).max(axis=(1, 3)))
    sums = i.reshape(3, 2, 3, 2, 3).sum(axis=(1, 3))
    assert np.array_equal(avg_pool(i, size=2), np.floor(sums / 4 + 0.5).astype(int))
    assert max_pool(i, size=3, stride=2, padding=1).shape == (3, 3, 3)
    assert np.array_equal(global_avg_pool(i), np.floor(i.sum(axis=(0, 1)) / 36 + 0.5))


def test_avg_pool_rounds_half_up():
    i = np.array([[[1], [2]], [[0], [-1]]])  # sum 2 over 4 -> 0.5 -> 1; -2/4 -> -0.5 -> 0
    assert avg_pool(i, size=2).item() == 1
    assert avg_pool(-i, size=2).item() == 0


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 7])
def test_avg_pool_as_conv_is_exact(size):
    """The depthwise convolution of unit weights and its POU give avg_pool's output, on random
    inputs and on the extremes (every window sum the POU can see is checked by the search)."""
    C = 4
    ones, pou = avg_pool_as_conv(C, size=size)
    assert ones.shape == (1, size, C, size) and (ones == 1).all() and not pou.relu
    for i in (rng().integers(-128, 128, (9, 9, C)), np.full((9, 9, C), -128),
              np.full((9, 9, C), 127)):
        for stride, padding in ((1, 0), (2, 1), (size, 0)):
            acc = dense_conv2d(i, ones, stride=stride, padding=padding, groups=C)
            assert np.array_equal(pou_dense(acc, pou),
                                  avg_pool(i, size=size, stride=stride, padding=padding))


def test_avg_pool_as_conv_refuses_what_the_pou_cannot_divide():
    # 36 is even and not a power of two: the ties of -18 and +18 round opposite ways.
    with pytest.raises(ValueError, match="divides by a 6x6 window's area exactly"):
        avg_pool_as_conv(2, size=6)
    # 49 window sums of 127 reach 6223, beyond 12-bit accumulators.
    with pytest.raises(ValueError, match="beyond acc_bits = 12"):
        avg_pool_as_conv(2, size=7, numerics=Numerics(act_bits=8, weight_bits=2, acc_bits=12))


def test_residual_add_streams_equal_dense():
    g = rng()
    a = g.integers(-100, 100, (1, 6, 4)) * (g.random((1, 6, 4)) < 0.5)
    b = g.integers(-100, 100, (1, 6, 4)) * (g.random((1, 6, 4)) < 0.5)
    b[0, 0, :] = -a[0, 0, :]  # cancellation drops to zero
    identity = np.eye(4, dtype=np.int64)[:, None, :, None]  # a 1x1 conv that passes I through
    stream_a = isos_streams(a, identity).inputs[0]
    stream_b = isos_streams(b, identity).inputs[0]
    merged = residual_add_streams(stream_a, stream_b)
    expected = isos_streams(residual_add(a, b), identity).inputs[0]
    assert merged == expected


def test_pou_stream_matches_dense_with_fill_channels():
    g = rng()
    acc = g.integers(-3000, 3000, (1, 5, 6)) * (g.random((1, 5, 6)) < 0.4)
    params = PouParams.make(bias=[0, 900, -50, 0, 2000, 10], mult=[3, 1, 7, 255, 1, 0],
                            shift=[2, 3, 0, 8, 4, 1], relu=False)
    stream = []
    for q in range(5):
        stream += [{"q": q, "k": k, "value": int(acc[0, q, k]), "marker": 0, "last": 0}
                   for k in np.flatnonzero(acc[0, q])]
        stream.append({"q": q, "k": 0, "value": 0, "marker": 1, "last": int(q == 4)})
    out = pou_stream(stream, params)
    dense = np.zeros((5, 6), dtype=np.int64)
    for t in out:
        if not t["marker"]:
            dense[t["q"], t["k"]] = t["value"]
    assert np.array_equal(dense, pou_dense(acc, params)[0])
    assert any(t["k"] == 4 for t in out)  # channel 4 is a fill channel (bias 2000)


def test_pou_params_validated():
    with pytest.raises(ValueError, match="mult values must be in 0..65535"):
        PouParams.make(bias=[0], mult=[-1], shift=[0])
    with pytest.raises(ValueError, match="same length K"):
        PouParams.make(bias=[0, 1], mult=[1], shift=[0])


@pytest.mark.parametrize("call, match", [
    (lambda: max_pool(np.zeros((2, 2, 1), int), size=0), "size must be"),
    (lambda: avg_pool(np.zeros((2, 2, 1), int), size=2, stride=0), "stride must be"),
    (lambda: fully_connected(np.zeros(3, int), np.zeros((4, 2), int)), "w must have shape"),
    (lambda: residual_add(np.zeros((1, 2, 1), int), np.zeros((1, 3, 1), int)), "b must have"),
    (lambda: fully_connected(np.zeros(3), np.zeros((3, 2), int)), "x must be an integer"),
])
def test_bad_input_named(call, match):
    with pytest.raises(ValueError, match=match):
        call()
