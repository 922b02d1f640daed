"""Cycles of the IS-OS core's RTL (``hw/core.py``) on one layer, from what each unit does.

The core runs a layer in bands (:mod:`isosceles.golden.bands`): in each band frontend lane
``i`` reads input row ``first_input + i``, and backend lane ``j`` merges the substreams of
lanes ``j*u + r`` into output row ``first_row + j``; halo rows are read and walked again by
the next band. A band ends when its slowest unit ends, so a layer's cycles are the sum over its
bands of each band's critical path through four stages, each followed a column at a time at the
rate the RTL has:

* **walk** (the frontend lane's input side): one cycle per input column marker and, per input
  nonzero of channel ``c``, one cycle per filter-buffer word of the fiber of ``c`` that holds
  the filter rows the lane feeds in the band (at least one): from the first word of its lowest
  row to the last of its highest, in the RTL's bank-aware packing (:func:`fiber_spans`). An
  input column whose
  data touches output column ``q`` waits until column ``q - window`` has been retired (the
  context array keeps ``window`` columns).
* **retire** (the lane's T1 side, one T1 token a cycle): output column ``q`` is retired once the
  marker of input column ``q*u + S - 1 - pw`` has passed the pipeline, one cycle per live
  partial sum (an ``(r, k)`` of a filter row the lane feeds in this band that received a
  product), then the column's marker. While the lane is still walking, a read waits for a
  context bank the walk's updates leave idle: the rate falls to ``1 - busy``, ``busy`` being
  the lane's context accesses per walk cycle over its banks.
* **merge** (the row merger, one output a cycle): one cycle per distinct ``(q, k)`` among its
  sources' live partial sums, plus the column's marker; it cannot finish column ``q`` before its
  last source has retired it.
* **pou** (one token a cycle): one cycle per output channel present or filled (a channel whose
  ``requantize(0)`` is nonzero is emitted even when absent), plus the column's marker; the
  fill channels above a column's last merged channel wait for its marker.

Counts are exact, taken from the layer's tensors: the model is a prediction for one
configuration and one drawn layer, not an expectation over densities. The constants below are
pipeline depths, set once and checked against the RTL's measured cycles (the calibration in
``docs/architecture.md``); nothing is fitted per layer.

Not modelled: stalls on the core's inputs and outputs (its bench streams without them), the
lane's output FIFO and the fan-out's queues filling (one column per substream), and partial
sums that cancel to zero (they cost their retire cycle but leave no token).
"""

import math
from dataclasses import dataclass

import numpy as np

from isosceles.gen.config import IsoscelesConfig
from isosceles.golden.bands import bands
from isosceles.golden.checks import check_conv_arguments
from isosceles.golden.numerics import requantize

__all__ = ["BandCycles", "context_banks", "context_window", "fiber_spans", "fill_channels",
           "layer_band_cycles", "predict_conv_cycles", "span_words"]

# Cycles from the band's start to the first input a lane walks: the start pulse, the row-start
# division (one quotient bit a cycle), the cycle that loads the first column and the input's
# pointer lookup.
BAND_SETUP = 5
# An input marker to the retirement of the columns it completes: the word queue, decode, update
# and write-back registers.
RETIRE_LATENCY = 4
# A retired T1 token to the row merger's output: the lane's FIFO, the fan-out's queue, the
# register slice before the merger, the merger's output register.
MERGE_LATENCY = 4
# A merged token through the register slice before the POU and the POU's six stages to its
# output register, then the final marker's transfer and the core's busy flag (an empty band:
# 20 cycles end to end measured with the four-stage POU, 22 with the six-stage one; the slice
# before the merger is in MERGE_LATENCY).
POU_LATENCY = 10


def context_banks(macs_per_pe):
    """Banks of the lane's context array: twice the least power of two at least
    ``macs_per_pe``, at most 64 (``hw/pe.py``)."""
    return min(64, 2 * (1 << max(0, macs_per_pe - 1).bit_length()))


def context_window(max_kernel):
    """Output columns of partial sums the lane keeps per ``(r, k)``: the least power of two at
    least ``max_kernel`` and 2."""
    return max(2, 1 << max(0, max_kernel - 1).bit_length())


