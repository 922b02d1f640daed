"""Faults on cocotbext-axi's AXI RAM: error responses (SLVERR, DECERR) and long stalls on chosen
beats or bursts, for the block's fault benches (``tb/cocotb_block_faults.py``).

``AxiRam`` answers every beat OKAY and has no hook for errors, so :class:`FaultInjector` wraps
the three places of its read and write processes that see one beat or burst at a time: the read
of a beat's data (``_read``), the R beat it sends, and the AW burst, W beats and B response of a
write. A fault names a channel, an address range and which beat (``r``, ``w``) or burst (``b``)
in that range it hits, counting from when it is armed; it fires once."""

from dataclasses import dataclass

from cocotb.triggers import ClockCycles
from cocotbext.axi import AxiResp

__all__ = ["Fault", "FaultInjector"]


@dataclass
class Fault:
    """One fault.

    Members
    -------
    channel : str
        ``"r"``: a read beat answers ``resp`` with garbage data, or waits ``stall`` cycles
        first; ``"w"``: the memory stops taking W beats at the beat (once its channel's
        two-beat buffer is full) for ``stall`` cycles;
        ``"b"``: a write burst's response is ``resp``.
    low, high : int
        Byte addresses: the fault counts only beats (``r``) or bursts (``w``, ``b``: their
        start address) in ``[low, high)``.
    nth : int
        Which of those it hits, from 0.
    resp : AxiResp
    stall : int
        Cycles the memory waits.
    seen : int
        Beats or bursts in the range so far.
    hit : int or None
        The address it hit, once it has.
    """

    channel: str
    low: int
    high: int
    nth: int
    resp: AxiResp = AxiResp.OKAY
    stall: int = 0
    seen: int = 0
    hit: int | None = None

    def matches(self, address):
        """Count a beat or burst at ``address``; whether this fault hits it."""
        if self.hit is not None or not self.low <= address < self.high:
            return False
        self.seen += 1
        if self.seen - 1 != self.nth:
            return False
        self.hit = address
        return True

    def __str__(self):
        what = f"{self.resp.name}" if self.resp != AxiResp.OKAY else f"{self.stall}-cycle stall"
        return (f"{what} on {self.channel.upper()} {'burst' if self.channel == 'b' else 'beat'} "
                f"{self.nth} of {self.low:#x}..{self.high:#x}")


class FaultInjector:
    """Faults on an ``AxiRam`` (``ram``, clocked by ``clock``); ``rng`` (``random.Random``)
    draws the garbage data of an error beat. ``counts`` holds the R beats, W beats and write
    bursts the RAM has answered, for sizing the next fault."""

    def __init__(self, ram, clock, rng):
        self.clock, self.rng = clock, rng
        self.faults = []
        self.counts = dict(r=0, w=0, b=0)
        reader, writer = ram.read_if, ram.write_if
        self._error = None  # the response of the R beat being read
        self._burst = None  # start address of the write burst in progress
        read, send_r = reader._read, reader.r_channel.send
        receive_aw, receive_w = writer.aw_channel.recv, writer.w_channel.recv
        send_b = writer.b_channel.send

        async def read_beat(address, length):
            self.counts["r"] += 1
            for fault in self._armed("r", address):
                if fault.stall:
                    await ClockCycles(self.clock, fault.stall)
                if fault.resp != AxiResp.OKAY:
                    self._error = fault.resp
            data = await read(address, length)
            if self._error is not None:
                data = self.rng.randbytes(length)
            return data

        async def send_beat(beat):
            if self._error is not None:
                beat.rresp, self._error = self._error, None
            await send_r(beat)

        async def receive_burst():
            burst = await receive_aw()
            self._burst = int(burst.awaddr)
            self.counts["b"] += 1
            return burst

        async def receive_beat():
            self.counts["w"] += 1
            for fault in self._armed("w", self._burst):
                await ClockCycles(self.clock, fault.stall)
            return await receive_w()

        async def send_response(response):
            for fault in self._armed("b", self._burst):
                response.bresp = fault.resp
            await send_b(response)

        # The RAM's processes call these through the instance, so these wrappers take their
        # place; they survive a reset, which restarts the processes.
        reader._read, reader.r_channel.send = read_beat, send_beat
        writer.aw_channel.recv, writer.w_channel.recv = receive_burst, receive_beat
        writer.b_channel.send = send_response

    def _armed(self, channel, address):
        return [fault for fault in self.faults
                if fault.channel == channel and fault.matches(address)]

    def arm(self, fault):
        """Add ``fault``; it returns itself, so the caller can check ``fault.hit`` later."""
        self.faults.append(fault)
        return fault

    def disarm(self):
        """Remove every fault, fired or not."""
        self.faults.clear()

    def reset(self):
        """Forget the beat and burst in progress (the RAM drops them when reset)."""
        self._error = self._burst = None
