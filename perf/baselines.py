"""Analytical models of the paper's two baselines: SparTen and Fused-Layer.

Both take the same workloads as :class:`~isosceles.perf.isosceles_model.IsoscelesModel` and return
the same :class:`~isosceles.perf.results.NetworkResult`, so every figure compares like with
like: a layer or fused group takes ``max(compute, memory)`` cycles plus a DRAM latency.

SparTen (Gondimalla et al., MICRO 2019), scaled as the ISOSceles paper does (its Table III, as
the review of issue 12 reads it): 64 clusters of 64 compute units (one MAC each), each cluster
with its own 64 KB activation buffer, a 1 MB filter buffer, 128 GB/s, one layer at a time,
output-stationary.

* Format: both operands as SparTen's bitmask + packed nonzeros, in chunks of 128 elements along
  the reduction dimension (channels of one activation column; ``(c, r, s)`` of one filter), one
  offset per chunk. Outputs are written in the same format.
* Compute: a cluster takes one output position and 64 filters (one per unit); a unit walks the
  ``C/groups * R * S`` dot product chunk by chunk, one chunk per cycle at least and one matched
  (both nonzero) pair per cycle. The units of a cluster finish an output position together, so
  its time is the expected maximum over 64 units (normal approximation of the matches' spread);
  the offline greedy balancing of filters by density (GB-H) removes the systematic part of the
  imbalance, which is what we assume. Output positions are dealt to the 64 clusters.
* Loop order and memory: the output plane is cut into one tile per cluster (the split that
  keeps the busiest cluster least busy, then reads the fewest halo inputs); a cluster reads its
  tile's input columns, halo rows and columns included, into its buffer. Filters go in groups of
  64, one filter per unit, each group read from DRAM once. Two readings of the order of those
  two loops (``SparTenConfig.reading``):

  - ``"paper"``: filter groups outside, tiles inside. The input (with its halos) is read again
    for every group of 64 filters that needs it (``ceil(K / 64)`` times, once for a depthwise
    layer). This is the paper's Sec. VI-C remark that SparTen may read input activations
    several times and that its tiling moves more than the compulsory traffic.
  - ``"optimistic"``: tiles outside. A tile that fits its cluster's buffer stays there while
    every filter group streams past it, so the input is read once (halos included); a tile
    that does not fit is read once per group, as in the paper's reading.

Fused-Layer (Alwani et al., MICRO 2016), scaled: dense, 4096 MACs as a 64 x 64 array (64 output
channels by 64 reduction elements ``(c, r, s)``; a depthwise layer puts 64 channels on one side
and its ``R * S`` taps on the other), a 2.5 MB filter buffer, 128 GB/s.

* Consecutive layers are fused into pyramids while their dense weights fit the filter buffer;
  fully connected layers run alone, weights streamed. Halo data stays on chip (the "reuse"
  variant), so no work is recomputed; the on-chip storage of the pyramid's intermediate tiles is
  not limited. Activations and weights move dense, ``act_bits`` / ``weight_bits`` per element.
* Compute: dense MACs over 4096, divided by the array's occupancy
  ``K / (64 * ceil(K / 64)) * N / (64 * ceil(N / 64))``.

Pooling and global pooling take, in both, one operation per (input, window position) on the MAC
array; residual adds read the skip tensor and add it as the output is produced.
"""

import math
from dataclasses import dataclass
from functools import cache

import numpy as np

from isosceles.gen.config import IsoscelesConfig, bits_for
from isosceles.golden.numerics import Numerics, check_numerics
from isosceles.perf.results import TRAFFIC_KINDS, GroupResult, NetworkResult
from isosceles.perf.workloads import Workload

__all__ = ["SPARTEN_READINGS", "SparTenConfig", "SparTenModel", "FusedLayerConfig",
           "FusedLayerModel", "bitmask_bits", "expected_max_normal"]


# The baselines share the published ISOSceles design's memory system and integer widths.
_PAPER = IsoscelesConfig.paper()


def _check_positive(name, value, integer=True):
    bad = (not isinstance(value, int) or isinstance(value, bool)) if integer else \
        not isinstance(value, (int, float)) or isinstance(value, bool)
    if bad or not value > 0:
        kind = "a positive integer" if integer else "positive"
        raise ValueError(f"{name} must be {kind}, not {value!r}")