def fiber_spans(f, groups, *, macs_per_pe, banks):
    """Where the words of each input channel's filter fiber hold each filter row, in the RTL's
    filter buffer.

    First-fit packing of the fiber's nonzero weights in ``(r, k, s)`` order into words of
    ``macs_per_pe`` in which no two weights of different ``(r, k)`` share a context bank
    (``k % banks``), as ``hw/filter_buffer.py`` packs them, and its pointer: per filter row
    ``j``, ``first[j]``, the first word holding a row ``>= j``, and ``last[j]``, one past the last
    word holding a row ``<= j`` (counted from the fiber's first word).

    Returns
    -------
    list of (list of int, list of int)
        ``(first, last)`` per input channel ``c``, ``R`` entries each.
    """
    f = np.asarray(f)
    cg, R, kg = f.shape[0], f.shape[1], f.shape[2] // groups
    spans = []
    for c in range(cg * groups):
        group = c // cg
        fiber = f[c % cg, :, group * kg:(group + 1) * kg, :]
        sizes, claims, rows = [], [], []
        for r, k, _ in zip(*np.nonzero(fiber), strict=True):
            bank, owner = (group * kg + k) % banks, (r, k)
            for n, claim in enumerate(claims):
                if sizes[n] < macs_per_pe and claim.get(bank, owner) == owner:
                    break
            else:
                n = len(sizes)
                sizes.append(0)
                claims.append({})
            sizes[n] += 1
            claims[n][bank] = owner
            rows.append((r, n))
        first, last = [len(sizes)] * R, [0] * R
        for r, n in rows:
            for j in range(R):
                if j <= r:
                    first[j] = min(first[j], n)
                if j >= r:
                    last[j] = max(last[j], n + 1)
        spans.append((first, last))
    return spans


def span_words(span, rows):
    """Words a lane feeding filter ``rows`` walks in a fiber of :func:`fiber_spans`."""
    if not rows:
        return 0
    first, last = span
    return max(0, last[max(rows)] - first[min(rows)])


def fill_channels(pou, K, numerics):
    """Boolean ``[K]``: the channels the POU emits in every column even when absent (those whose
    ``requantize(0)`` is nonzero), from ``pou`` (``bias``, ``mult``, ``shift``, ``relu``); all
    false without POU parameters."""
    if pou is None:
        return np.zeros(K, dtype=bool)
    zero = requantize(0, np.asarray(pou.bias[:K]), np.asarray(pou.mult[:K]),
                      np.asarray(pou.shift[:K]), relu=pou.relu, numerics=numerics)
    return np.asarray(zero) != 0


def _live(i_row, f, g, rows):
    """Boolean ``[Q, R, K]``: which partial sums ``(q, r, k)`` of filter rows ``rows`` receive
    a product from input row ``i_row`` [W, C]."""
    u, cg, kg = g.stride, g.channels_per_group, g.kernels_per_group
    padded = np.zeros((g.pw + max(g.W, (g.Q - 1) * u + g.S) + g.S, g.C), dtype=np.int64)
    padded[g.pw:g.pw + g.W] = i_row != 0
    nz_f = (np.asarray(f) != 0).astype(np.int64)  # [Cg, R, K, S]
    live = np.zeros((g.Q, g.R, g.K), dtype=bool)
    columns = np.arange(g.Q) * u
    for group in range(g.groups):
        ins = padded[:, group * cg:(group + 1) * cg]
        ks = slice(group * kg, (group + 1) * kg)
        for r in rows:
            hits = sum(ins[columns + s] @ nz_f[:, r, ks, s] for s in range(g.S))
            live[:, r, ks] = hits > 0
    return live


