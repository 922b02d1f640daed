"""Formal view of the POU: every result is ``requantize`` of its input, for any value and table."""

from amaranth import Array, Const, Mux, Signal, signed

from isosceles.hw.pou import Pou
from isosceles.tb.formal import FormalView, any_const, any_seq, mutant
from isosceles.tb.formal_rmerger import NARROW

__all__ = ["PouView", "requantize_expression", "make_views", "broken_views"]


def requantize_expression(m, x, bias, mult, shift, relu, *, numerics):
    """:func:`isosceles.golden.numerics.requantize` as an Amaranth expression, written from its
    declaration (exact product, ``(y + 2**(shift-1)) >> shift``, saturation, ReLU) and not
    from the RTL's ``((2y >> shift) + 1) >> 1``."""
    wide = signed(numerics.pou_product_bits + 2)
    y, rounded, result = Signal(wide), Signal(wide), Signal(signed(numerics.act_bits))
    low, high = numerics.act_range
    m.d.comb += [
        y.eq((x + bias) * mult),
        rounded.eq((y + Mux(shift == 0, 0, Const(1, 1) << (shift - 1)[:len(shift)])) >> shift),
        result.eq(Mux(rounded > high, high, Mux(rounded < low, low, rounded))),
    ]
    return Mux(relu & (result < 0), 0, result)


class PouView(FormalView):
    """A two-channel POU with 3-bit sums and 2-bit parameters, any table and any layer.

    Assumed: ``config`` is fixed; the table is written only between columns while no token
    has been on ``i`` or ``o`` for five cycles (between layers is a special case); data tokens
    of a column come in increasing ``k``, then its marker. The view keeps a copy of the table
    and counts columns on ``i`` and on ``o``. Checked for one data token the solver chooses:
    its result is
    ``requantize(x, bias[k], mult[k], shift[k])`` of the table when it entered, and leaves in its
    column exactly once when nonzero. For one channel and column the solver chooses, if the
    column had no data token of that channel: the channel leaves as its fill,
    ``requantize(0, ...)``, exactly once when that is nonzero and ``k < K``, and never otherwise.
    """

    driven = ("config", "param_write")

    def properties(self, m, props, unit):
        numerics = NARROW
        config, write, i, o = unit.config, unit.param_write, unit.i, unit.o
        m.d.comb += [config.eq(any_const(len(config.as_value()))),
                     write.en.eq(any_seq(1)), write.addr.eq(any_seq(len(write.addr))),
                     write.data.eq(any_seq(len(write.data.as_value())))]
        channels = 1 << len(write.addr)
        table = [Signal(unit.params_layout, name=f"table{k}") for k in range(channels)]
        for k in range(channels):
            with m.If(write.en & (write.addr == k)):
                m.d.sync += table[k].eq(write.data)
        busy = Signal(5)
        m.d.sync += busy.eq((busy << 1) | i.valid | o.valid)

        def result(x, k):
            entry = Array(table)[k]
            return requantize_expression(m, x, entry.bias, entry.mult, entry.shift,
                                         config.relu, numerics=numerics)

        taken, sent = i.valid & i.ready, o.valid & o.ready
        head, out = i.payload, o.payload
        column_in, column_out = Signal(3), Signal(3)
        last_k, any_k = Signal.like(head.k), Signal()
        with m.If(taken & head.marker):
            m.d.sync += [column_in.eq(column_in + 1), any_k.eq(0)]
        with m.Elif(taken):
            m.d.sync += [last_k.eq(head.k), any_k.eq(1)]
        m.d.sync += column_out.eq(column_out + (sent & out.marker))
        props.assume(~any_k | (head.k > last_k), when=i.valid & ~head.marker)
        # Between layers: no column begun (a fill decided before a write stays decided) and
        # nothing in flight.
        props.assume(~write.en, when=any_k | (busy != 0) | i.valid | o.valid)

        # One data token.
        tracking, done, seen = Signal(), Signal(), Signal()
        k_t, column_t = Signal.like(head.k), Signal.like(column_in)
        expected = Signal(signed(numerics.act_bits))
        with m.If(taken & ~head.marker & any_seq(1) & ~tracking & ~done):
            m.d.sync += [tracking.eq(1), k_t.eq(head.k), column_t.eq(column_in),
                         expected.eq(result(head.value, head.k))]
        here = tracking & (column_out == column_t)
        mine = here & sent & ~out.marker & (out.k == k_t)
        props.check("a data token leaves as requantize of its value, once",
                    (out.value == expected) & (expected != 0) & ~seen, when=mine)
        with m.If(mine):
            m.d.sync += seen.eq(1)
        props.check("a nonzero result leaves before its column's marker",
                    seen | (expected == 0), when=here & sent & out.marker)
        with m.If(here & sent & out.marker):
            m.d.sync += [tracking.eq(0), done.eq(1)]

        # One channel of one column with no data token of it.
        k_f, column_f = any_const(len(head.k)), any_const(len(column_in))
        present, filled = Signal(), Signal()
        with m.If(taken & ~head.marker & (head.k == k_f) & (column_in == column_f)):
            m.d.sync += present.eq(1)
        fill = Signal(signed(numerics.act_bits))
        m.d.comb += fill.eq(result(0, k_f))
        in_column = (column_out == column_f) & ~present
        filling = in_column & sent & ~out.marker & (out.k == k_f)
        props.check("an absent channel leaves as its fill, once, only below K",
                    (out.value == fill) & (k_f < config.K) & ~filled, when=filling)
        with m.If(filling):
            m.d.sync += filled.eq(1)
        props.check("a nonzero fill below K leaves before its column's marker",
                    filled | (fill == 0) | (k_f >= config.K), when=in_column & sent & out.marker)

        props.cover("a data token leaves saturated",
                    mine & (expected == numerics.act_range[1]))
        props.cover("a fill leaves", filling & (out.value != 0))


def _pou(cls=Pou):
    return cls(numerics=NARROW, max_channels=2, max_columns=2)


TruncatingPou = mutant(Pou, "rounded.eq((halves + 1) >> 1)", "rounded.eq(halves >> 1)",
                       name="TruncatingPou")
FillsPastKPou = mutant(Pou, "below_K.eq(~(ones << self.config.K))", "below_K.eq(ones)",
                       name="FillsPastKPou")


def make_views():
    return [PouView(_pou(), depth=14),
            PouView(_pou(), depth=18, tag="deep", modes=("bmc",), slow=("bmc",))]


def broken_views():
    """(view of a broken variant, the property its check must fail, or a tuple of those it
    may fail first)."""
    return [
        # Rounding is shared by data and fills: either may be the first to show it.
        (PouView(_pou(TruncatingPou), depth=14),
         ("a data token leaves as requantize of its value, once",
          "a nonzero fill below K leaves before its column's marker")),
        (PouView(_pou(FillsPastKPou), depth=14),
         "an absent channel leaves as its fill, once, only below K"),
    ]