def bitmask_bits(fibers, length, density, *, value_bits, chunk=128):
    """Bits of ``fibers`` x ``length`` elements in SparTen's format: a bit per element, the
    nonzero values, and one offset per chunk of ``chunk`` elements of a fiber."""
    elements = fibers * length
    nonzeros = elements * density
    offsets = fibers * math.ceil(length / chunk) * bits_for(int(nonzeros) + 2)
    return elements + nonzeros * value_bits + offsets


@cache
def expected_max_normal(n):
    """``E[max]`` of ``n`` independent standard normal variables (numerical integration)."""
    x = np.linspace(-10, 10, 20001)
    cdf = 0.5 * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))
    pdf = np.exp(-x * x / 2) / math.sqrt(2 * math.pi)
    return float(np.sum(x * n * pdf * cdf ** (n - 1)) * (x[1] - x[0]))


def _pool_cycles(layer, macs_per_cycle):
    windows = layer.kernel * layer.kernel_cols
    return layer.outputs * windows / macs_per_cycle


# --- SparTen ------------------------------------------------------------------------------------

SPARTEN_READINGS = ("paper", "optimistic")


@dataclass(frozen=True)
class SparTenConfig:
    """SparTen as scaled in the ISOSceles paper.

    Parameters
    ----------
    clusters, units_per_cluster : int
        64 x 64 single-MAC compute units.
    cluster_buffer_bytes : int
        Each cluster's own activation buffer (64 KB).
    filter_buffer_bytes : int
        The shared filter buffer (1 MB); it must hold one group of ``units_per_cluster``
        filters.
    chunk : int
        Elements per bitmask chunk (128).
    reading : str
        ``"paper"`` (filter groups outside: the input is re-read per group of filters) or
        ``"optimistic"`` (tiles outside: a tile that fits its cluster's buffer is read once).
    dram_bytes_per_cycle : float
    dram_latency_cycles : int
    numerics : Numerics
    """

    clusters: int = 64
    units_per_cluster: int = 64
    cluster_buffer_bytes: int = 64 * 1024
    filter_buffer_bytes: int = 1024 * 1024
    chunk: int = 128
    reading: str = "paper"
    dram_bytes_per_cycle: float = _PAPER.dram_bytes_per_cycle
    dram_latency_cycles: int = 100
    numerics: Numerics = _PAPER.numerics

    def __post_init__(self):
        for name in ("clusters", "units_per_cluster", "cluster_buffer_bytes",
                     "filter_buffer_bytes", "chunk", "dram_latency_cycles"):
            _check_positive(name, getattr(self, name))
        _check_positive("dram_bytes_per_cycle", self.dram_bytes_per_cycle, integer=False)
        if self.reading not in SPARTEN_READINGS:
            raise ValueError(f"reading must be one of {', '.join(SPARTEN_READINGS)}, "
                             f"not {self.reading!r}")
        check_numerics(self.numerics)


@dataclass(frozen=True)
class _Tiling:
    """One output tile per cluster: ``rows`` x ``cols`` outputs in ``count`` tiles, which read
    ``columns`` input columns in all (halos included, padding not stored) and at most
    ``largest`` each."""

    rows: int
    cols: int
    count: int
    columns: int
    largest: int


def _windows(outputs, tile, size, stride, kernel, padding):
    """Input positions along one axis that tiles of ``tile`` outputs read: their sum and the
    largest tile's."""
    spans = []
    for start in range(0, outputs, tile):
        end = min(outputs, start + tile)
        lo = max(0, start * stride - padding)
        hi = min(size, (end - 1) * stride - padding + kernel)
        spans.append(max(0, hi - lo))
    return sum(spans), max(spans)