def _updates(i_row, f, g, rows):
    """Context-array accesses of input row ``i_row``: per input nonzero, the ``(r, k)`` of
    filter rows ``rows`` that one of its products updates (products of one ``(r, k)`` share
    an access)."""
    nz_f = np.asarray(f) != 0  # [Cg, R, K, S]
    cg, kg = g.channels_per_group, g.kernels_per_group
    total = 0
    for w in range(g.W):
        reach = np.array([(w + g.pw - s) % g.stride == 0
                          and 0 <= (w + g.pw - s) // g.stride < g.Q for s in range(g.S)])
        for c in np.flatnonzero(i_row[w]):
            group = c // cg
            fiber = nz_f[c % cg][rows][:, group * kg:(group + 1) * kg][..., reach]
            total += int(fiber.any(axis=-1).sum())
    return total


@dataclass(frozen=True)
class BandCycles:
    """One band's predicted cycles and what set them."""

    first_row: int
    cycles: int
    walk: int       # the busiest lane's walk cycles (input side)
    retire: int     # the busiest lane's retire cycles (T1 side)
    merge: int      # the busiest row merger's cycles
    pou: int        # the busiest POU's cycles


def _retire_time(entries, start, walk_end, busy):
    """Cycles to retire one column of ``entries`` live partial sums from ``start``: one an
    idle bank allows (a fraction ``1 - busy`` of the cycles until the walk ends at
    ``walk_end``, every cycle after), then the column's marker, a cycle after the last read."""
    if not entries:
        return 1
    during = max(0.0, min(entries, (walk_end - start) * (1 - busy)))
    return during / (1 - busy) + (entries - during) + 2


def _lane(g, live, nz, words, updates, banks, window):
    """The walk and the retirement of one lane in a band, a column at a time (``words[c]``: the
    words of channel ``c``'s fiber the lane walks).

    Returns the cycle each input column is walked by, the cycle each output column is retired
    by, and the busy cycles of the two sides."""
    u, W, Q = g.stride, g.W, g.Q
    cost = [sum(max(1, words[c]) for c in np.flatnonzero(nz[x])) + 1 for x in range(W)]
    entries = [int(live[q].sum()) for q in range(Q)]
    data_cycles = sum(cost) - W
    # At most macs_per_pe / banks (1/2 below 64 MACs a PE); kept below 1 so retirement moves.
    busy = min(0.9, updates / data_cycles / banks) if data_cycles else 0.0
    walked, retired = [0] * W, [0.0] * Q
    t, x = BAND_SETUP, 0
    for q in range(Q):
        # The marker of input column q*u + S - 1 - pw completes output column q.
        trigger = min(W - 1, max(0, q * u + g.S - 1 - g.pw))
        while x <= trigger:
            hold = min(Q - 1, (x + g.pw) // u) - window  # the context keeps `window` columns
            if nz[x].any() and hold >= 0:
                t = max(t, retired[hold])
            t += cost[x]
            walked[x] = t
            x += 1
        start = max(retired[q - 1] if q else 0, walked[trigger] + RETIRE_LATENCY)
        retired[q] = start + _retire_time(entries[q], start, t + sum(cost[x:]), busy)
    for rest in range(x, W):  # columns past the last output's window are still taken
        t += cost[rest]
        walked[rest] = t
    return walked, retired, sum(cost), sum(entries) + Q


def _band(config, g, band, i, f, spans, fills, window):
    """The critical path of one band: every lane, then every row merger and POU."""
    banks = context_banks(config.macs_per_pe)
    walk_end, retire_end, live_of = {}, {}, {}
    busiest = {"walk": 0, "retire": 0, "merge": 0, "pou": 0}
    for lane, h in band.input_rows().items():
        rows = band.filter_rows(lane)
        live = live_of[lane] = _live(i[h], f, g, rows)
        words = [span_words(span, rows) for span in spans]
        walked, retired, walk, retire = _lane(g, live, i[h] != 0, words,
                                              _updates(i[h], f, g, rows), banks, window)
        walk_end[lane], retire_end[lane] = walked[-1], retired
        busiest["walk"] = max(busiest["walk"], walk)
        busiest["retire"] = max(busiest["retire"], retire)
    end = max(walk_end.values(), default=BAND_SETUP)
    for j in range(band.rows):
        sources = band.sources(j)
        keys = np.zeros((g.Q, g.K), dtype=bool)
        for r, lane in sources.items():
            keys |= live_of[lane][:, r, :]
        merge_cost = keys.sum(axis=1) + 1
        pou_cost = (keys | fills).sum(axis=1) + 1
        # The fill channels above a column's last merged channel wait for its marker.
        above = np.maximum.accumulate(keys[:, ::-1], axis=1)[:, ::-1]
        tail = (fills & ~above).sum(axis=1) + 1
        merged = pou = 0
        for q in range(g.Q):
            ready = max((retire_end[lane][q] for lane in sources.values()), default=BAND_SETUP)
            merged = max(merged + int(merge_cost[q]), ready + MERGE_LATENCY)
            pou = max(pou + int(pou_cost[q]), merged + int(tail[q]))
        end = max(end, pou + POU_LATENCY)
        busiest["merge"] = max(busiest["merge"], int(merge_cost.sum()))
        busiest["pou"] = max(busiest["pou"], int(pou_cost.sum()))
    return BandCycles(band.first_row, math.ceil(end), **busiest)


def layer_band_cycles(config, i, f, *, stride=1, padding=0, groups=1, pou=None):
    """The predicted cycles of each band of one convolution on the core of ``config``.

    Parameters
    ----------
    config : IsoscelesConfig
        ``lanes``, ``macs_per_pe``, ``max_kernel`` and ``numerics`` are read.
    i : integer array [H, W, C]
    f : integer array [C/groups, R, K, S]
    stride, padding, groups
        As :func:`isosceles.golden.isos.isos_streams` takes them.
    pou : PouParams, optional
        The POU parameters; their fill channels cost the POU a cycle in every column.

    Returns
    -------
    list of BandCycles
    """
    if not isinstance(config, IsoscelesConfig):
        raise ValueError(f"config must be an IsoscelesConfig, not {config!r}")
    i, f = np.asarray(i), np.asarray(f)
    g = check_conv_arguments(i.shape, f.shape, stride, padding, groups)
    spans = fiber_spans(f, g.groups, macs_per_pe=config.macs_per_pe,
                        banks=context_banks(config.macs_per_pe))
    fills = fill_channels(pou, g.K, config.numerics)
    window = context_window(config.max_kernel)
    return [_band(config, g, band, i, f, spans, fills, window)
            for band in bands(g, config.lanes)]


def predict_conv_cycles(config, i, f, *, stride=1, padding=0, groups=1, pou=None,
                        memory=None):
    """Cycles the core takes on one convolution: the sum of its bands' predicted cycles.

    ``memory``, when given, is a function of a :class:`BandCycles` returning the cycles the
    memory side adds to that band (the block top level's term); without it the core is fed
    from its input streams, as its bench feeds it.
    """
    total = 0
    for band in layer_band_cycles(config, i, f, stride=stride, padding=padding, groups=groups,
                                  pou=pou):
        total += band.cycles + (memory(band) if memory else 0)
    return math.ceil(total)
