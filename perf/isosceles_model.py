"""Analytical performance model of ISOSceles, pipelined and layer by layer (``single``).

The model works from the densities of :mod:`isosceles.perf.workloads` (expected nonzeros, i.i.d.
positions; the nonzeros of each activation row are a seeded binomial draw) and the one
configuration object, :class:`~isosceles.gen.config.IsoscelesConfig`. It runs with the paper's
design (:meth:`IsoscelesConfig.paper`) and, unchanged, with the RTL's small configuration.

What it charges, per pipeline (a *group* of consecutive layers; layer by layer, a group is one
layer), for each *band* of rows (see below):

* **Compute.** A PE takes one input nonzero and up to ``macs_per_pe`` of the nonzero weights of
  its filter fiber per cycle, so one input nonzero whose fiber holds ``L`` effectual weights costs
  ``ceil(L / macs_per_pe)`` PE cycles; ``L`` is binomial over the fiber's valid ``(r, k, s)``.
  Frontend lane ``h`` does the work of input row ``h`` of every layer in flight (the dynamic
  scheduler gives the lane's PEs to whichever layer has work), so a band takes
  ``max over lanes (work) / pes_per_lane``. A layer with fewer rows than lanes splits ``K`` (the
  channels, for grouped convolutions) across ``lanes // rows`` adjacent lanes.
* **Mergers.** The backend (as the project's RTL builds it) has, per layer in flight, one merger
  per backend lane that merges the ``R`` frontend lanes' per-``(lane, r)`` substreams of ``T1``
  directly on ``(q, k)`` with one comparator tree, adding equal keys: it emits
  ``merger_tokens_per_cycle`` output tokens a cycle (1 in the RTL) plus one cycle per column
  marker. A layer's backend row costs ``Q * K / split`` times the density of its accumulations
  ``T2``, over that rate, plus ``Q`` marker cycles. A residual add takes another merger of the
  lane (the skip stream is merged and added to the layer's output stream, one element of their
  union per cycle). Mergers run in parallel, so a band costs the busiest merger's time.
  (``pooled_mergers=True`` lets a layer use the lane's idle mergers instead: a sensitivity
  study, not the published design.)
* **Memory.** DRAM traffic over ``dram_bytes_per_cycle``. Tensors are stored compressed: an outer
  array of fibers (one per activation column ``(h, w)``; one per input channel of a filter) with
  an offset each, and each fiber as the cheaper of a coordinate list and a bitmask (or the whole
  tensor dense when that is smaller). Values ``act_bits`` / ``weight_bits`` wide.
* **Overheads.** Per band: DRAM latency (``dram_latency_cycles``) and the wavefront fill: layer
  ``i`` cannot retire its first output column before ``(S - 1 - pad) / u + 1`` columns of its
  input have passed, which costs that fraction of the layer's own time in the band.
* A group takes ``max(compute, mergers, memory) + overheads``.

Pipelining, in execution order, by one of two policies (``grouping``): ``"block"``, the paper's
(its Table IV pipelines ResNet-50 whole blocks at a time), cuts pipelines only between blocks
(:attr:`~isosceles.perf.workloads.Layer.block`) and adds whole blocks; ``"greedy"`` adds one
layer at a time and may cut inside a block. A block that does not fit one pipeline on its own is
grouped layer by layer. A layer or block joins the current pipeline while the pipeline's
compressed filters fit the filter buffer, its backend mergers and skip-add mergers fit the lane's
``layers_in_flight`` mergers, and joining neither raises DRAM traffic nor cycles (halo re-reads
and recomputation can outgrow what the pipeline saves; this last rule is ours, the paper stops
only on overflow). The pipeline is cut into *bands* of output rows when its rows exceed the
lanes or when, per lane, its contexts (``ceil(R/u) * ceil(S/u) * K / split`` partial sums of
``acc_bits`` per layer) or queues overflow. The queues hold ``queue_slack_columns`` columns of
every stream a layer consumes: its input activations and the partial sums ``T1`` its frontend
retires towards the R-mergers (``ceil(R/u) * K / split`` of them per column, at the density of
``C/groups * S`` products), plus the columns a skip stream waits for the main path. The ``T1``
term is the one that depends on weight sparsity, so sparser networks pipeline deeper. Fewer
rows per band leave more lanes to split ``K`` over. ``K / split`` must fit the merger's radix
(``kmerger_radix``).
Every band recomputes the rows its pyramid needs and re-reads its input halo rows from DRAM.
The first convolution (reading the RGB image), fully connected and max/average pooling layers
run unpipelined; a fully connected layer is an input-stationary sparse matrix-vector product with
weights streamed from DRAM. A layer whose filters exceed the filter buffer runs alone, ``K``
tiled, re-reading its input per tile.

:func:`predict_layer_cycles` is the entry point for calibrating against the RTL: given a drawn
workload it costs each layer with :mod:`isosceles.perf.core_cycles`, the RTL core's model.

Not modelled (assumed not to limit): filter-buffer bandwidth and bank conflicts, R-merger
throughput, the interconnect between lanes, the 100-cycle granularity of the dynamic scheduler,
and spatially correlated (non-i.i.d.) sparsity.
"""

