"""A host for the IS-OS block in cocotb: cocotbext-axi's AXI RAM as its memory and its AXI-Lite
master as the processor that loads a layer's descriptor, starts the block and reads the result
(``docs/memory.md``)."""

import random

from cocotb.triggers import RisingEdge
from cocotbext.axi import AxiBus, AxiLiteBus, AxiLiteMaster, AxiRam, AxiResp

from isosceles.hw.block import COUNTERS, DESCRIPTOR_FIELDS, BlockError, block_registers

__all__ = ["BlockHost", "LayerRun"]

_OFFSETS = {register.name: register.offset for register in block_registers()}


def _pauses(rng, probability):
    while True:
        yield rng.random() < probability


class LayerRun(dict):
    """What one run of the block left: ``error`` (a :class:`BlockError`) and the counters."""


class BlockHost:
    """Memory and host of a block under test.

    Parameters
    ----------
    dut : the block's cocotb handle (ports ``s_axil__*``, ``m_axi__*``, ``clk``, ``rst``)
    lanes : int
        The build's lanes.
    memory_bytes : int
        Size of the AXI RAM.
    stalls : float
        Probability of a pause on each of the RAM's and the AXI-Lite master's channels each
        cycle (0 for none).
    seed : int
        Seed of the pauses.
    """

    def __init__(self, dut, *, lanes, memory_bytes, stalls=0.0, seed=0):
        self.dut, self.lanes = dut, lanes
        self.ram = AxiRam(AxiBus.from_prefix(dut, "m_axi_"), dut.clk, dut.rst, size=memory_bytes)
        self.host = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axil_"), dut.clk, dut.rst)
        if stalls:
            rng = random.Random(f"{seed}/stalls")
            ram_channels = (self.ram.read_if.ar_channel, self.ram.read_if.r_channel,
                            self.ram.write_if.aw_channel, self.ram.write_if.w_channel,
                            self.ram.write_if.b_channel)
            host_channels = (self.host.read_if.ar_channel, self.host.read_if.r_channel,
                             self.host.write_if.aw_channel, self.host.write_if.w_channel,
                             self.host.write_if.b_channel)
            for channel in (*ram_channels, *host_channels):
                channel.set_pause_generator(_pauses(random.Random(rng.random()), stalls))

    async def write_register(self, name, value, *, expect=AxiResp.OKAY):
        """Write ``value`` to register ``name``; fails unless the block answers ``expect``
        (any answer if None). Returns the answer."""
        response = await self.host.write(_OFFSETS[name], int(value).to_bytes(4, "little"))
        assert expect is None or response.resp == expect, (
            f"write of {value:#x} to {name}: the block answered {response.resp!r}, not "
            f"{AxiResp(expect)!r}")
        return response.resp

    async def read_register(self, name, words=1):
        value = 0
        for word in range(words):  # low word first: it latches the high one
            value |= await self.host.read_dword(_OFFSETS[name] + 4 * word) << 32 * word
        return value

    async def run(self, descriptor, *, timeout_cycles, poll_cycles=50):
        """Load ``descriptor`` (``LayerImage.descriptor()``), start the block and wait until it
        is done; a :class:`LayerRun`. Fails naming the block's state after ``timeout_cycles``."""
        await self.start(descriptor)
        return await self.finish(timeout_cycles=timeout_cycles, poll_cycles=poll_cycles)

    async def start(self, descriptor):
        """Load ``descriptor`` and start the block."""
        for name in DESCRIPTOR_FIELDS:
            await self.write_register(name.lower(), int(descriptor[name]) & 0xFFFF_FFFF)
        await self.write_register("control", 1)

    async def finish(self, *, timeout_cycles, poll_cycles=50):
        """Poll ``status`` until the run started last is done; a :class:`LayerRun`."""
        waited = 0
        while True:
            status = await self.read_register("status")
            if not status & 1:
                break
            if waited >= timeout_cycles:
                raise AssertionError(f"deadlock: the block is still busy after {waited} cycles "
                                     f"({self.state()})")
            for _ in range(poll_cycles):
                await RisingEdge(self.dut.clk)
            waited += poll_cycles
        assert status & 2, f"status {status:#x}: busy fell without done"
        run = LayerRun(error=BlockError(status >> 4 & 0xF))
        for name in COUNTERS:
            run[name] = await self.read_register(name, words=2)
        return run

    def state(self):
        """The block's units, busy or not, for a deadlock report."""
        dut = self.dut
        parts = [f"core status {int(dut.core.status.value):#x}"]
        for name in ("filters", "pou"):
            parts.append(f"{name} status {int(getattr(dut, name).status.value):#x}")
        for lane in range(self.lanes):
            fetcher, writer = getattr(dut, f"fetcher{lane}"), getattr(dut, f"writer{lane}")
            parts.append(f"lane {lane}: fetcher {int(fetcher.status.value):#x}, writer "
                         f"{int(writer.status.value):#x}")
        return "; ".join(parts)
