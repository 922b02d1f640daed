"""A registered stream stage that sustains one transfer per cycle."""

from amaranth import Module, Shape
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["StreamBuffer"]


class StreamBuffer(wiring.Component):
    """A skid buffer: registers the payload and breaks the combinational ``ready`` path.

    Both ``i.ready`` and ``o.valid``/``o.payload`` come from registers, so the stage cuts every
    timing path between producer and consumer while still moving one token per cycle (a plain
    register stage can only do that by passing ``ready`` through combinationally).

    Stream contract: ``o.valid`` does not wait on ``o.ready``; ``o.payload`` is stable while
    ``o.valid & ~o.ready``; a transfer happens on a rising edge with ``valid & ready``. Tokens leave
    in arrival order, one cycle after they arrive at the earliest.

    Parameters
    ----------
    layout : Layout or Shape-castable
        Payload of both streams.
    """

    def __init__(self, *, layout):
        if not isinstance(layout, data.Layout):
            try:
                Shape.cast(layout)
            except TypeError as error:
                self._MustUse__silence = True  # a rejected component is not a forgotten one
                raise ValueError(
                    f"layout must be a data.Layout or a shape such as unsigned(8), not {layout!r}"
                ) from error
        self._layout = layout
        super().__init__({
            "i": In(stream.Signature(layout)),
            "o": Out(stream.Signature(layout)),
        })

    def elaborate(self, platform):
        m = Module()
        # The skid register holds the one token accepted while the output was stalled.
        skid = stream.Signature(self._layout).create()

        m.d.comb += self.i.ready.eq(~skid.valid)
        with m.If(self.o.ready | ~self.o.valid):
            with m.If(skid.valid):
                m.d.sync += [self.o.payload.eq(skid.payload), self.o.valid.eq(1), skid.valid.eq(0)]
            with m.Else():
                m.d.sync += [self.o.payload.eq(self.i.payload), self.o.valid.eq(self.i.valid)]
        with m.Elif(self.i.valid & self.i.ready):
            m.d.sync += [skid.payload.eq(self.i.payload), skid.valid.eq(1)]
        return m