class SparTenModel:
    """SparTen, layer by layer, on a workload."""

    def __init__(self, config=None):
        self.config = SparTenConfig() if config is None else config
        if not isinstance(self.config, SparTenConfig):
            raise ValueError(f"config must be a SparTenConfig, not {self.config!r}")
        self.name = "SparTen" if self.config.reading == "paper" else "SparTen-optimistic"

    def _activation_bytes(self, tensor):
        return bitmask_bits(tensor.rows * tensor.cols, tensor.channels, tensor.density,
                            value_bits=self.config.numerics.act_bits,
                            chunk=self.config.chunk) / 8

    def _filter_bytes(self, layer):
        if not layer.has_weights:
            return 0.0
        return bitmask_bits(layer.out_channels, layer.products_per_output, layer.weight_density,
                            value_bits=self.config.numerics.weight_bits,
                            chunk=self.config.chunk) / 8

    def _unit_cycles(self, layer, input_density):
        """Expected cycles of the slowest of a cluster's units on one output position."""
        cfg = self.config
        length = layer.products_per_output
        p = layer.weight_density * input_density
        mean = var = 0.0
        full, rest = divmod(length, cfg.chunk)
        for size, count in ((cfg.chunk, full), (rest, 1 if rest else 0)):
            if not count:
                continue
            # A chunk costs max(1, matches): E = E[m] + P(m = 0).
            mean += count * (size * p + (1 - p) ** size)
            var += count * size * p * (1 - p)
        return mean + math.sqrt(var) * expected_max_normal(cfg.units_per_cluster)

    def _tiling(self, layer):
        """The split of the output plane over the clusters: fewest outputs in the busiest
        cluster, then fewest input columns read (halos included)."""
        if layer.kind == "fc":
            return _Tiling(1, 1, 1, 1, 1)
        best = None
        for across in range(1, min(layer.out_rows, self.config.clusters) + 1):
            down = min(layer.out_cols, self.config.clusters // across)
            rows, cols = math.ceil(layer.out_rows / across), math.ceil(layer.out_cols / down)
            count = math.ceil(layer.out_rows / rows) * math.ceil(layer.out_cols / cols)
            row_sum, row_max = _windows(layer.out_rows, rows, layer.in_rows, layer.stride,
                                        layer.kernel, layer.padding)
            col_sum, col_max = _windows(layer.out_cols, cols, layer.in_cols, layer.stride,
                                        layer.kernel_cols, layer.padding_cols)
            key = (rows * cols, row_sum * col_sum)
            if best is None or key < best[0]:
                best = key, _Tiling(rows, cols, count, row_sum * col_sum, row_max * col_max)
        return best[1]

    def _input_passes(self, layer, tile_bytes):
        """How many times the loop order reads a layer's input (with its halos)."""
        cfg = self.config
        if not layer.has_weights:
            return 1.0
        # A group of filters reads only the input channels its filters see.
        passes = max(1.0, math.ceil(layer.out_channels / cfg.units_per_cluster) / layer.groups)
        if cfg.reading == "optimistic" and tile_bytes <= cfg.cluster_buffer_bytes:
            return 1.0
        return passes

    def _layer(self, workload, layer):
        cfg = self.config
        source = workload.tensor(layer.input)
        inputs = self._activation_bytes(source)
        weights = self._filter_bytes(layer)
        group = weights * min(1.0, cfg.units_per_cluster / layer.out_channels)
        if group > cfg.filter_buffer_bytes:
            raise ValueError(f"layer {layer.name!r}: a group of {cfg.units_per_cluster} filters "
                             f"takes {group:.0f} B, above SparTen's filter_buffer_bytes "
                             f"{cfg.filter_buffer_bytes}; raise filter_buffer_bytes")
        tiling = self._tiling(layer)
        columns = source.rows * source.cols if layer.kind != "fc" else 1
        halo = tiling.columns / columns
        tile_bytes = inputs * tiling.largest / columns
        traffic = dict.fromkeys(TRAFFIC_KINDS, 0.0)
        traffic["weights"] = weights
        traffic["input"] = inputs * halo * self._input_passes(layer, tile_bytes)
        if layer.residual:
            traffic["input"] += self._activation_bytes(workload.tensor(layer.residual))
        traffic["output"] = self._activation_bytes(workload.tensor(layer.name))
        macs_per_cycle = cfg.clusters * cfg.units_per_cluster
        if layer.multiplies:
            positions = layer.out_rows * layer.out_cols
            work = positions * math.ceil(layer.out_channels / cfg.units_per_cluster)
            compute = math.ceil(work / cfg.clusters) * self._unit_cycles(layer, source.density)
            macs = workload.effectual_macs(layer)
        else:
            compute, macs = _pool_cycles(layer, macs_per_cycle), 0.0
        memory = sum(traffic.values()) / cfg.dram_bytes_per_cycle
        return GroupResult((layer.name,), False, 1, compute, 0.0, memory,
                           cfg.dram_latency_cycles, macs, traffic)

    def run(self, workload):
        if not isinstance(workload, Workload):
            raise ValueError(f"workload must be a Workload, not {workload!r}")
        cfg = self.config
        groups = [self._layer(workload, layer) for layer in workload.layers]
        compulsory = sum(self._activation_bytes(workload.tensor(t))
                         for t in workload.inputs + workload.outputs) + sum(
            self._filter_bytes(layer) for layer in workload.layers)
        return NetworkResult(self.name, workload.name, groups,
                             cfg.clusters * cfg.units_per_cluster, cfg.dram_bytes_per_cycle,
                             compulsory)


# --- Fused-Layer --------------------------------------------------------------------------------

@dataclass(frozen=True)
class FusedLayerConfig:
    """Fused-Layer, dense, scaled to the ISOSceles paper's comparison.

    Parameters
    ----------
    array_rows, array_cols : int
        The MAC array: output channels by reduction elements (64 x 64).
    filter_buffer_bytes : int
        Dense weights of one fused pyramid (2.5 MB).
    dram_bytes_per_cycle : float
    dram_latency_cycles : int
    numerics : Numerics
    """

    array_rows: int = 64
    array_cols: int = 64
    filter_buffer_bytes: int = 5 * 1024 * 1024 // 2
    dram_bytes_per_cycle: float = _PAPER.dram_bytes_per_cycle
    dram_latency_cycles: int = 100
    numerics: Numerics = _PAPER.numerics

    def __post_init__(self):
        for name in ("array_rows", "array_cols", "filter_buffer_bytes", "dram_latency_cycles"):
            _check_positive(name, getattr(self, name))
        _check_positive("dram_bytes_per_cycle", self.dram_bytes_per_cycle, integer=False)
        check_numerics(self.numerics)

    @property
    def macs(self):
        return self.array_rows * self.array_cols


class FusedLayerModel:
    """Fused-Layer (dense pyramids) on a workload."""

    name = "Fused-Layer"

    def __init__(self, config=None):
        self.config = FusedLayerConfig() if config is None else config
        if not isinstance(self.config, FusedLayerConfig):
            raise ValueError(f"config must be a FusedLayerConfig, not {self.config!r}")

    def _weight_bytes(self, layer):
        return layer.weights * self.config.numerics.weight_bits / 8

    def _tensor_bytes(self, tensor):
        return tensor.elements * self.config.numerics.act_bits / 8

    def _occupancy(self, layer):
        cfg = self.config
        k = layer.out_channels if layer.groups == 1 or layer.kind == "fc" else layer.groups
        n = layer.products_per_output
        return (k / (cfg.array_rows * math.ceil(k / cfg.array_rows))
                * n / (cfg.array_cols * math.ceil(n / cfg.array_cols)))

    def _groups(self, workload):
        groups, current, weights = [], [], 0.0
        for layer in workload.layers:
            size = self._weight_bytes(layer)
            if layer.kind == "fc" or (current and weights + size >
                                      self.config.filter_buffer_bytes):
                if current:
                    groups.append(current)
                current, weights = [], 0.0
            if layer.kind == "fc":
                groups.append([layer])
                continue
            current.append(layer)
            weights += size
        if current:
            groups.append(current)
        return groups

    def _group(self, workload, layers):
        cfg = self.config
        names = {layer.name for layer in layers}
        traffic = dict.fromkeys(TRAFFIC_KINDS, 0.0)
        read = set()
        compute = macs = 0.0
        for layer in layers:
            traffic["weights"] += self._weight_bytes(layer)
            for source in (layer.input, layer.residual):
                if source and source not in names and source not in read:
                    read.add(source)
                    traffic["input"] += self._tensor_bytes(workload.tensor(source))
            consumers = workload.consumers(layer.name)
            if not consumers or any(c.name not in names for c in consumers):
                traffic["output"] += self._tensor_bytes(workload.tensor(layer.name))
            if layer.multiplies:
                compute += layer.dense_macs / cfg.macs / self._occupancy(layer)
                macs += layer.dense_macs
            else:
                compute += _pool_cycles(layer, cfg.macs)
        memory = sum(traffic.values()) / cfg.dram_bytes_per_cycle
        return GroupResult(tuple(layer.name for layer in layers), len(layers) > 1, 1, compute,
                           0.0, memory, cfg.dram_latency_cycles, macs, traffic)

    def run(self, workload):
        if not isinstance(workload, Workload):
            raise ValueError(f"workload must be a Workload, not {workload!r}")
        cfg = self.config
        groups = [self._group(workload, layers) for layers in self._groups(workload)]
        compulsory = sum(self._tensor_bytes(workload.tensor(t))
                         for t in workload.inputs + workload.outputs) + sum(
            self._weight_bytes(layer) for layer in workload.layers)
        return NetworkResult(self.name, workload.name, groups, cfg.macs,
                             cfg.dram_bytes_per_cycle, compulsory)
