"""The IS-OS dataflow as the paper's two loop nests, yielding the tokens of every interface.

The frontend runs one lane per input row ``h`` (input-stationary): for each input nonzero it walks
the filter fiber of its channel and accumulates into partial sums, which it retires by the PE
retire rule. The backend runs per output row ``p`` (output-stationary): an R-merger per ``(p, k)``
and a K-merger per ``p`` - the two transposes, done as merges. Token formats, orders and markers
are those of ``docs/dataflow.md``; integer semantics are those of :mod:`numerics`.

A max pooling runs through the same nests as a depthwise convolution with unit weights whose
reduction is the maximum (``maximum=True``): a partial sum starts at zero and takes
``max(partial, product)`` instead of adding it, and a merge takes the maximum of its sources'
values and zero (an absent value is zero), so the result is ``max(0, max_pool(i))``
(:func:`max_pool_operands`).
"""

import heapq
from dataclasses import dataclass

import numpy as np

from isosceles.golden.checks import check_conv_arguments, check_tensor
from isosceles.golden.numerics import DEFAULT_NUMERICS, saturate
from isosceles.golden.pou import PouParams, pou_stream

__all__ = ["IsosStreams", "isos_streams", "conv2d", "merge_substreams", "filter_fibers",
           "max_pool_operands", "check_max_pool_input"]


@dataclass
class IsosStreams:
    """Every token stream of one convolution through the IS-OS block (see docs/dataflow.md)."""

    geometry: object
    inputs: list            # [h] lane stream I
    filter_fibers: list     # [c] filter fiber of input channel c
    t1: list                # [h] lane stream T1
    t1_fibers: dict         # (h, r, k) -> fiber
    substreams: dict        # (h, r) -> lane stream of lane h's T1 for filter row r
    watermarks: list        # [h] watermark stream of lane h
    t2_fibers: dict         # (p, k) -> fiber
    kmerger_out: list       # [p] lane stream of the K-merger
    outputs: list           # [p] lane stream O after the POU (None without POU parameters)
    accumulations: np.ndarray  # [P, Q, K] int64, before the POU
    peak_partial_sums: list    # [h] most partial sums live at once in lane h's context
    maximum: bool = False      # the reduction is the maximum (a max pooling), not the sum


def _lane_stream(dense_row, column_field, channel_field):
    """Lane stream of one row [columns, channels]: nonzeros in (column, channel) order, a marker
    after every column, ``last`` on the final one."""
    tokens = []
    columns = dense_row.shape[0]
    for x in range(columns):
        for ch in np.flatnonzero(dense_row[x]):
            tokens.append({column_field: x, channel_field: int(ch),
                           "value": int(dense_row[x, ch]), "marker": 0, "last": 0})
        tokens.append({column_field: x, channel_field: 0, "value": 0, "marker": 1,
                       "last": int(x == columns - 1)})
    return tokens


def filter_fibers(f, groups=1):
    """Fiber of each input channel of filters ``f`` [C/groups, R, K, S]: its nonzero weights
    ``{r, k, s, value}`` in (r, k, s) order, with global ``k`` restricted to the channel's group.

    This order is the one the filter buffer and the memory image store.
    """
    f = np.asarray(f)
    cg, kg = f.shape[0], f.shape[2] // groups
    fibers = []
    for c in range(cg * groups):
        group = c // cg
        weights = f[c % cg, :, group * kg:(group + 1) * kg, :]  # [R, Kg, S]
        fibers.append([
            {"r": int(r), "k": int(group * kg + k), "s": int(s), "value": int(weights[r, k, s])}
            for r, k, s in zip(*np.nonzero(weights), strict=True)
        ])
    return fibers


def _reduce(maximum):
    """The reduction of partial sums: the sum, or with ``maximum`` the maximum (never below the
    zero an absent value stands for)."""
    if maximum:
        return lambda values: max(0, *values)
    return sum


