"""Formal view of the merge adder: (w, marker, c) order, one marker per column taken from both
streams at once, and the exact saturated sum of one key."""

from amaranth import Cat, Mux, Signal, signed

from isosceles.hw.merge_adder import MergeAdder
from isosceles.tb.formal import FormalView, any_const, mutant
from isosceles.tb.formal_rmerger import NARROW

__all__ = ["MergeAdderView", "make_views", "broken_views"]

MAX_CHANNELS, MAX_COLUMNS = 2, 3


def order_key(payload):
    """``(w, marker, c)`` as one unsigned value, a marker's ``c`` read as 0: the merge order."""
    return Cat(payload.c & ~payload.marker.replicate(len(payload.c)), payload.marker, payload.w)


class MergeAdderView(FormalView):
    """Two channels, rows of one to three columns (the same for the whole trace), 2-bit values.

    Assumed of each input, row after row: tokens strictly increasing in ``(w, marker, c)``,
    the data of column ``w`` after the markers of ``0 .. w - 1``, one marker per column, the
    last column's with ``last``; data values nonzero (a marker's ``c`` and ``value`` are
    anything). Checked: outputs strictly increasing in ``(w, marker, c)`` within a row; the
    markers count the columns, the last says ``last``, with ``c`` and ``value`` 0; a marker is
    taken from one input only together with the other's marker of its column; no data value
    leaves as zero. For one key ``(w, c)`` the solver chooses, in the first row: its output is
    the saturated sum of the tokens of that key taken from both inputs, and a nonzero sum
    leaves before the marker of its column.
    """

    def properties(self, m, props, unit):
        o, sent = unit.o, unit.o.valid & unit.o.ready
        columns = Signal(range(MAX_COLUMNS + 1))
        m.d.comb += columns.eq(any_const(len(columns)))
        props.assume((columns >= 1) & (columns <= MAX_COLUMNS))

        tracked_w, tracked_c = Signal.like(o.payload.w), Signal.like(o.payload.c)
        m.d.comb += [tracked_w.eq(any_const(len(tracked_w))),
                     tracked_c.eq(any_const(len(tracked_c)))]

        def is_tracked(payload):
            return ~payload.marker & (payload.w == tracked_w) & (payload.c == tracked_c)

        def row_state(name, transfer, payload):
            """``(fresh, last_key, marks, first_row)`` of a stream's current row: no token taken
            yet, the key of the last one, the markers taken, and whether it is the first row."""
            fresh, first = Signal(name=f"{name}_fresh", init=1), Signal(name=f"{name}_first",
                                                                       init=1)
            last_key = Signal.like(order_key(payload), name=f"{name}_last_key")
            marks = Signal(range(MAX_COLUMNS + 1), name=f"{name}_marks")
            with m.If(transfer):
                m.d.sync += [fresh.eq(0), last_key.eq(order_key(payload))]
                with m.If(payload.marker):
                    m.d.sync += marks.eq(marks + 1)
                with m.If(payload.marker & payload.last):
                    m.d.sync += [fresh.eq(1), marks.eq(0), first.eq(0)]
            return fresh, last_key, marks, first

        exact = Signal(signed(NARROW.act_bits + 1))
        added = 0
        for name, source, other in (("a", unit.i_a, unit.i_b), ("b", unit.i_b, unit.i_a)):
            head, taken = source.payload, source.valid & source.ready
            fresh, last_key, marks, first = row_state(name, taken, head)
            props.assume((fresh | (order_key(head) > last_key)) & (head.w == marks)
                         & (~head.marker | (head.last == (head.w == columns - 1)))
                         & (head.marker | (head.value != 0)), when=source.valid)
            other_taken = other.valid & other.ready
            props.check(f"a marker of {name} is taken only with the other's of its column",
                        other_taken & other.payload.marker & (other.payload.w == head.w),
                        when=taken & head.marker)
            added = added + Mux(taken & first & is_tracked(head), head.value, 0)
        m.d.sync += exact.eq(exact + added)

        out_fresh, out_last_key, out_marks, out_first = row_state("out", sent, o.payload)
        props.check("outputs strictly increasing in (w, marker, c) within a row",
                    out_fresh | (order_key(o.payload) > out_last_key), when=o.valid)
        props.check("markers count the columns, the last says last, c and value 0",
                    (o.payload.w == out_marks)
                    & (o.payload.last == (o.payload.w == columns - 1))
                    & (o.payload.c == 0) & (o.payload.value == 0),
                    when=o.valid & o.payload.marker)
        props.check("data leaves in the column of the markers sent", o.payload.w == out_marks,
                    when=o.valid & ~o.payload.marker)
        props.check("no data value leaves as zero", o.payload.value != 0,
                    when=o.valid & ~o.payload.marker)

        low, high = NARROW.act_range
        saturated = Signal(signed(NARROW.act_bits))
        m.d.comb += saturated.eq(Mux(exact > high, high, Mux(exact < low, low, exact)))
        left = Signal()
        with m.If(sent & out_first & is_tracked(o.payload)):
            m.d.sync += left.eq(1)
        props.check("the tracked key leaves as the saturated sum of its tokens",
                    o.payload.value == saturated, when=o.valid & out_first & is_tracked(o.payload))
        props.check("a nonzero sum of the tracked key leaves before its column's marker",
                    left | (saturated == 0),
                    when=sent & out_first & o.payload.marker & (o.payload.w == tracked_w))

        both_data = (unit.i_a.valid & unit.i_a.ready & ~unit.i_a.payload.marker
                     & unit.i_b.valid & unit.i_b.ready & ~unit.i_b.payload.marker)
        props.cover("two tokens of one key are added", both_data)
        props.cover("a sum cancels", both_data
                    & (unit.i_a.payload.value == -unit.i_b.payload.value))
        props.cover("the tracked sum saturates", sent & is_tracked(o.payload) & out_first
                    & (exact > high))
        props.cover("an output stalls", o.valid & ~o.ready & ~o.payload.marker)
        props.cover("data of a second row leaves", sent & ~out_first & ~o.payload.marker)


def _adder(cls=MergeAdder):
    return cls(numerics=NARROW, max_channels=MAX_CHANNELS, max_columns=MAX_COLUMNS)


WrappingMergeAdder = mutant(
    MergeAdder, "saturated = Mux(total > high, high, Mux(total < low, low, total))",
    "saturated = total", name="WrappingMergeAdder")
ZeroKeepingMergeAdder = mutant(MergeAdder, "(marker | (total != 0))", "1",
                               name="ZeroKeepingMergeAdder")
UnfairMergeAdder = mutant(MergeAdder, "self.i_a.valid & ~a_below", "self.i_a.valid & b_below",
                          name="UnfairMergeAdder")


def make_views():
    return [MergeAdderView(_adder(), depth=10),
            MergeAdderView(_adder(), depth=14, tag="deep", modes=("bmc",), slow=("bmc",))]


def broken_views():
    """(view of a broken variant, the property its check must fail, or a tuple of those it
    may fail first)."""
    return [
        (MergeAdderView(_adder(WrappingMergeAdder), depth=8),
         "the tracked key leaves as the saturated sum"),
        (MergeAdderView(_adder(ZeroKeepingMergeAdder), depth=8),
         ("no data value leaves as zero", "the tracked key leaves as the saturated sum")),
        (MergeAdderView(_adder(UnfairMergeAdder), depth=8),
         ("a marker of a is taken only with the other's", "outputs strictly increasing")),
    ]
