"""cocotb side of the harness: the test context, clock and reset, stream driver and monitor.

Payloads are packed and unpacked with the field tables the harness read from the component's
signature (``tb_context().layout(port)``), so no testbench hard-codes a bit position.
"""

import json
import os
import random
from dataclasses import dataclass
from dataclasses import field as dataclass_field

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge

from isosceles.tb import checked
from isosceles.tb.harness import CONTEXT_ENV

__all__ = [
    "TbContext", "tb_context", "start_clock_and_reset", "StreamDriver", "StreamMonitor",
    "StreamRuleError",
]


class StreamRuleError(AssertionError):
    """A stream broke the transfer rules (valid dropped or payload changed before the transfer)."""


@dataclass
class TbContext:
    params: dict
    extra: dict
    seed: int
    layouts: dict
    rng: random.Random
    # Stream ends made so far per port, so that each new driver or monitor of a port draws its
    # own stalls instead of repeating the previous one's.
    ends_per_port: dict = dataclass_field(default_factory=dict)

    def layout(self, port):
        """Field table of port ``port`` (or of stream ``port``'s payload): name, offset, width,
        signed of each field."""
        for name in (port, f"{port}__payload"):
            if name in self.layouts:
                return self.layouts[name]["fields"]
        raise KeyError(f"the component has no port {port!r}; it has {sorted(self.layouts)}")

    def pack(self, port, fields):
        """The integer of ``port`` holding ``fields`` (a dict; absent fields are 0)."""
        layout = self.layout(port)
        unknown = set(fields) - {field["name"] for field in layout}
        if unknown:
            raise KeyError(f"port {port!r} has no fields {sorted(unknown)}")
        word = 0
        for field in layout:
            value = int(fields.get(field["name"], 0))
            width = field["width"]
            low, high = ((-(1 << (width - 1)), (1 << (width - 1)) - 1) if field["signed"]
                         else (0, (1 << width) - 1))
            if not low <= value <= high:
                raise ValueError(
                    f"{port}.{field['name']} = {value} does not fit its {width} bits "
                    f"({'signed' if field['signed'] else 'unsigned'})"
                )
            word |= (value & ((1 << width) - 1)) << field["offset"]
        return word

    def unpack(self, port, word):
        """The dict of field values of integer ``word`` of ``port``."""
        fields = {}
        for field in self.layout(port):
            width = field["width"]
            value = (word >> field["offset"]) & ((1 << width) - 1)
            if field["signed"] and value >> (width - 1):
                value -= 1 << width
            fields[field["name"]] = value
        return fields


def tb_context():
    """The parameters, extra data, seed and port layouts handed over by ``run_cocotb``."""
    with open(os.environ[CONTEXT_ENV]) as file:
        context = json.load(file)
    return TbContext(
        params=context["params"], extra=context["extra"], seed=context["seed"],
        layouts=context["layouts"], rng=random.Random(context["seed"]),
    )


async def start_clock_and_reset(dut, *, cycles=2):
    """Start a 10 ns clock on ``clk`` and hold ``rst`` for ``cycles`` cycles."""
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    for _ in range(cycles):
        await RisingEdge(dut.clk)
    dut.rst.value = 0


async def tick(dut, cycles=1):
    """Wait ``cycles`` rising edges of ``clk``."""
    for _ in range(cycles):
        await RisingEdge(dut.clk)


async def wait_idle(dut, ctx, *, timeout, what):
    """Wait until the ``busy`` field of port ``status`` is low, then one more edge; fail after
    ``timeout`` cycles naming ``what``."""
    for _ in range(timeout):
        await ReadOnly()
        if not ctx.unpack("status", int(dut.status.value))["busy"]:
            await RisingEdge(dut.clk)
            return
        await RisingEdge(dut.clk)
    raise AssertionError(f"{what} stayed busy for {timeout} cycles")


def check_tokens(got, expected, what, stream):
    """Assert that the ``stream`` tokens ``got`` equal ``expected``, naming the first that
    differs; count them as checked (:mod:`isosceles.tb.checked`)."""
    for index, (a, b) in enumerate(zip(got, expected, strict=False)):
        assert a == b, f"{what}: {stream} token {index} is {a}, golden {b}"
    assert len(got) == len(expected), (
        f"{what}: {len(got)} {stream} tokens, golden {len(expected)}")
    checked.tokens(stream, len(expected))


