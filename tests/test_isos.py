"""The IS-OS model equals the dense reference, and its streams keep the token contract."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from isosceles.golden import conv2d, dense_conv2d, isos_streams
from isosceles.golden.isos import max_pool_operands, merge_substreams
from isosceles.golden.layers import max_pool
from isosceles.golden.numerics import Numerics, saturate
from isosceles.golden.pou import pou_dense

WIDE = Numerics(acc_bits=32)  # no partial sum of these layers saturates at 32 bits


@st.composite
def sparse_layers(draw):
    """A random layer: shapes, stride, padding, groups, densities 0..1 per tensor, with whole
    rows, columns and channels zeroed at random."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    depthwise = draw(st.booleans()) and groups > 1
    cg = 1 if depthwise else draw(st.integers(1, 3))
    kg = 1 if depthwise else draw(st.integers(1, 3))
    R, S = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    stride = draw(st.integers(1, 3))
    ph, pw = draw(st.integers(0, 3)), draw(st.integers(0, 3))
    H = draw(st.integers(max(1, R - 2 * ph), 9))
    W = draw(st.integers(max(1, S - 2 * pw), 9))
    i = rng.integers(-128, 128, (H, W, cg * groups))
    i *= rng.random(i.shape) < draw(st.sampled_from([0.0, 0.1, 0.5, 1.0, rng.random()]))
    for axis in range(3):
        index = [slice(None)] * 3
        index[axis] = rng.integers(0, i.shape[axis])
        if rng.random() < 0.3:
            i[tuple(index)] = 0
    f = rng.integers(-128, 128, (cg, R, kg * groups, S))
    f *= rng.random(f.shape) < draw(st.sampled_from([0.0, 0.2, 0.7, 1.0, rng.random()]))
    return i, f, stride, (ph, pw), groups


@settings(max_examples=600, deadline=None, derandomize=True)
@given(sparse_layers())
def test_isos_equals_dense_reference(layer):
    i, f, stride, padding, groups = layer
    got = conv2d(i, f, stride=stride, padding=padding, groups=groups, numerics=WIDE)
    assert np.array_equal(got, dense_conv2d(i, f, stride=stride, padding=padding, groups=groups))


def check_lane_stream(stream, column, columns, order):
    """One marker per column in order, last on the final; data sorted by ``order`` within it."""
    markers = [t[column] for t in stream if t["marker"]]
    assert markers == list(range(columns))
    assert [t["last"] for t in stream if t["marker"]] == [0] * (columns - 1) + [1]
    data = [t for t in stream if not t["marker"]]
    assert all(t["value"] != 0 and t["last"] == 0 for t in data)
    keys = [tuple(t[name] for name in order) for t in data]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    # Every data token precedes the marker of its column.
    seen = -1
    for t in stream:
        if t["marker"]:
            seen = t[column]
        else:
            assert t[column] == seen + 1


