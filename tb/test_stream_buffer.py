"""The harness proven on a real component: the registered stream buffer on Verilator."""

import pytest
from amaranth import Module, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from isosceles.hw.stream_buffer import StreamBuffer
from isosceles.tb.harness import lint, run_cocotb

MODULE = "isosceles.tb.cocotb_stream_buffer"


def token_layout(value_bits):
    return data.StructLayout({"q": unsigned(6), "value": signed(value_bits), "last": 1})


def stream_buffer(*, value_bits):
    return StreamBuffer(layout=token_layout(value_bits))


class ValidDroppingBuffer(wiring.Component):
    """Breaks the stream rules on purpose: offers each token for one cycle only."""

    def __init__(self, *, value_bits):
        layout = token_layout(value_bits)
        super().__init__({"i": In(stream.Signature(layout)), "o": Out(stream.Signature(layout))})

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.i.ready.eq(~self.o.valid)
        m.d.sync += [
            self.o.valid.eq(self.i.valid & ~self.o.valid),
            self.o.payload.eq(self.i.payload),
        ]
        return m


def test_stream_buffer_under_stalls():
    run_cocotb(stream_buffer, params=dict(value_bits=16), test_module=MODULE,
               testcase="stalls_and_backpressure")


def test_stream_buffer_full_throughput():
    run_cocotb(stream_buffer, params=dict(value_bits=16), test_module=MODULE, testcase="bench")


def test_stream_buffer_lint():
    lint(stream_buffer, params=dict(value_bits=16))


def test_monitor_catches_a_rule_breaking_component():
    with pytest.raises(AssertionError, match="valid dropped at cycle"):
        run_cocotb(ValidDroppingBuffer, params=dict(value_bits=8), test_module=MODULE, seed=5,
                   testcase="stalls_and_backpressure", extra=dict(idle=0.0, backpressure=0.5))


def test_bad_layout_is_named():
    with pytest.raises(ValueError, match="layout must be"):
        StreamBuffer(layout="eight bits")