def _frontend_lane(h, stream, fibers, g, numerics, maximum=False):
    """One PE lane: accumulate in stream order (with ``maximum``, keep the largest product),
    retire columns by the retire rule.

    Returns the T1 lane stream and the peak number of live partial sums.
    """
    u, acc_bits = g.stride, numerics.acc_bits
    valid_r = {r: (h + g.ph - r) // u for r in range(g.R)
               if (h + g.ph - r) % u == 0 and 0 <= (h + g.ph - r) // u < g.P}
    partial = {}  # (q, r, k) -> saturating partial sum
    peak, next_q, t1 = 0, 0, []
    for token in stream:
        if not token["marker"]:
            w, value = token["w"], token["value"]
            for weight in fibers[token["c"]]:
                r, s = weight["r"], weight["s"]
                x = w + g.pw - s
                if r not in valid_r or x % u or not 0 <= x // u < g.Q:
                    continue
                key = (x // u, r, weight["k"])
                old, product = partial.get(key, 0), value * weight["value"]
                partial[key] = saturate(max(old, product) if maximum else old + product,
                                        acc_bits)
            peak = max(peak, len(partial))
            continue
        # Column q is final once the input has passed column q*u + S - 1 - pw.
        limit = g.Q - 1 if token["last"] else (token["w"] - g.S + 1 + g.pw) // u
        while next_q <= min(limit, g.Q - 1):
            for key in sorted(key for key in partial if key[0] == next_q):
                value = partial.pop(key)
                if value:
                    t1.append({"q": next_q, "r": key[1], "k": key[2], "value": value,
                               "marker": 0, "last": 0})
            t1.append({"q": next_q, "r": 0, "k": 0, "value": 0, "marker": 1,
                       "last": int(next_q == g.Q - 1)})
            next_q += 1
    return t1, peak


def _r_merge(fibers, acc_bits, maximum=False):
    """Merge R sorted fibers by ``q``, reduce equal coordinates exactly (:func:`_reduce`),
    saturate once, drop zeros."""
    merged = []
    for token in heapq.merge(*fibers, key=lambda token: token["q"]):
        if merged and merged[-1]["q"] == token["q"]:
            merged[-1]["values"].append(token["value"])
        else:
            merged.append({"q": token["q"], "values": [token["value"]]})
    reduce_ = _reduce(maximum)
    merged = [{"q": t["q"], "value": int(saturate(reduce_(t["values"]), acc_bits))}
              for t in merged]
    return [token for token in merged if token["value"]]


def _substream(t1, r):
    """The tokens of one filter row ``r`` of a T1 lane stream, with every column marker: a lane
    stream in ``(q, k)`` order, since the lane retires in ``(q, r, k)`` order."""
    return [{"q": t["q"], "k": t["k"], "value": t["value"], "marker": t["marker"],
             "last": t["last"]} for t in t1 if t["marker"] or t["r"] == r]


def merge_substreams(substreams, *, columns, acc_bits, maximum=False):
    """The backend of one output row: merge its T1 substreams (one per input row that is not
    padding) on ``(q, k)``, reduce equal coordinates exactly (add them, or with ``maximum`` take
    their maximum and zero) and saturate once, drop zeros; a
    column's marker leaves once every source has reached it, and a row with no source (all
    padding) is its ``columns`` markers. Equals the R-mergers followed by the K-merger
    (``kmerger_out``)."""
    if not substreams:
        return _k_merge([], columns)
    keyed = [[((t["q"], t["marker"], t["k"]), t) for t in stream] for stream in substreams]
    stream = []
    for (q, marker, k), group in _grouped(heapq.merge(*keyed, key=lambda pair: pair[0])):
        if marker:
            stream.append({"q": q, "k": 0, "value": 0, "marker": 1, "last": group[0]["last"]})
            continue
        value = saturate(_reduce(maximum)([t["value"] for t in group]), acc_bits)
        if value:
            stream.append({"q": q, "k": k, "value": value, "marker": 0, "last": 0})
    return stream


def _grouped(pairs):
    """``(key, [tokens])`` for each run of equal keys in a sorted sequence of pairs."""
    group, current = [], None
    for key, token in pairs:
        if group and key != current:
            yield current, group
            group = []
        current = key
        group.append(token)
    if group:
        yield current, group


def _k_merge(fibers, Q):
    """Merge the K fibers of one output row into (q, k) order with a marker after every column."""
    keyed = [[(token["q"], k, token["value"]) for token in fiber] for k, fiber in enumerate(fibers)]
    merged = heapq.merge(*keyed)
    stream, pending = [], next(merged, None)
    for q in range(Q):
        while pending is not None and pending[0] == q:
            stream.append({"q": q, "k": pending[1], "value": pending[2], "marker": 0, "last": 0})
            pending = next(merged, None)
        stream.append({"q": q, "k": 0, "value": 0, "marker": 1, "last": int(q == Q - 1)})
    return stream


def isos_streams(i, f, *, stride=1, padding=0, groups=1, numerics=DEFAULT_NUMERICS, pou=None,
                 maximum=False):
    """Run one convolution through the IS-OS dataflow and return every interface's tokens.

    Parameters
    ----------
    i : integer array [H, W, C]
        Input activations, ``numerics.act_bits`` signed.
    f : integer array [C/groups, R, K, S]
        Filters, ``numerics.weight_bits`` signed.
    stride : int
    padding : int or (ph, pw)
    groups : int
    numerics : Numerics
    pou : PouParams, optional
        When given, ``outputs`` holds the O streams after the POU.
    maximum : bool
        Reduce by the maximum instead of the sum (a max pooling, :func:`max_pool_operands`).
    """
    i = check_tensor("i", i, ndim=3, bits=numerics.act_bits, form="[H, W, C]")
    f = check_tensor("f", f, ndim=4, bits=numerics.weight_bits, form="[C/groups, R, K, S]")
    g = check_conv_arguments(i.shape, f.shape, stride, padding, groups)

    # Frontend: one input-stationary lane per input row.
    inputs = [_lane_stream(i[h], "w", "c") for h in range(g.H)]
    fibers = filter_fibers(f, g.groups)
    t1, peaks = zip(*(_frontend_lane(h, inputs[h], fibers, g, numerics, maximum)
                      for h in range(g.H)), strict=True) if g.H else ((), ())
    watermarks = [[{"q": q, "last": int(q == g.Q - 1)} for q in range(g.Q)] for _ in range(g.H)]
    t1_fibers, substreams = {}, {}
    for h in range(g.H):
        for r in range(g.R):
            if (h + g.ph - r) % g.stride == 0 and 0 <= (h + g.ph - r) // g.stride < g.P:
                substreams[(h, r)] = _substream(t1[h], r)
                for k in range(g.K):
                    t1_fibers[(h, r, k)] = []
        for token in t1[h]:
            if not token["marker"]:
                t1_fibers[(h, token["r"], token["k"])].append(
                    {"q": token["q"], "value": token["value"]})

    # Backend: one output-stationary row per output row; R-mergers then the K-merger.
    t2_fibers, kmerger_out = {}, []
    accumulations = np.zeros((g.P, g.Q, g.K), dtype=np.int64)
    for p in range(g.P):
        for k in range(g.K):
            sources = [t1_fibers.get((p * g.stride + r - g.ph, r, k), []) for r in range(g.R)]
            t2_fibers[(p, k)] = _r_merge(sources, numerics.acc_bits, maximum)
            for token in t2_fibers[(p, k)]:
                accumulations[p, token["q"], k] = token["value"]
        kmerger_out.append(_k_merge([t2_fibers[(p, k)] for k in range(g.K)], g.Q))
    outputs = None
    if pou is not None:
        outputs = [pou_stream(stream, pou, numerics=numerics) for stream in kmerger_out]
    return IsosStreams(g, inputs, fibers, list(t1), t1_fibers, substreams, watermarks, t2_fibers,
                       kmerger_out, outputs, accumulations, list(peaks), bool(maximum))


def max_pool_operands(channels, R, S, numerics=DEFAULT_NUMERICS):
    """The filters and POU parameters that make a max pooling of ``channels`` channels over
    ``R`` x ``S`` windows a depthwise convolution reduced by the maximum (``maximum=True``):
    unit weights ``[1, R, channels, S]`` (``groups = channels``) and the identity POU (bias 0,
    mult 1, shift 0, no ReLU). On an input with no negative value the result equals
    :func:`~isosceles.golden.layers.max_pool` with the same stride and padding."""
    f = np.ones((1, R, channels, S), dtype=np.int64)
    zeros = np.zeros(channels, dtype=np.int64)
    return f, PouParams.make(zeros, zeros + 1, zeros, relu=False, numerics=numerics)


def conv2d(i, f, *, stride=1, padding=0, groups=1, numerics=DEFAULT_NUMERICS):
    """The integer accumulations [P, Q, K] the hardware computes, before the POU.

    ``i`` is [H, W, C], ``f`` is [C/groups, R, K, S]. Partial sums saturate to
    ``numerics.acc_bits`` as :mod:`isosceles.golden.numerics` declares; below saturation the
    result is the exact convolution.
    """
    return isos_streams(i, f, stride=stride, padding=padding, groups=groups,
                        numerics=numerics).accumulations


def check_max_pool_input(i, where):
    """ValueError ``"{where}: ..."`` naming the first negative value of a max pooling's input
    ``i`` [H, W, C]: reduced by the maximum from zero, the block would return
    ``max(0, max_pool(i))`` for it, not ``max_pool(i)``."""
    negative = np.argwhere(np.asarray(i) < 0)
    if len(negative):
        h, w, c = (int(x) for x in negative[0])
        raise ValueError(f"{where}: a max pooling's input must have no negative value, and it "
                         f"has {int(i[h, w, c])} at [h={h}, w={w}, c={c}] (the block counts an "
                         "absent activation as zero): put a ReLU before it")
