"""The POU loader: a layer's POU table read from memory into the POU's parameter table."""

from amaranth import Module, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import WritePort
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from isosceles.gen.config import bits_for
from isosceles.golden.checks import check_int
from isosceles.golden.numerics import DEFAULT_NUMERICS, check_numerics
from isosceles.hw.pou import channel_params_layout
from isosceles.hw.words import WORD_BITS, request_layout

__all__ = ["PouLoader", "pou_loader_config_layout"]


def pou_loader_config_layout(*, addr_width, max_channels):
    """Where the POU table is (byte address) and its entries ``K``."""
    return data.StructLayout({"table_addr": unsigned(addr_width),
                              "K": unsigned(bits_for(max_channels + 1))})


def _fits_signed(value, bits):
    """``value`` (a 32-bit field) is the sign extension of its low ``bits`` bits."""
    if bits >= len(value):
        return 1
    top = value[bits - 1:]
    return (top == 0) | (top == (1 << len(top)) - 1)


class PouLoader(wiring.Component):
    """Reads the ``K`` entries of a POU table (``docs/memory.md``: bits 31..0 bias, 55..32
    mult, 61..56 shift) in one request ``{table_addr, 2K}`` and writes each through
    ``param_write`` (the :class:`~isosceles.hw.pou.Pou`'s) as its second word arrives: one
    entry every two words, a word a cycle.

    An entry the format or the POU's ``numerics`` cannot hold (reserved bits 63..62 set, a bias
    beyond ``bias_bits``, a mult beyond ``mult_bits``, a shift beyond ``shift_bits``) sets the
    sticky ``status.format_error`` (cleared by ``start``); no entry is written from then on,
    but every word is taken, so the memory client does not hang. ``status.busy`` falls once
    the last word is taken.

    Parameters
    ----------
    numerics : Numerics
        The POU's: ``bias_bits``, ``mult_bits``, ``shift_bits``.
    max_channels : int
        The POU's ``max_channels`` (1 to 4096).
    addr_width : int
        Byte address width (8 to 64).

    Members
    -------
    config : ``In(pou_loader_config_layout)``
    start : ``In(1)``
    req : ``Out(stream.Signature(request_layout))``
    word : ``In(stream.Signature(32))``
    param_write : ``In(WritePort.Signature)``
        Drives the POU's parameter table.
    status : ``Out(StructLayout{busy, format_error})``
    """

    lint_waivers = {
        "UNUSEDSIGNAL": "Amaranth's Verilog keeps named wires that its logic reads through "
                        "temporaries (channel); the loader has no unused signal",
    }

    def __init__(self, *, numerics=DEFAULT_NUMERICS, max_channels, addr_width=32):
        self._MustUse__silence = True  # only cleared below, once the parameters are valid
        check_numerics(numerics)
        check_int("max_channels", max_channels, 1, 4096)
        check_int("addr_width", addr_width, 8, 64)
        self._MustUse__silence = False
        self._numerics = numerics
        self.config_layout = pou_loader_config_layout(addr_width=addr_width,
                                                      max_channels=max_channels)
        self.params_layout = channel_params_layout(numerics=numerics)
        super().__init__({
            "config": In(self.config_layout),
            "start": In(1),
            "req": Out(stream.Signature(request_layout(addr_width=addr_width,
                                                       max_words=2 * max_channels))),
            "word": In(stream.Signature(WORD_BITS)),
            "param_write": In(WritePort.Signature(addr_width=ceil_log2(max_channels),
                                                  shape=self.params_layout)),
            "status": Out(data.StructLayout({"busy": 1, "format_error": 1})),
        })

    def elaborate(self, platform):
        m = Module()
        numerics = self._numerics
        config = Signal(self.config_layout)
        busy, error = self.status.busy, self.status.format_error
        channel = Signal.like(config.K)
        high = Signal()           # the next word is an entry's upper half
        bias = Signal(32)

        head = self.word.payload
        mult, shift = head[:24], head[24:30]
        bad = (head[30:32] != 0) | ~_fits_signed(bias, numerics.bias_bits) \
            | (mult >> numerics.mult_bits != 0) | (shift >> numerics.shift_bits != 0)

        m.d.comb += self.word.ready.eq(busy)
        taken = self.word.valid & self.word.ready
        m.d.comb += [self.param_write.en.eq(taken & high & ~bad & ~error),
                     self.param_write.addr.eq(channel), self.param_write.data.bias.eq(bias),
                     self.param_write.data.mult.eq(mult), self.param_write.data.shift.eq(shift)]
        with m.If(taken & ~high):
            m.d.sync += [bias.eq(head), high.eq(1)]
        with m.If(taken & high):
            m.d.sync += [high.eq(0), channel.eq(channel + 1)]
            with m.If(bad):
                m.d.sync += error.eq(1)
            with m.If(channel + 1 == config.K):
                m.d.sync += busy.eq(0)

        with m.If(self.req.ready):
            m.d.sync += self.req.valid.eq(0)
        with m.If(self.start & ~busy):
            m.d.sync += [config.eq(self.config), busy.eq(self.config.K != 0), error.eq(0),
                         channel.eq(0), high.eq(0), self.req.valid.eq(self.config.K != 0),
                         self.req.payload.addr.eq(self.config.table_addr),
                         self.req.payload.words.eq(self.config.K * 2)]
        return m