@settings(max_examples=120, deadline=None, derandomize=True)
@given(sparse_layers(), st.booleans())
def test_streams_keep_the_token_contract(layer, maximum):
    i, f, stride, padding, groups = layer
    s = isos_streams(i, f, stride=stride, padding=padding, groups=groups, numerics=WIDE,
                     maximum=maximum)
    g = s.geometry
    for h in range(g.H):
        check_lane_stream(s.inputs[h], "w", g.W, ("w", "c"))
        check_lane_stream(s.t1[h], "q", g.Q, ("q", "r", "k"))
        assert s.watermarks[h] == [{"q": q, "last": int(q == g.Q - 1)} for q in range(g.Q)]
        # The fiber split of T1 is exactly the lane stream's data.
        from_lane = sorted((t["r"], t["k"], t["q"], t["value"]) for t in s.t1[h] if not t["marker"])
        from_fibers = sorted((r, k, t["q"], t["value"]) for (hh, r, k), fiber in s.t1_fibers.items()
                             if hh == h for t in fiber)
        assert from_lane == from_fibers
    for fiber in list(s.t1_fibers.values()) + list(s.t2_fibers.values()):
        qs = [t["q"] for t in fiber]
        assert qs == sorted(set(qs)) and all(t["value"] for t in fiber)
    for c, fiber in enumerate(s.filter_fibers):
        keys = [(t["r"], t["k"], t["s"]) for t in fiber]
        assert keys == sorted(keys)
        assert all(t["k"] // g.kernels_per_group == c // g.channels_per_group for t in fiber)
    for p in range(g.P):
        check_lane_stream(s.kmerger_out[p], "q", g.Q, ("q", "k"))
    for (h, r), stream in s.substreams.items():
        check_lane_stream(stream, "q", g.Q, ("q", "k"))
        assert [t for t in stream if not t["marker"]] == [
            {name: t[name] for name in ("q", "k", "value", "marker", "last")}
            for t in s.t1[h] if not t["marker"] and t["r"] == r]


@settings(max_examples=300, deadline=None, derandomize=True)
@given(sparse_layers(), st.sampled_from([15, 16, 32]), st.booleans())
def test_substream_merge_equals_rmerge_then_kmerge(layer, acc_bits, maximum):
    """The block's backend (one (q, k) merge of the R substreams of a row) computes exactly
    what the paper's K R-mergers and K-merger compute, saturation included, reduced by the sum
    or by the maximum."""
    i, f, stride, padding, groups = layer
    numerics = Numerics(acc_bits=acc_bits)
    s = isos_streams(i, f, stride=stride, padding=padding, groups=groups, numerics=numerics,
                     maximum=maximum)
    g = s.geometry
    for p in range(g.P):
        sources = [s.substreams[(p * g.stride + r - g.ph, r)] for r in range(g.R)
                   if (p * g.stride + r - g.ph, r) in s.substreams]
        assert merge_substreams(sources, columns=g.Q, acc_bits=acc_bits,
                                maximum=maximum) == s.kmerger_out[p]


def dense_max_products(i, f, stride, padding, groups):
    """``max(0, max of I[h, w, c] * F[c % Cg, r, k, s] over each output's window)``, dense."""
    (ph, pw), (H, W, _), (Cg, R, K, S) = padding, i.shape, f.shape
    padded = np.pad(i, ((ph, ph), (pw, pw), (0, 0)))
    P, Q = (H + 2 * ph - R) // stride + 1, (W + 2 * pw - S) // stride + 1
    out = np.zeros((P, Q, K), dtype=np.int64)
    Kg = K // groups
    for p, q, k in np.ndindex(P, Q, K):
        channels = slice(k // Kg * Cg, (k // Kg + 1) * Cg)
        window = padded[p * stride:p * stride + R, q * stride:q * stride + S, channels]
        products = window * f[:, :, k, :].transpose(1, 2, 0)  # [R, S, Cg]
        out[p, q, k] = max(0, products.max(initial=0))
    return out


@settings(max_examples=200, deadline=None, derandomize=True)
@given(sparse_layers())
def test_max_reduction_equals_the_dense_maximum_of_the_products(layer):
    """Reduced by the maximum, the IS-OS nests compute, for any weights and signs, the
    maximum of zero and of the products in each output's window (an absent value is zero)."""
    i, f, stride, padding, groups = layer
    s = isos_streams(i, f, stride=stride, padding=padding, groups=groups, numerics=WIDE,
                     maximum=True)
    assert np.array_equal(s.accumulations, dense_max_products(i, f, stride, padding, groups))


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.integers(0, 2**32 - 1), st.integers(1, 5), st.integers(1, 3), st.booleans())
def test_max_pool_is_a_depthwise_convolution_of_ones_reduced_by_the_maximum(
        seed, size, stride, nonnegative):
    """With unit weights and the identity POU, the maximum-reduced nests equal
    ``layers.max_pool`` on an input with no negative value, and ``max(0, max_pool)`` on any."""
    rng = np.random.default_rng(seed)
    padding = int(rng.integers(0, size))
    H, W = (int(rng.integers(max(1, size - 2 * padding), 9)) for _ in range(2))
    C = int(rng.integers(1, 5))
    i = rng.integers(0 if nonnegative else -128, 128, (H, W, C))
    i *= rng.random(i.shape) < rng.choice([0.0, 0.3, 1.0, rng.random()])
    f, pou = max_pool_operands(C, size, size)
    s = isos_streams(i, f, stride=stride, padding=padding, groups=C, pou=pou, maximum=True)
    pooled = max_pool(i, size=size, stride=stride, padding=padding)
    got = pou_dense(s.accumulations, pou)
    assert np.array_equal(got, pooled if nonnegative else np.maximum(pooled, 0))


def test_saturation_follows_the_declared_order():
    """A per-step saturating scalar loop in (w, c) order, then an exact R-sum saturated once."""
    rng = np.random.default_rng(7)
    numerics = Numerics(acc_bits=15)
    i = rng.integers(64, 128, (4, 5, 6)) * rng.choice([-1, 1], (4, 5, 6))
    f = rng.integers(64, 128, (6, 3, 2, 3)) * rng.choice([-1, 1], (6, 3, 2, 3))
    got = conv2d(i, f, padding=1, numerics=numerics)
    H, W, C = i.shape
    _, R, K, S = f.shape
    expected = np.zeros_like(got)
    for p in range(H):
        for q in range(W):
            for k in range(K):
                total = 0
                for r in range(R):
                    acc = 0
                    for w in range(W):
                        for c in range(C):
                            h, s = p + r - 1, w - q + 1
                            if 0 <= h < H and 0 <= s < S:
                                acc = saturate(acc + int(i[h, w, c] * f[c, r, k, s]), 15)
                    total += acc
                expected[p, q, k] = saturate(total, 15)
    assert np.array_equal(got, expected)
    assert (np.abs(got) == 2**14).any() or (got == -(2**14)).any()  # it did saturate


@pytest.mark.parametrize("shape", [(1, 1, 1), (1, 1, 4), (3, 3, 2)])
def test_edge_shapes(shape):
    i = np.ones(shape, dtype=np.int64)
    f = np.ones((shape[2], 1, 1, 1), dtype=np.int64)  # K = 1
    assert np.array_equal(conv2d(i, f), i.sum(axis=2, keepdims=True))
    assert np.array_equal(conv2d(np.zeros_like(i), f), np.zeros(shape[:2] + (1,)))


def test_all_zero_input_still_sends_markers():
    s = isos_streams(np.zeros((2, 3, 2), dtype=np.int8), np.ones((2, 1, 2, 1), dtype=np.int8))
    assert all(len(stream) == 3 and all(t["marker"] for t in stream) for stream in s.t1)
    assert s.t2_fibers[(0, 0)] == []


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(i=np.zeros((2, 2)), f=np.zeros((1, 1, 1, 1), int)), "i must be an integer array"),
        (dict(i=np.zeros((2, 2, 1)), f=np.zeros((1, 1, 1, 1), int)), "i must be an integer array"),
        (dict(i=np.full((2, 2, 1), 200), f=np.zeros((1, 1, 1, 1), int)), "i values must fit"),
        (dict(i=np.zeros((2, 2, 2), int), f=np.zeros((1, 1, 1, 1), int)), "f must have shape"),
        (dict(i=np.zeros((2, 2, 1), int), f=np.zeros((1, 1, 1, 1), int), stride=-1),
         "stride must be an integer >= 1"),
        (dict(i=np.zeros((2, 2, 1), int), f=np.zeros((1, 1, 1, 1), int), padding=-1),
         "padding must be"),
        (dict(i=np.zeros((2, 2, 2), int), f=np.zeros((1, 1, 3, 1), int), groups=2),
         "groups=2 must divide"),
        (dict(i=np.zeros((2, 2, 1), int), f=np.zeros((1, 3, 1, 3), int)), "smaller than"),
        (dict(i=np.zeros((9, 9, 1), int), f=np.zeros((1, 8, 1, 8), int)), "R and width S"),
    ],
)
def test_bad_input_names_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        conv2d(**kwargs)
