"""The merge adder: two sorted lane streams of one row merged on ``(w, c)`` into their
elementwise saturating sum (a residual add)."""

from amaranth import Cat, Module, Mux, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from isosceles.golden.checks import check_int
from isosceles.golden.numerics import DEFAULT_NUMERICS, check_numerics
from isosceles.hw.pe import input_layout

__all__ = ["MergeAdder"]


class MergeAdder(wiring.Component):
    """Merges the lane streams I of the same row of two activations into the lane stream of
    their sum: ``golden.layers.residual_add_streams``, token for token.

    Each input is in ``(w, marker, c)`` order (a marker after the data of its column) with one
    marker per column; both carry the markers of the same columns, ``last`` on the same final
    one, as two :class:`~isosceles.hw.fetch.RowFetcher` of one ``W`` do. The two heads are
    compared on ``(w, marker, c)``: the lower is taken alone and passes unchanged; equal data
    heads are both taken and their values added exactly and saturated once to ``act_bits``;
    equal markers are both taken and become one marker (``c`` and ``value`` 0). A sum that is
    zero is dropped (the stream carries nonzeros only); markers always pass, so the output has
    one marker per column even where every sum cancels. Rows follow one another with nothing
    in between: a row ends with its ``last`` marker and the next row's tokens merge after it.

    Stream contract: ``o.valid`` does not wait on ``o.ready``; ``o.payload`` is a register,
    stable until the transfer. ``i_a.ready`` depends on ``i_b.valid``, on both payloads and on
    the output register, never on ``i_a.valid`` itself (and ``i_b.ready`` alike). One key
    merged per cycle, one cycle of latency.

    Parameters
    ----------
    numerics : Numerics
        ``act_bits``: the width of ``value`` and of the saturated sum.
    max_channels : int
        Largest ``C`` (1 to 4096).
    max_columns : int
        Largest ``W`` (1 to 65536).

    Members
    -------
    i_a, i_b : ``In(stream.Signature(input_layout))``
    o : ``Out(stream.Signature(input_layout))``
    """

    def __init__(self, *, numerics=DEFAULT_NUMERICS, max_channels, max_columns):
        self._MustUse__silence = True  # only cleared below, once the parameters are valid
        check_numerics(numerics)
        check_int("max_channels", max_channels, 1, 4096)
        check_int("max_columns", max_columns, 1, 65536)
        self._MustUse__silence = False
        self._numerics = numerics
        layout = input_layout(numerics=numerics, max_channels=max_channels,
                              max_columns=max_columns)
        super().__init__({
            "i_a": In(stream.Signature(layout)),
            "i_b": In(stream.Signature(layout)),
            "o": Out(stream.Signature(layout)),
        })

    def elaborate(self, platform):
        m = Module()
        a, b, o = self.i_a.payload, self.i_b.payload, self.o

        def key(token):
            return Cat(Mux(token.marker, 0, token.c), token.marker, token.w)

        a_below, b_below = Signal(), Signal()
        m.d.comb += [a_below.eq(key(a) < key(b)), b_below.eq(key(b) < key(a))]
        free = ~o.valid | o.ready
        m.d.comb += [self.i_a.ready.eq(free & self.i_b.valid & ~b_below),
                     self.i_b.ready.eq(free & self.i_a.valid & ~a_below)]
        take_a = self.i_a.valid & self.i_a.ready
        take_b = self.i_b.valid & self.i_b.ready

        act_bits = self._numerics.act_bits
        total = Signal(signed(act_bits + 1))
        m.d.comb += total.eq(Mux(take_a, a.value, 0) + Mux(take_b, b.value, 0))
        high, low = (1 << (act_bits - 1)) - 1, -(1 << (act_bits - 1))
        saturated = Mux(total > high, high, Mux(total < low, low, total))
        head = Mux(take_a, a.as_value(), b.as_value())
        marker = Mux(take_a, a.marker, b.marker)
        with m.If(free):
            m.d.sync += [o.valid.eq((take_a | take_b) & (marker | (total != 0))),
                         o.payload.eq(head)]
            with m.If(marker):
                m.d.sync += [o.payload.c.eq(0), o.payload.value.eq(0)]
            with m.Else():
                m.d.sync += o.payload.value.eq(saturated)
        return m
