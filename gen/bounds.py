"""Lower bounds in cycles of each stage of the IS-OS block on one layer.

Each bound is a rate the RTL cannot beat, summed over the bands of the layer
(:mod:`isosceles.golden.bands`), each band bounded by its busiest lane:

* ``macs``: effectual MACs / the core's peak MACs a cycle;
* ``walk``: a frontend lane walks, for every input nonzero, the weights of the filter rows
  through which it feeds the band's output rows, one filter-buffer word (``macs_per_pe``
  weights) a cycle;
* ``t1``: a frontend lane retires one T1 token a cycle: the data of the filter rows through which
  it feeds the band's output rows, and a marker per column;
* ``merge``: a row merger takes one distinct ``(q, marker, k)`` of its sources a cycle (a
  residual add: a merge adder, one of ``lanes // 2``, takes one distinct ``(w, marker, c)`` of
  its two input rows a cycle; ``walk`` and ``t1`` are 0);
* ``dram``: the DRAM bytes the block moved (read and written) / ``dram_bytes_per_cycle``.
"""

import functools
import math

import numpy as np

from isosceles.golden.bands import bands
from isosceles.golden.isos import isos_streams

__all__ = ["stage_bounds", "layer_bounds"]


def stage_bounds(layer, config):
    """The ``walk``, ``t1`` and ``merge`` bounds of workload layer ``layer`` (a
    :class:`~isosceles.golden.workload_file` layer) on the core of ``config``."""
    i, f, stride, padding, groups = layer.conv_arguments(config.numerics)
    s = isos_streams(i, f, stride=stride, padding=padding, groups=groups,
                     numerics=config.numerics, maximum=layer.type == "maxpool")
    g = s.geometry

    @functools.cache
    def fiber_words(fed):
        """Per input channel, the words of its fiber's weights in filter rows ``fed``."""
        return [math.ceil(sum(1 for weight in fiber if weight["r"] in fed) / config.macs_per_pe)
                for fiber in s.filter_fibers]

    def walk(band, lane, h):
        words = fiber_words(tuple(band.filter_rows(lane)))
        return sum(words[t["c"]] for t in s.inputs[h] if not t["marker"])

    bounds = {"walk": 0, "t1": 0, "merge": 0}
    for band in bands(g, config.lanes):
        rows = band.input_rows()
        bounds["walk"] += max((walk(band, lane, h) for lane, h in rows.items()), default=0)
        bounds["t1"] += max((g.Q + sum(1 for t in s.t1[h] if not t["marker"]
                                       and t["r"] in band.filter_rows(lane))
                             for lane, h in rows.items()), default=0)
        bounds["merge"] += max(
            len({(t["q"], t["marker"], t["k"]) for r, lane in band.sources(j).items()
                 for t in s.substreams[(rows[lane], r)]}) or g.Q
            for j in range(band.rows))
    return bounds


def add_bounds(layer, config):
    """The ``walk``, ``t1`` and ``merge`` bounds of a residual add ``layer``: bands of
    ``lanes // 2`` rows, each bounded by its row with the most distinct keys."""
    rows = layer.input.shape[1] + np.count_nonzero((layer.input != 0) | (layer.addend != 0),
                                                   axis=(1, 2))
    per_band = config.lanes // 2
    return {"walk": 0, "t1": 0, "merge": sum(int(rows[first:first + per_band].max())
                                             for first in range(0, len(rows), per_band))}


def layer_bounds(layer, config, *, effectual_macs, dram_bytes):
    """Every stage's bound of ``layer`` (see the module), given the effectual MACs and the DRAM
    bytes (read and written) of its run; ``{"macs": .., "walk": .., "t1": .., "merge": ..,
    "dram": ..}``."""
    peak = config.lanes * config.macs_per_pe  # one PE per lane in the RTL today
    stages = add_bounds(layer, config) if layer.type == "add" else stage_bounds(layer, config)
    return {"macs": math.ceil(effectual_macs / peak), **stages,
            "dram": math.ceil(dram_bytes / config.dram_bytes_per_cycle)}
