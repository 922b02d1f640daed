"""The other layer types of a sparse CNN, with the integer semantics the hardware uses.

* Fully connected: an input-stationary sparse matrix-vector product; each output accumulates
  saturating to ``acc_bits`` in input-channel order, like a PE.
* Max pooling: the maximum over each window; padding positions are excluded.
* Average pooling: the window sum divided by the window area (padding counts as zeros), rounded
  half toward +infinity: ``floor((2 * sum + n) / (2 * n))``. The block runs it as a depthwise
  convolution of unit weights whose POU divides by the area (:func:`avg_pool_as_conv`).
* Global average pooling: average pooling whose window is the whole input.
* Residual add: a merge of two (w, c)-sorted sparse lane streams, adding equal coordinates and
  saturating to ``act_bits``; zeros dropped.
"""

import heapq

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from isosceles.golden.checks import check_tensor
from isosceles.golden.numerics import DEFAULT_NUMERICS, requantize, saturate
from isosceles.golden.pou import PouParams

__all__ = [
    "fully_connected", "max_pool", "avg_pool", "avg_pool_as_conv", "global_avg_pool",
    "residual_add", "residual_add_streams",
]


def fully_connected(x, w, *, numerics=DEFAULT_NUMERICS):
    """Accumulations [K] of input ``x`` [C] times weights ``w`` [C, K], input-stationary."""
    x = check_tensor("x", x, ndim=1, bits=numerics.act_bits, form="[C]")
    w = check_tensor("w", w, ndim=2, bits=numerics.weight_bits, form="[C, K]")
    if w.shape[0] != x.shape[0]:
        raise ValueError(f"w must have shape [C, K] with C={x.shape[0]}, not {list(w.shape)}")
    acc = np.zeros(w.shape[1], dtype=np.int64)
    for c in np.flatnonzero(x):
        acc = saturate(acc + x[c] * w[c], numerics.acc_bits)
    return acc


def _windows(i, size, stride, padding, fill):
    if not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be an integer >= 1, not {size!r}")
    if not isinstance(stride, int) or stride < 1:
        raise ValueError(f"stride must be an integer >= 1, not {stride!r}")
    if not isinstance(padding, int) or padding < 0:
        raise ValueError(f"padding must be an integer >= 0, not {padding!r}")
    padded = np.pad(i, ((padding, padding), (padding, padding), (0, 0)), constant_values=fill)
    if padded.shape[0] < size or padded.shape[1] < size:
        raise ValueError(f"size={size} is larger than the padded input {padded.shape[:2]}")
    return sliding_window_view(padded, (size, size), axis=(0, 1))[::stride, ::stride]


def max_pool(i, *, size, stride=None, padding=0, numerics=DEFAULT_NUMERICS):
    """Max pooling of ``i`` [H, W, C] over ``size`` x ``size`` windows."""
    i = check_tensor("i", i, ndim=3, bits=numerics.act_bits, form="[H, W, C]")
    lowest = np.iinfo(np.int64).min
    return _windows(i, size, size if stride is None else stride, padding, lowest).max(axis=(3, 4))


def avg_pool(i, *, size, stride=None, padding=0, numerics=DEFAULT_NUMERICS):
    """Average pooling of ``i`` [H, W, C], rounded half toward +infinity."""
    i = check_tensor("i", i, ndim=3, bits=numerics.act_bits, form="[H, W, C]")
    total = _windows(i, size, size if stride is None else stride, padding, 0).sum(axis=(3, 4))
    area = size * size
    return (2 * total + area) // (2 * area)


def avg_pool_as_conv(channels, *, size, numerics=DEFAULT_NUMERICS):
    """The unit filters and POU parameters with which a depthwise convolution (``groups =
    channels``, the pool's stride and padding) computes :func:`avg_pool` exactly.

    Returns ``(filters, pou)``: ``filters`` [1, size, channels, size] of ones; ``pou`` the
    :class:`~isosceles.golden.pou.PouParams` (no ReLU) whose ``requantize`` equals ``floor((2 *
    sum + n) / (2 * n))`` for every window sum an ``act_bits`` input can give, ``n = size**2``:
    the first ``shift`` with a ``mult`` near ``2**shift / n`` that is exact on all of them.
    ValueError when the sums would saturate ``acc_bits`` or no parameters are exact.
    """
    area = size * size
    low, high = numerics.act_range
    sums = np.arange(area * low, area * high + 1, dtype=np.int64)
    if sums[0] < numerics.acc_range[0] or sums[-1] > numerics.acc_range[1]:
        raise ValueError(f"a {size}x{size} average pool's sums reach {sums[-1]}, beyond "
                         f"acc_bits = {numerics.acc_bits}; use a smaller window or wider "
                         "accumulators")
    wanted = (2 * sums + area) // (2 * area)
    for shift in range(numerics.shift_range[1] + 1):
        near = (1 << shift) / area
        for mult in sorted({int(np.floor(near)), int(np.ceil(near))}):
            if not 1 <= mult <= numerics.mult_range[1]:
                continue
            if np.array_equal(requantize(sums, 0, mult, shift, relu=False, numerics=numerics),
                              wanted):
                ones = np.ones((1, size, channels, size), dtype=np.int64)
                pou = PouParams.make(np.zeros(channels, dtype=np.int64),
                                     np.full(channels, mult), np.full(channels, shift),
                                     relu=False, numerics=numerics)
                return ones, pou
    raise ValueError(f"no POU multiplier of mult_bits = {numerics.mult_bits} and shift of "
                     f"shift_bits = {numerics.shift_bits} divides by a {size}x{size} window's "
                     f"area exactly; widen them or use another window")


def global_avg_pool(i, *, numerics=DEFAULT_NUMERICS):
    """Average of every channel of ``i`` [H, W, C] over the whole image, as [C]."""
    i = check_tensor("i", i, ndim=3, bits=numerics.act_bits, form="[H, W, C]")
    area = i.shape[0] * i.shape[1]
    if area == 0:
        raise ValueError("i must have at least one row and one column")
    return (2 * i.sum(axis=(0, 1)) + area) // (2 * area)


def residual_add_streams(a, b, *, numerics=DEFAULT_NUMERICS):
    """Merge two I-format lane streams of one row, adding values at equal (w, c).

    Both streams carry one marker per column; the result does too.
    """
    def keyed(stream, source):
        # Markers sort after the data of their column.
        return [((t["w"], 1 if t["marker"] else 0, t["c"]), source, t) for t in stream]

    out = []
    for _, _, token in heapq.merge(keyed(a, 0), keyed(b, 1)):
        if token["marker"]:
            if not (out and out[-1]["marker"] and out[-1]["w"] == token["w"]):
                out.append(dict(token))
        elif out and not out[-1]["marker"] and (out[-1]["w"], out[-1]["c"]) == (
                token["w"], token["c"]):
            out[-1]["value"] += token["value"]
        else:
            out.append(dict(token))
    for token in out:
        token["value"] = saturate(token["value"], numerics.act_bits)
    return [t for t in out if t["marker"] or t["value"]]


def residual_add(a, b, *, numerics=DEFAULT_NUMERICS):
    """Elementwise saturating sum of two activations [H, W, C]."""
    a = check_tensor("a", a, ndim=3, bits=numerics.act_bits, form="[H, W, C]")
    b = check_tensor("b", b, ndim=3, bits=numerics.act_bits, form="[H, W, C]")
    if a.shape != b.shape:
        raise ValueError(f"b must have the shape of a {a.shape}, not {b.shape}")
    return saturate(a + b, numerics.act_bits)
