"""The flattener: the rows of an activation tensor as one lane stream of one column, the input of
a fully connected layer."""

from amaranth import Module, Mux, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from isosceles.gen.config import bits_for
from isosceles.golden.numerics import DEFAULT_NUMERICS
from isosceles.hw.pe import input_layout

__all__ = ["RowFlattener"]


class RowFlattener(wiring.Component):
    """Renumbers the lane streams I of the rows ``h = 0 .. H-1`` of an input ``[H, W, C]``, sent
    one after another, as the single row ``[1, 1, H*W*C]`` a fully connected layer reads
    (``docs/memory.md``): a data token ``(w, c, value)`` of row ``h`` leaves as ``(0, (h*W + w)*C
    + c, value)``, every marker is dropped but the last of the last row (``final`` high), which
    leaves as the one column's marker with ``last = 1``. With ``enable`` low it passes every
    token unchanged.

    The channel offset ``(h*W + w)*C`` is counted, not multiplied: it grows by ``C`` at each
    marker; ``start`` clears it. ``H*W*C`` must not exceed ``max_channels``.

    Stream contract: combinational from ``i`` to ``o``: ``o.valid`` is ``i.valid`` (low for a
    dropped marker), ``o.payload`` a function of ``i.payload`` and of registers that change only
    at a transfer, so both keep ``i``'s guarantees; ``i.ready`` is ``o.ready``, or high for a
    marker that is dropped.

    Members
    -------
    enable : ``In(1)``
        Held for a whole layer.
    C : ``In(bits_for(max_channels + 1))``
        Channels of the input.
    final : ``In(1)``
        The row being sent is the last.
    start : ``In(1)``
    i : ``In(stream.Signature(input_layout))``
    o : ``Out(stream.Signature(input_layout))``
    """

    def __init__(self, *, numerics=DEFAULT_NUMERICS, max_channels, max_columns):
        layout = input_layout(numerics=numerics, max_channels=max_channels,
                              max_columns=max_columns)
        super().__init__({
            "enable": In(1),
            "C": In(unsigned(bits_for(max_channels + 1))),
            "final": In(1),
            "start": In(1),
            "i": In(stream.Signature(layout)),
            "o": Out(stream.Signature(layout)),
        })

    def elaborate(self, platform):
        m = Module()
        token = self.i.payload
        base = Signal.like(self.C)        # (h*W + w) * C of the column being sent
        drop = self.enable & token.marker & ~(token.last & self.final)
        m.d.comb += [
            self.o.valid.eq(self.i.valid & ~drop),
            self.i.ready.eq(self.o.ready | drop),
            self.o.payload.eq(token),
        ]
        with m.If(self.enable):
            m.d.comb += [self.o.payload.w.eq(0),
                         self.o.payload.c.eq(Mux(token.marker, 0, base + token.c))]
        with m.If(self.i.valid & self.i.ready & token.marker):
            m.d.sync += base.eq(base + self.C)
        with m.If(self.start):
            m.d.sync += base.eq(0)
        return m