import math
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from isosceles.gen.config import IsoscelesConfig, bits_for
from isosceles.perf.core_cycles import predict_conv_cycles
from isosceles.perf.results import TRAFFIC_KINDS, GroupResult, NetworkResult
from isosceles.perf.workloads import Workload, accumulation_density

__all__ = [
    "GROUPINGS",
    "IsoscelesModel",
    "compressed_bits",
    "expected_ceil_binomial",
    "compulsory_bytes",
    "reads_image",
    "pipelinable",
    "predict_layer_cycles",
]

GROUPINGS = ("block", "greedy")


# --- storage formats --------------------------------------------------------------------------

def compressed_bits(fibers, length, density, *, value_bits):
    """Bits of a tensor of ``fibers`` x ``length`` elements stored compressed: one offset per
    fiber plus the cheaper of a coordinate list and a bitmask per fiber, then the values; or
    dense, whichever is smaller."""
    elements = fibers * length
    nonzeros = elements * density
    dense = elements * value_bits
    offsets = fibers * bits_for(int(nonzeros) + 2)
    positions = min(nonzeros * bits_for(length), elements)
    return min(dense, offsets + positions + nonzeros * value_bits)


def activation_bytes(tensor, numerics):
    return compressed_bits(tensor.rows * tensor.cols, tensor.channels, tensor.density,
                           value_bits=numerics.act_bits) / 8


def filter_bytes(layer, numerics):
    """ISOSceles filters ``[C, R, K, S]``: one fiber of ``(r, k, s)`` per input channel."""
    if not layer.has_weights:
        return 0.0
    return compressed_bits(layer.in_channels, layer.weights // layer.in_channels,
                           layer.weight_density, value_bits=numerics.weight_bits) / 8


def compulsory_bytes(workload, numerics):
    """Read the network inputs and every weight once, write the network outputs once."""
    tensors = workload.inputs + workload.outputs
    return (sum(activation_bytes(workload.tensor(t), numerics) for t in tensors)
            + sum(filter_bytes(layer, numerics) for layer in workload.layers))


def reads_image(workload, layer):
    """Whether ``layer`` is a first convolution, reading the network's RGB image."""
    return layer.input in workload.inputs and workload.tensor(layer.input).channels <= 4


def pipelinable(workload, layer):
    """Whether ISOSceles may pipeline ``layer``: convolutions (global pooling included) except
    the first; fully connected and max/average pooling layers run on their own."""
    return layer.kind in ("conv", "gap") and not reads_image(workload, layer)


# --- expectations ------------------------------------------------------------------------------

@lru_cache(maxsize=65536)
def _expected_ceil_int(n, p, width):
    if n == 0 or p == 0:
        return 0.0
    if p >= 1:
        return float(math.ceil(n / width))
    k = np.arange(n + 1)
    # log pmf by the ratio pmf(k+1)/pmf(k) = (n-k)/(k+1) * p/(1-p): exact and overflow-free.
    steps = np.log((n - k[:-1]) / (k[:-1] + 1)) + math.log(p / (1 - p))
    log_pmf = np.concatenate(([n * math.log1p(-p)], n * math.log1p(-p) + np.cumsum(steps)))
    return float(np.dot(np.exp(log_pmf), np.ceil(k / width)))


def expected_ceil_binomial(n, p, width):
    """``E[ceil(L / width)]`` for ``L ~ Binomial(n, p)``; a fractional ``n`` interpolates."""
    low = math.floor(n)
    frac = n - low
    value = _expected_ceil_int(low, float(p), width)
    if frac:
        value += frac * (_expected_ceil_int(low + 1, float(p), width) - value)
    return value


# --- ISOSceles ---------------------------------------------------------------------------------

