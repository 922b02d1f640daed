"""The units ``isosceles generate`` and ``isosceles synth`` build: name -> factory from a config.

Each factory returns the component built from an :class:`~isosceles.gen.config.IsoscelesConfig`
and the parameters it was built with (what the manifest and the C header publish). Adding a unit
is one entry in :data:`UNITS`; ``DEFAULT_UNIT`` names the top level ``generate`` and ``synth``
build when no ``--unit`` is given: the block.
"""

from collections.abc import Callable
from dataclasses import dataclass

from amaranth.lib.wiring import In

from isosceles.gen.config import bits_for

__all__ = ["UNITS", "DEFAULT_UNIT", "PORT_RENAMES", "BUS_PORTS", "Unit", "build_unit", "unit_names",
           "unit_list", "verilog_ports"]

# Ports whose names are Verilog keywords, which Yosys would write as escaped identifiers
# (`\config `) that not every tool accepts in a top module's port list.
PORT_RENAMES = {"config": "cfg"}
# Bus interfaces named as vendor tools and cocotbext-axi expect: s_axil_awaddr, m_axi_rdata.
BUS_PORTS = {"s_axil", "m_axi"}


@dataclass(frozen=True)
class Unit:
    """A unit of the generator: ``build(config) -> (component, parameters)`` and a summary."""

    build: Callable
    summary: str


def verilog_ports(component):
    """The ``ports=`` of Amaranth's ``convert`` for ``component``: its signature's ports as
    Amaranth names them (``i__payload``, ``fiber__0__valid``), with :data:`PORT_RENAMES`
    applied to the first name of the path."""
    from amaranth.hdl import ValueCastable
    from amaranth.hdl._ir import PortDirection

    ports = {}
    for path, member, value in component.signature.flatten(component):
        if isinstance(value, ValueCastable):
            value = value.as_value()
        separator = "_" if path[0] in BUS_PORTS else "__"
        name = separator.join(map(str, (PORT_RENAMES.get(path[0], path[0]), *path[1:])))
        ports[name] = (value, PortDirection.Input if member.flow == In else
                       PortDirection.Output)
    return ports


def _numerics(config):
    return vars(config.numerics).copy()


def _pe(config):
    from isosceles.hw.pe import FrontendLane

    lane = FrontendLane.from_config(config)
    return lane, dict(lane.parameters)


def _block(config):
    from isosceles.hw.block import ADDR_WIDTH, IsosBlock

    params = dict(lanes=config.lanes, macs_per_pe=config.macs_per_pe,
                  max_kernel=config.max_kernel, max_channels=config.max_channels,
                  max_columns=config.max_columns, axi_data_width=config.axi_data_width,
                  axi_addr_width=ADDR_WIDTH)
    return IsosBlock(config), params


def _core(config):
    from isosceles.hw.core import IsosCore

    params = dict(lanes=config.lanes, macs_per_pe=config.macs_per_pe,
                  max_kernel=config.max_kernel, max_channels=config.max_channels,
                  max_columns=config.max_columns)
    return IsosCore(config), params


def _rmerger(config):
    from isosceles.hw.rmerger import RMerger

    params = dict(radix=config.max_kernel, max_columns=config.max_columns)
    return RMerger(numerics=config.numerics, **params), params


def _row_merger(config):
    from isosceles.hw.row_merger import RowMerger

    params = dict(radix=config.max_kernel, max_channels=config.max_channels,
                  max_columns=config.max_columns)
    return RowMerger(numerics=config.numerics, **params), params


def _merge_adder(config):
    from isosceles.hw.merge_adder import MergeAdder

    params = dict(max_channels=config.max_channels, max_columns=config.max_columns)
    return MergeAdder(numerics=config.numerics, **params), params


def _kmerger(config):
    from isosceles.hw.kmerger import KMerger

    params = dict(radix=config.kmerger_radix, max_columns=config.max_columns)
    return KMerger(numerics=config.numerics, **params), params


def _pou(config):
    from isosceles.hw.pou import Pou

    params = dict(max_channels=config.max_channels, max_columns=config.max_columns)
    return Pou(numerics=config.numerics, **params), params


def _queue(config):
    from isosceles.hw.pe import input_layout
    from isosceles.hw.queue import MultiContextQueue

    layout = input_layout(numerics=config.numerics, max_channels=config.max_channels,
                          max_columns=config.max_columns)
    # As MultiContextQueue.from_config: queue_bytes of tokens, one context per layer in flight.
    params = dict(contexts=config.layers_in_flight, depth=config.queue_bytes * 8 // layout.size)
    return MultiContextQueue(layout=layout, **params), {**params, "token_bits": layout.size}


def _heap(config):
    from isosceles.hw.heap import PipelinedHeap

    # The K-merger's heap: key (q, k), payload the value.
    params = dict(capacity=config.kmerger_radix,
                  key_bits=bits_for(config.max_columns) + bits_for(config.kmerger_radix),
                  payload_bits=config.numerics.acc_bits)
    return PipelinedHeap(**params), params


def _stream_buffer(config):
    from isosceles.hw.pe import t1_layout
    from isosceles.hw.stream_buffer import StreamBuffer

    # The register slice of a link between lanes, which carries T1 tokens.
    layout = t1_layout(numerics=config.numerics, max_kernel=config.max_kernel,
                       max_channels=config.max_channels, max_columns=config.max_columns)
    return StreamBuffer(layout=layout), dict(token_bits=layout.size)


UNITS = {
    "block": Unit(_block, "IS-OS block: the core with its memory side, AXI4 master and AXI4-Lite "
                          "registers (the top level)"),
    "core": Unit(_core, "IS-OS core: lanes frontend lanes, fan-outs, row mergers, POUs (I -> O)"),
    "pe": Unit(_pe, "frontend lane: filter buffer, coarse-grain PE, context array (I -> T1)"),
    "rmerger": Unit(_rmerger, "R-merger of max_kernel T1 fibers (T1 -> T2)"),
    "row_merger": Unit(_row_merger, "row merger: (q, k) merge of max_kernel T1 substreams"),
    "merge_adder": Unit(_merge_adder, "merge adder: a residual add of two lane streams I"),
    "kmerger": Unit(_kmerger, "K-merger of kmerger_radix T2 fibers, with its heap"),
    "pou": Unit(_pou, "post-processing unit: bias, requantisation, ReLU (-> O)"),
    "queue": Unit(_queue, "multi-context queue of lane-stream I tokens, queue_bytes a lane"),
    "heap": Unit(_heap, "pipelined heap of the K-merger, kmerger_radix entries"),
    "stream_buffer": Unit(_stream_buffer, "registered skid buffer of a T1 link"),
}
DEFAULT_UNIT = "block"


def unit_names():
    return ", ".join(UNITS)


def unit_list():
    """One line per unit: its name and summary (for ``--help``)."""
    return "\n".join(f"  {name:<14} {unit.summary}" for name, unit in UNITS.items())


def build_unit(name, config):
    """``(component, parameters)`` of unit ``name`` built from ``config``; the numerics widths are
    part of the parameters."""
    if name not in UNITS:
        raise ValueError(f"unit must be one of {unit_names()}, not {name!r}")
    component, params = UNITS[name].build(config)
    return component, {**params, **_numerics(config)}