class _StreamEnd:
    """One end of stream ``port``: its signals, a seeded random source and transfer counters."""

    def __init__(self, dut, port, ctx):
        self._clk = dut.clk
        self._valid, self._ready, self._payload = (
            self._signal(dut, f"{port}__{name}") for name in ("valid", "ready", "payload"))
        self._port, self._ctx = port, ctx
        instance = ctx.ends_per_port[port] = ctx.ends_per_port.get(port, -1) + 1
        self._rng = random.Random(f"{ctx.seed}/{port}/{instance}")
        self.cycle = 0
        self.first_transfer = None
        self.last_transfer = None

    @staticmethod
    def _signal(dut, name):
        try:
            return getattr(dut, name)
        except AttributeError:
            raise AttributeError(f"the DUT has no port {name!r}") from None

    def _count_transfer(self):
        if self.first_transfer is None:
            self.first_transfer = self.cycle
        self.last_transfer = self.cycle


class StreamDriver(_StreamEnd):
    """Drives stream ``port`` of ``dut`` from token dicts, with seeded random idle cycles.

    It obeys the stream rules itself: once ``valid`` is high it stays high with the same payload
    until the transfer.
    """

    def __init__(self, dut, port, ctx, *, idle=0.0):
        super().__init__(dut, port, ctx)
        self._idle = idle
        self._valid.value = 0
        self.sent = 0

    async def send(self, tokens):
        """Send every token in order; returns once the last one has been transferred."""
        for token in tokens:
            word = self._ctx.pack(self._port, token)
            while self._idle and self._rng.random() < self._idle:
                self._valid.value = 0
                await RisingEdge(self._clk)
                self.cycle += 1
            self._valid.value = 1
            self._payload.value = word
            while True:
                await ReadOnly()
                transferred = bool(self._ready.value)
                if transferred:
                    self._count_transfer()
                await RisingEdge(self._clk)
                self.cycle += 1
                if transferred:
                    break
            self.sent += 1
        self._valid.value = 0


class StreamMonitor(_StreamEnd):
    """Receives stream ``port`` of ``dut`` with seeded random backpressure and checks its rules.

    Every cycle it checks that a token offered and not taken is still offered, unchanged, in the
    next cycle; a violation raises :class:`StreamRuleError` naming the cycle and the field.
    """

    def __init__(self, dut, port, ctx, *, backpressure=0.0):
        super().__init__(dut, port, ctx)
        self._backpressure = backpressure
        self._ready.value = 0
        self.received = []
        self._task = cocotb.start_soon(self._watch())

    async def _watch(self):
        pending = None
        while True:
            ready = not (self._backpressure and self._rng.random() < self._backpressure)
            self._ready.value = int(ready)
            await ReadOnly()
            valid = bool(self._valid.value)
            word = int(self._payload.value) if valid else None
            if pending is not None:
                if not valid:
                    raise StreamRuleError(
                        f"{self._port}: valid dropped at cycle {self.cycle} before the transfer "
                        f"of {self._ctx.unpack(self._port, pending)}"
                    )
                if word != pending:
                    before = self._ctx.unpack(self._port, pending)
                    after = self._ctx.unpack(self._port, word)
                    changed = [name for name in before if before[name] != after[name]]
                    raise StreamRuleError(
                        f"{self._port}: payload changed at cycle {self.cycle} while valid and not "
                        f"ready (fields {changed}: {before} -> {after})"
                    )
            if valid and ready:
                self.received.append(self._ctx.unpack(self._port, word))
                self._count_transfer()
                pending = None
            else:
                pending = word
            await RisingEdge(self._clk)
            self.cycle += 1

    async def receive(self, count, *, timeout_cycles=100_000):
        """Wait until ``count`` tokens have been received; return them."""
        waited = 0
        while len(self.received) < count:
            if self._task.done():
                self._task.result()  # re-raises the rule violation
            if waited >= timeout_cycles:
                raise AssertionError(
                    f"{self._port}: timed out after {timeout_cycles} cycles with "
                    f"{len(self.received)} of {count} tokens"
                )
            await RisingEdge(self._clk)
            waited += 1
        if self._task.done():
            self._task.result()
        return self.received[:count]

    def stop(self):
        """Stop receiving (``ready`` low), after re-raising any rule violation it found, so
        that another monitor can take the port."""
        self.check_rules()
        self._task.cancel()
        self._ready.value = 0

    def check_rules(self):
        """Raise the rule violation the watcher found, if any."""
        if self._task.done():
            self._task.result()
