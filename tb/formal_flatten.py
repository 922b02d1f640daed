"""Formal view of the flattener: each data token's channel in the flat row, and only the last
row's last marker kept."""

from amaranth import Signal

from isosceles.hw.flatten import RowFlattener
from isosceles.tb.formal import FormalView, any_const, any_seq, mutant
from isosceles.tb.formal_rmerger import NARROW

__all__ = ["RowFlattenerView", "make_views", "broken_views"]

MAX_CHANNELS, MAX_COLUMNS = 7, 2


class RowFlattenerView(FormalView):
    """Up to 7 flat channels, rows of up to two columns, any ``C``, ``enable`` and ``final``.

    Assumed: ``enable`` and ``C`` fixed; ``final`` held and no ``start`` while a token waits on
    ``i`` (both belong to whole rows); every flat channel ``markers * C + c`` below
    ``max_channels`` (the unit's precondition ``H*W*C <= max_channels``), counting the markers
    taken since ``start``. Checked, enabled: a data token leaves as ``(0, markers * C + c,
    value)``; a marker leaves, as the one column's marker with ``last``, exactly when it is
    the last of the final row, and is otherwise taken without waiting on ``o``. Disabled: every
    token passes unchanged.
    """

    driven = ("enable", "C", "final", "start")

    def properties(self, m, props, unit):
        i, o = unit.i, unit.o
        m.d.comb += [unit.enable.eq(any_const(1)), unit.C.eq(any_const(len(unit.C))),
                     unit.final.eq(any_seq(1)), unit.start.eq(any_seq(1))]
        token = i.payload
        waiting = props.past(i.valid & ~i.ready, name="waiting")
        props.assume(unit.final == props.past(unit.final), when=waiting)
        props.assume(~unit.start, when=i.valid & ~i.ready)
        markers = Signal(range(MAX_COLUMNS * MAX_CHANNELS + 1))
        with m.If(unit.start):
            m.d.sync += markers.eq(0)
        with m.Elif(i.valid & i.ready & token.marker & (markers != MAX_COLUMNS * MAX_CHANNELS)):
            m.d.sync += markers.eq(markers + 1)
        flat = markers * unit.C + token.c
        props.assume(flat < MAX_CHANNELS, when=unit.enable & i.valid & ~token.marker)
        kept = ~token.marker | (token.last & unit.final)
        props.check("enabled: a data token leaves at its flat channel, in column 0",
                    o.valid & (o.payload.w == 0) & (o.payload.c == flat)
                    & (o.payload.value == token.value) & ~o.payload.marker,
                    when=unit.enable & i.valid & ~token.marker)
        props.check("enabled: only the final row's last marker leaves, as the last",
                    (o.valid == kept) & (i.ready == (o.ready | ~kept))
                    & (~kept | ((o.payload.w == 0) & (o.payload.c == 0) & o.payload.last)),
                    when=unit.enable & i.valid & token.marker)
        props.check("disabled: every token passes unchanged",
                    (o.valid == i.valid) & (o.payload.as_value() == token.as_value())
                    & (i.ready == o.ready), when=~unit.enable)
        props.cover("a data token of the third column leaves at a flat channel above C",
                    unit.enable & o.valid & o.ready & (markers == 2) & (unit.C == 2)
                    & ~token.marker)
        props.cover("the final marker leaves", unit.enable & o.valid & o.ready & token.marker)


def _flattener(cls=RowFlattener):
    return cls(numerics=NARROW, max_channels=MAX_CHANNELS, max_columns=MAX_COLUMNS)


FinalBlindFlattener = mutant(
    RowFlattener, "drop = self.enable & token.marker & ~(token.last & self.final)",
    "drop = self.enable & token.marker & ~token.last", name="FinalBlindFlattener")
ChannelMarkerFlattener = mutant(
    RowFlattener, "self.o.payload.c.eq(Mux(token.marker, 0, base + token.c))",
    "self.o.payload.c.eq(base + token.c)", name="ChannelMarkerFlattener")


def make_views():
    return [RowFlattenerView(_flattener(), depth=8)]


def broken_views():
    """(view of a broken variant, the property its check must fail, or a tuple of those it
    may fail first)."""
    return [
        (RowFlattenerView(_flattener(FinalBlindFlattener), depth=8),
         "enabled: only the final row's last marker leaves"),
        (RowFlattenerView(_flattener(ChannelMarkerFlattener), depth=8),
         "enabled: only the final row's last marker leaves"),
    ]