@dataclass
class _Plan:
    """A feasible mapping of a group: its band count, K tiles and per-band row ranges."""

    layers: tuple
    bands: int
    k_tiles: int
    ranges: list  # per band: {tensor: (lo, hi)}


def _mergers_needed(layers):
    """Per-lane mergers a group occupies: a backend merger per layer in flight, plus one per
    residual add (the skip stream is merged and added to the layer's output stream)."""
    return sum((layer.kind in ("conv", "gap")) + (layer.residual is not None)
               for layer in layers)


def _span(rng):
    return max(0, rng[1] - rng[0])


def _hull(a, b):
    if a is None or _span(a) == 0:
        return b
    if _span(b) == 0:
        return a
    return (min(a[0], b[0]), max(a[1], b[1]))


class IsoscelesModel:
    """ISOSceles on a workload, pipelined (``pipelined=True``) or layer by layer.

    Parameters
    ----------
    config : IsoscelesConfig
        The design; :meth:`IsoscelesConfig.paper` by default.
    pipelined : bool
        Greedy inter-layer pipelining (the paper's ISOSceles) or one layer at a time (the
        paper's "single" ablation).
    dram_latency_cycles : int
        Latency before a band's first data arrives (HBM, about 100 ns at 1 GHz).
    queue_slack_columns : int
        Columns of every input stream the per-lane queues hold to decouple producer and consumer.
    grouping : str
        ``"block"`` (the paper's policy: pipelines are cut only between network blocks) or
        ``"greedy"`` (layer by layer, across block boundaries). Ignored when not pipelined.
    merger_tokens_per_cycle : float
        Output tokens a layer's backend merger emits per cycle per backend lane, after merging
        the ``R`` substreams on ``(q, k)`` (1 in the RTL); column markers cost one cycle each on
        top. Raising it is the sensitivity study of a faster (replicated) merger.
    pooled_mergers : bool
        ``False`` (the published reading): each layer in flight has its own merger per lane,
        at ``merger_tokens_per_cycle``. ``True`` (a sensitivity study, not in the paper): the lane's
        ``layers_in_flight`` mergers are pooled, a layer splitting its ``K`` range over
        several of them, so a band's merge time is the lane's total merge work over
        ``layers_in_flight``.
    """

    def __init__(self, config=None, *, pipelined=True, grouping="block", dram_latency_cycles=100,
                 queue_slack_columns=2, merger_tokens_per_cycle=1.0, pooled_mergers=False):
        config = IsoscelesConfig.paper() if config is None else config
        if not isinstance(config, IsoscelesConfig):
            raise ValueError(f"config must be an IsoscelesConfig, not {config!r}")
        if grouping not in GROUPINGS:
            raise ValueError(f"grouping must be one of {', '.join(GROUPINGS)}, not {grouping!r}")
        for name, value in (("dram_latency_cycles", dram_latency_cycles),
                            ("queue_slack_columns", queue_slack_columns)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, not {value!r}")
        self.config = config
        self.pipelined = pipelined
        self.dram_latency_cycles = dram_latency_cycles
        self.queue_slack_columns = queue_slack_columns
        if isinstance(merger_tokens_per_cycle, bool) or not isinstance(
                merger_tokens_per_cycle, (int, float)) or not merger_tokens_per_cycle > 0:
            raise ValueError(f"merger_tokens_per_cycle must be a positive number, not "
                             f"{merger_tokens_per_cycle!r}")
        self.merger_tokens_per_cycle = float(merger_tokens_per_cycle)
        self.pooled_mergers = bool(pooled_mergers)
        self.grouping = grouping
        self.name = ("ISOSceles" if grouping == "block" else "ISOSceles-greedy") if pipelined \
            else "ISOSceles-single"

    # -- public ---------------------------------------------------------------------------------

    def run(self, workload):
        """Group the layers and cost every group; returns a :class:`NetworkResult`."""
        if not isinstance(workload, Workload):
            raise ValueError(f"workload must be a Workload, not {workload!r}")
        self._check_fits(workload)
        self._workload = workload
        self._plans = {}
        self._costs = {}
        grouping, boundaries = self._groups(workload)
        plans = [self._plan(group) for group in grouping]
        for group, plan in zip(grouping, plans, strict=True):
            if plan is None:
                raise ValueError(f"workload {workload.name}: layer {group[0].name!r} does not "
                                 f"fit the configuration even one output row per band with K "
                                 f"tiled: {self._misfit(group)}")
        groups = [replace(self._cost(plan), boundary=boundary)
                  for plan, boundary in zip(plans, boundaries, strict=True)]
        cfg = self.config
        return NetworkResult(
            self.name, workload.name, groups, cfg.lanes * cfg.macs_per_lane,
            cfg.dram_bytes_per_cycle, compulsory_bytes(workload, cfg.numerics))

    # -- grouping -------------------------------------------------------------------------------

    def _check_fits(self, workload):
        cfg = self.config
        for layer in workload.layers:
            if layer.kind in ("conv", "maxpool", "avgpool"):
                for name, value, limit in (
                        ("kernel", max(layer.kernel, layer.kernel_cols), cfg.max_kernel),
                        ("input columns", layer.in_cols, cfg.max_columns),
                        ("input channels", layer.in_channels, cfg.max_channels),
                        ("output channels", layer.out_channels, cfg.max_channels)):
                    if value > limit:
                        raise ValueError(f"workload {workload.name}: layer {layer.name!r} has "
                                         f"{name} {value}, above the configuration's {limit}")

    def _units(self, workload):
        """What the grouping adds at a time: whole blocks of pipelinable layers (``"block"``,
        pipelined) or single layers."""
        units = []
        for layer in workload.layers:
            if (self.pipelined and self.grouping == "block" and units and layer.block is not None
                    and units[-1][-1].block == layer.block
                    and pipelinable(workload, layer) and pipelinable(workload, units[-1][-1])):
                units[-1] += (layer,)
            else:
                units.append((layer,))
        return units

    def _groups(self, workload):
        """The layers in groups, and per group why it starts where it does (None for the
        first): why it did not join the group before."""
        groups, boundaries = [], []
        current, why = (), None   # the open pipeline, and why it starts where it does
        after = None              # why a group opened next starts there

        def close():
            nonlocal current
            if current:
                groups.append(current)
                boundaries.append(why)
                current = ()

        for unit in self._units(workload):
            alone = self._runs_alone(workload, unit) if self.pipelined else "layer by layer"
            if alone:
                close()
                boundaries.append(alone if groups else None)
                groups.append(unit)
                after = f"{unit[-1].name} runs on its own" if self.pipelined else alone
                continue
            if current:
                refusal = self._refusal(current, unit)
                if refusal is None:
                    current += unit
                    continue
                close()
                after = refusal
            if len(unit) > 1 and self._plan(unit) is None:  # a block too big for one pipeline
                for layer in unit:
                    if current:
                        refusal = self._refusal(current, (layer,))
                        if refusal is None:
                            current += (layer,)
                            continue
                        close()
                        after = refusal
                    current, why = (layer,), after
            else:
                current, why = unit, after
        close()
        return groups, boundaries

    def _runs_alone(self, workload, unit):
        """Why ``unit`` runs on its own (one line), or None when it may join a pipeline."""
        for layer in unit:
            if reads_image(workload, layer):
                return f"{layer.name} reads the network's image, which is read from DRAM"
            if not pipelinable(workload, layer):
                kind = "" if layer.kind == layer.name else f" ({layer.kind})"
                return f"{layer.name}{kind} ends a pipeline and runs on its own"
        return None

    def _refusal(self, current, unit):
        """Why ``unit`` does not join the pipeline ``current`` (one line), or None if it does:
        a buffer the two together overflow, or more DRAM bytes or cycles than apart."""
        alone, before = self._plan(unit), self._plan(current)
        if alone is None or before is None:
            return f"{(unit if alone is None else current)[0].name} does not fit on its own"
        merged = self._plan(current + unit, allow_k_tiles=False)
        names = f"{current[-1].name} and {unit[0].name} in one pipeline"
        if merged is None:
            return f"{names}: {self._misfit(current + unit)}"
        apart = self._total(before) + self._total(alone)
        together = self._total(merged)
        if together > apart * (1 + 1e-12):
            return f"{names} would move more DRAM bytes ({together:.0f} against {apart:.0f})"
        cycles = self._cost(before).cycles + self._cost(alone).cycles
        if self._cost(merged).cycles > cycles:
            return (f"{names} would take more cycles ({self._cost(merged).cycles:.0f} against "
                    f"{cycles:.0f})")
        return None

    def _total(self, plan):
        return sum(self._traffic(plan).values())

    # -- planning -------------------------------------------------------------------------------

    def _terminal(self, tensor, names):
        """Whether a tensor produced in the group must be written to DRAM."""
        w = self._workload
        consumers = w.consumers(tensor)
        return not consumers or any(c.name not in names for c in consumers)

    def _band_ranges(self, layers, bands, band):
        w = self._workload
        names = {layer.name for layer in layers}
        need = {}
        for layer in reversed(layers):
            out = w.tensor(layer.name)
            rng = need.get(layer.name)
            if self._terminal(layer.name, names):
                lo, hi = band * out.rows // bands, (band + 1) * out.rows // bands
                rng = _hull(rng, (lo, hi))
            rng = rng if rng is not None else (0, 0)
            need[layer.name] = rng
            if _span(rng) == 0:
                continue
            if layer.kind == "fc":
                in_rng = (0, w.tensor(layer.input).rows)
            else:
                in_rng = (max(0, rng[0] * layer.stride - layer.padding),
                          min(layer.in_rows,
                              (rng[1] - 1) * layer.stride - layer.padding + layer.kernel))
            need[layer.input] = _hull(need.get(layer.input), in_rng)
            if layer.residual:
                need[layer.residual] = _hull(need.get(layer.residual), rng)
        return need

    def _split(self, rows):
        return max(1, self.config.lanes // max(1, rows))

    def _context_bytes(self, layer, rows_in, k_tiles):
        """Partial sums one frontend lane keeps for ``layer``."""
        if layer.kind == "fc":
            return 0.0
        live_r = min(math.ceil(layer.kernel / layer.stride), layer.out_rows)
        live_q = min(math.ceil(layer.kernel_cols / layer.stride), layer.out_cols)
        channels = math.ceil(layer.out_channels / k_tiles / self._split(rows_in))
        return live_r * live_q * channels * self.config.numerics.acc_bits / 8

    def _lags(self, layers):
        """Wavefront lag (in columns) of each tensor behind the group's inputs."""
        lag = {}
        for layer in layers:
            behind = lag.get(layer.input, 0.0)
            lag[layer.name] = (behind + layer.kernel_cols - 1 - layer.padding_cols) / layer.stride \
                + 1
        return lag

    def _column_bytes(self, tensor, split=1):
        n = self.config.numerics
        t = self._workload.tensor(tensor)
        return t.channels / split * t.density * (n.act_bits + bits_for(t.channels)) / 8

    def _t1_column_bytes(self, layer, rows_in, k_tiles):
        """Partial sums ``T1`` one frontend lane retires per output column of ``layer``.

        They wait in the lane's queue for the R-merger, which can emit column ``q`` only once
        all ``R`` frontend lanes feeding it have passed ``q``. A ``T1`` element is nonzero when
        at least one of its ``C/groups * S`` products is effectual, so the stream thins out with
        weight sparsity.
        """
        if layer.kind not in ("conv", "gap"):
            return 0.0
        n = self.config.numerics
        live_r = min(math.ceil(layer.kernel / layer.stride), layer.out_rows)
        channels = math.ceil(layer.out_channels / k_tiles / self._split(rows_in))
        density = accumulation_density(layer.in_channels // layer.groups * layer.kernel_cols,
                                       layer.weight_density,
                                       self._workload.tensor(layer.input).density)
        return live_r * channels * density * (n.acc_bits + bits_for(layer.out_channels)) / 8

    def _queue_bytes(self, layers, ranges, k_tiles=1):
        """Per-lane queue storage of a band: ``queue_slack_columns`` columns of every stream a
        layer consumes (its input activations, its ``T1`` partial sums on their way to the
        R-merger) plus the columns a skip stream waits for the main path."""
        names = {layer.name for layer in layers}
        lag = self._lags(layers)
        total = 0.0
        for layer in layers:
            if layer.kind == "fc":
                continue
            rows_in = _span(ranges.get(layer.input, (0, 0)))
            split = self._split(rows_in) if layer.groups > 1 else 1
            total += self.queue_slack_columns * (self._column_bytes(layer.input, split)
                                                 + self._t1_column_bytes(layer, rows_in,
                                                                         k_tiles))
            if layer.residual:
                waits = lag[layer.name] - (lag[layer.residual] if layer.residual in names else 0)
                split_out = self._split(_span(ranges.get(layer.name, (0, 0))))
                total += (self.queue_slack_columns + max(0.0, waits)) * self._column_bytes(
                    layer.residual, split_out)
        return total

    def _band_context_bytes(self, layers, ranges, k_tiles):
        return sum(self._context_bytes(layer, _span(ranges.get(layer.input, (0, 0))), k_tiles)
                   for layer in layers)

    def _overflow(self, layers, ranges, k_tiles):
        """The first resource a band overflows, as ``(what, needed, available)``, or ``None``."""
        cfg = self.config
        for layer in layers:
            rows_in = _span(ranges.get(layer.input, (0, 0)))
            rows_out = _span(ranges.get(layer.name, (0, 0)))
            if layer.kind == "fc":
                continue
            if max(rows_in, rows_out) > cfg.lanes:
                return "lanes (rows of a band)", max(rows_in, rows_out), cfg.lanes
            per_lane = math.ceil(layer.out_channels / k_tiles / self._split(rows_out or 1))
            if rows_out and per_lane > cfg.kmerger_radix:
                return "kmerger_radix (channels per backend lane)", per_lane, cfg.kmerger_radix
        context = self._band_context_bytes(layers, ranges, k_tiles)
        if context > cfg.context_bytes:
            return "context_bytes (per lane)", context, cfg.context_bytes
        # A lone layer streams its inputs from DRAM in step and needs no queue slack to be
        # correct; in a pipeline, a queue that cannot hold a skip stream's lag would deadlock.
        if len(layers) > 1:
            queue = self._queue_bytes(layers, ranges, k_tiles)
            if queue > cfg.queue_bytes:
                return "queue_bytes (per lane)", queue, cfg.queue_bytes
        return None

    def _fits(self, layers, ranges, k_tiles):
        return self._overflow(layers, ranges, k_tiles) is None

    def _misfit(self, layers):
        """Why no plan fits ``layers``: the buffer, what it needs and what it has."""
        cfg = self.config
        mergers = _mergers_needed(layers)
        filters = sum(filter_bytes(layer, cfg.numerics) for layer in layers if layer.kind != "fc")
        if mergers > cfg.layers_in_flight:
            what, needed, available = "layers_in_flight (mergers per lane)", mergers, \
                cfg.layers_in_flight
        elif len(layers) > 1 and filters > cfg.filter_buffer_bytes:
            what, needed, available = "filter_buffer_bytes", filters, cfg.filter_buffer_bytes
        else:
            most_rows = max(self._workload.tensor(layer.name).rows for layer in layers)
            k_tiles = 1  # only a lone layer may tile K
            while len(layers) == 1 and 2 * k_tiles <= layers[0].out_channels:
                k_tiles *= 2
            found = [self._overflow(layers, self._band_ranges(layers, most_rows, b), k_tiles)
                     for b in range(most_rows)]
            what, needed, available = max((f for f in found if f), key=lambda f: f[1] / f[2])
        return (f"{what} needs {needed:g}, the configuration has {available:g}; raise it or "
                f"give the layer fewer channels")

    def _plan(self, layers, *, allow_k_tiles=True):
        key = tuple(layer.name for layer in layers)
        if key not in self._plans:
            self._plans[key] = self._search(layers, allow_k_tiles)
        return self._plans[key]

    def _search(self, layers, allow_k_tiles):
        cfg, n = self.config, self.config.numerics
        if _mergers_needed(layers) > cfg.layers_in_flight:
            return None
        filters = sum(filter_bytes(layer, n) for layer in layers if layer.kind != "fc")
        k_tiles = 1
        if filters > cfg.filter_buffer_bytes:
            if not allow_k_tiles or len(layers) > 1:
                return None
            k_tiles = math.ceil(filters / cfg.filter_buffer_bytes)
        most_rows = max(self._workload.tensor(layer.name).rows for layer in layers)
        fewest = math.ceil(most_rows / cfg.lanes)
        while True:
            for bands in range(fewest, most_rows + 1):
                # The middle band carries the most halo: test it first.
                order = [bands // 2] + [b for b in range(bands) if b != bands // 2]
                if all(self._fits(layers, self._band_ranges(layers, bands, b), k_tiles)
                       for b in order):
                    ranges = [self._band_ranges(layers, bands, b) for b in range(bands)]
                    return _Plan(layers, bands, k_tiles, ranges)
            if not allow_k_tiles or len(layers) > 1 or k_tiles >= layers[0].out_channels:
                return None
            k_tiles *= 2  # context or queues too small even one row per band: tile K further

    # -- costing --------------------------------------------------------------------------------

    def _cost(self, plan):
        key = tuple(layer.name for layer in plan.layers)
        if key not in self._costs:
            self._costs[key] = self._evaluate(plan)
        return self._costs[key]

    def _traffic(self, plan):
        """DRAM bytes of a group, by tensor kind."""
        w, n = self._workload, self.config.numerics
        names = {layer.name for layer in plan.layers}
        traffic = dict.fromkeys(TRAFFIC_KINDS, 0.0)
        traffic["weights"] = sum(filter_bytes(layer, n) for layer in plan.layers)
        read = set()
        for layer in plan.layers:
            for source in (layer.input, layer.residual):
                if source is None or source in names or source in read:
                    continue
                read.add(source)
                t = w.tensor(source)
                rows_read = sum(_span(r.get(source, (0, 0))) for r in plan.ranges)
                traffic["input"] += activation_bytes(t, n) * rows_read / t.rows * plan.k_tiles
            if self._terminal(layer.name, names):
                traffic["output"] += activation_bytes(w.tensor(layer.name), n)
        return traffic

    def _evaluate(self, plan):
        cfg = self.config
        traffic = self._traffic(plan)
        compute = merger = overhead = macs = 0.0
        for ranges in plan.ranges:
            lanes_work = np.zeros(cfg.lanes)
            slowest_merger = merge_work = fill = 0.0
            for layer in plan.layers:
                work, layer_macs = self._pe_work(layer, ranges, plan.k_tiles)
                k_tokens, skip_tokens = self._merger_tokens(layer, ranges, plan.k_tiles)
                lanes_work += work
                macs += layer_macs
                slowest_merger = max(slowest_merger, k_tokens, skip_tokens)
                merge_work += k_tokens + skip_tokens
                tokens = max(k_tokens, skip_tokens)
                if self.pooled_mergers:
                    tokens = (k_tokens + skip_tokens) / cfg.layers_in_flight
                own = max(work.max() / cfg.pes_per_lane, tokens)
                columns = 1 if layer.kind == "fc" else layer.out_cols
                fill += own * ((layer.kernel_cols - 1 - layer.padding_cols) / layer.stride + 1) \
                    / columns
            compute += lanes_work.max() / cfg.pes_per_lane
            merger += merge_work / cfg.layers_in_flight if self.pooled_mergers else \
                slowest_merger
            overhead += self.dram_latency_cycles + fill * plan.k_tiles
        memory = sum(traffic.values()) / cfg.dram_bytes_per_cycle
        tiles = plan.k_tiles
        return GroupResult(tuple(layer.name for layer in plan.layers), len(plan.layers) > 1,
                           plan.bands, compute * tiles, merger * tiles, memory, overhead,
                           macs * tiles, traffic, self._buffers(plan))

    def _buffers(self, plan):
        """On-chip occupancy of a plan: filter buffer, and per lane the fullest band's context
        array and queues (a lone layer's queues only need to hold one column in step)."""
        n = self.config.numerics
        layers = plan.layers
        filters = sum(filter_bytes(layer, n) for layer in layers if layer.kind != "fc")
        return {
            "filter": filters / plan.k_tiles,
            "context": max(self._band_context_bytes(layers, r, plan.k_tiles)
                           for r in plan.ranges),
            "queue": max(self._queue_bytes(layers, r, plan.k_tiles) for r in plan.ranges)
            if len(layers) > 1 else 0.0,
        }

    def _pe_work(self, layer, ranges, k_tiles):
        """PE cycles each frontend lane spends on ``layer`` in one band, and the MACs done."""
        cfg, w = self.config, self._workload
        lanes = np.zeros(cfg.lanes)
        out_rng = ranges.get(layer.name, (0, 0))
        if _span(out_rng) == 0:
            return lanes, 0.0
        dw = layer.weight_density
        row_nnz = w.row_nonzeros(layer.input)
        if layer.kind == "fc":
            # Input-stationary SpMV: the input nonzeros are dealt round-robin to the lanes.
            nnz = float(row_nnz.sum())
            slots = expected_ceil_binomial(layer.out_channels / k_tiles, dw, cfg.macs_per_pe)
            lanes += math.ceil(nnz / cfg.lanes) * slots
            return lanes, nnz * layer.out_channels / k_tiles * dw
        in_rng = ranges[layer.input]
        split = self._split(_span(in_rng))
        pooling = not layer.multiplies
        # Outputs each input feeds, per valid r: over a row, every (q, s) pair with an input
        # column inside the tensor, averaged over the columns.
        per_column = sum(1 for q in range(layer.out_cols) for s in range(layer.kernel_cols)
                         if 0 <= q * layer.stride - layer.padding_cols + s < layer.in_cols)
        per_column /= layer.in_cols
        fiber_k = 1 if pooling else layer.out_channels // layer.groups / k_tiles
        macs = 0.0
        for i, h in enumerate(range(*in_rng)):
            valid_r = sum(1 for r in range(layer.kernel)
                          if (h + layer.padding - r) % layer.stride == 0
                          and out_rng[0] <= (h + layer.padding - r) // layer.stride < out_rng[1])
            fiber = valid_r * per_column * fiber_k
            nnz = float(row_nnz[h])
            if pooling:  # one comparison or addition per (input, window position)
                work = nnz * fiber / split / cfg.macs_per_pe
            elif layer.groups > 1:  # channels, not fibers, are split across the lanes
                work = nnz / split * expected_ceil_binomial(fiber, dw, cfg.macs_per_pe)
                macs += nnz * fiber * dw
            else:
                work = nnz * expected_ceil_binomial(fiber / split, dw, cfg.macs_per_pe)
                macs += nnz * fiber * dw
            lanes[i * split:(i + 1) * split] += work
        return lanes, macs

    def _merger_tokens(self, layer, ranges, k_tiles):
        """Cycles the busiest lane's mergers of ``layer`` take in one band: its backend merger
        (the nonzero accumulations ``T2`` at ``merger_tokens_per_cycle``, plus a cycle per column
        marker) and, for a residual add, the merger that adds the skip stream (the union of the
        two streams' nonzeros, one a cycle)."""
        w = self._workload
        rows_out = _span(ranges.get(layer.name, (0, 0)))
        if rows_out == 0 or layer.kind == "fc":
            return 0.0, 0.0
        split = self._split(rows_out)
        positions = layer.out_cols * math.ceil(layer.out_channels / k_tiles / split)
        d_in = w.tensor(layer.input).density
        if layer.multiplies:
            density = accumulation_density(layer.products_per_output, layer.weight_density, d_in)
        else:
            density = w.tensor(layer.name).density
        skip = 0.0
        if layer.residual:
            skip = 1 - (1 - density) * (1 - w.tensor(layer.residual).density)
        return (positions * density / self.merger_tokens_per_cycle + layer.out_cols,
                positions * skip)


def predict_layer_cycles(config, workload, *, memory=None, **model_options):
    """Cycles ISOSceles takes on each layer of ``workload`` run one layer at a time.

    Two kinds of workload, two models:

    * a drawn workload (:func:`isosceles.golden.workload_file.load_workload`: layers with
      tensors, ``conv_arguments()`` and ``pou``): each layer is costed on the RTL's core by
      :func:`isosceles.perf.core_cycles.predict_conv_cycles`, from the layer's exact counts
      (fiber words walked, live partial sums retired, tokens merged and post-processed, band by
      band). This is the prediction calibrated against the core's measured cycles
      (``docs/architecture.md``); ``memory`` (a function of a band's
      :class:`~isosceles.perf.core_cycles.BandCycles`) adds the memory side's cycles per band;
    * a :class:`~isosceles.perf.workloads.Workload` of densities: :class:`IsoscelesModel`
      with ``model_options`` (``dram_latency_cycles``, ``queue_slack_columns``,
      ``merger_tokens_per_cycle``, ``pooled_mergers``), one layer a group: expectations at the
      paper's level of detail, not calibrated against the RTL.

    Returns
    -------
    dict
        Layer name -> predicted cycles (an ``int``, rounded up), in execution order.
    """
    if not isinstance(config, IsoscelesConfig):
        raise ValueError(f"config must be an IsoscelesConfig, not {config!r}")
    if not isinstance(workload, Workload):
        cycles = {}
        for layer in workload.layers:
            i, f, stride, padding, groups = layer.conv_arguments(config.numerics)
            cycles[layer.name] = predict_conv_cycles(config, i, f, stride=stride,
                                                     padding=padding, groups=groups,
                                                     pou=layer.block_pou(config.numerics),
                                                     memory=memory)
        return cycles
    if memory is not None:
        raise ValueError("memory is a term of the core model, for a drawn workload; a Workload "
                         "of densities takes dram_latency_cycles instead")
    result = IsoscelesModel(config, pipelined=False, **model_options).run(workload)
    return {group.layers[0]: math.ceil(group.cycles) for group in result.groups}
