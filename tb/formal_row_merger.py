"""Formal view of the row merger: (q, k) order, in-band markers and exact sums (or maxima) of
one key."""

from functools import partial

from amaranth import Cat, Mux, Signal, signed

from isosceles.hw.row_merger import RowMerger
from isosceles.tb.formal import FormalView, any_const, any_seq, mutant
from isosceles.tb.formal_rmerger import NARROW

__all__ = ["RowMergerView", "make_views", "broken_views"]


def order_key(payload):
    """``(q, marker, k)`` as one unsigned value, a marker's ``k`` read as 0: the merge order."""
    return Cat(payload.k & ~payload.marker.replicate(len(payload.k)), payload.marker, payload.q)


class RowMergerView(FormalView):
    """Two sources, two channels, rows of up to three columns, 3-bit sums.

    Assumed of the environment: ``start`` only between rows (from ``start`` to the transfer of
    the marker with ``last``), ``config`` held through a row with ``1 <= columns <= 3``; each
    present source, until its last marker is taken, sends tokens strictly increasing in
    ``(q, marker, k)``, each of column ``c`` after the markers of ``0 .. c - 1`` (one marker
    per column, the one of the last column with ``last``). Checked: outputs strictly increasing in
    ``(q, marker, k)`` within a row; no data at or before a marker already sent; the marker of
    ``q`` only once every present source's marker of ``q`` is taken; the markers count the
    columns and the last says ``last``; no token is taken from an absent source or from a
    source past its last marker; ``order_error`` stays clear. For one key ``(q, k)`` the solver
    chooses: its output is the saturated sum of every token of that key taken in the row (with
    ``config.maximum``, the maximum of those tokens and zero), never zero, and a nonzero result
    leaves before the marker of its column. ``config.maximum`` is free, held through a row.
    """

    driven = ("start", "config")

    def properties(self, m, props, unit):
        radix = len(unit.i)
        config, start, o = unit.config, unit.start, unit.o
        m.d.comb += [start.eq(any_seq(1)), config.eq(any_seq(len(config.as_value())))]
        sent = o.valid & o.ready
        ends = sent & o.payload.marker & o.payload.last
        row = props.row(start=start, ends=ends, config=config)  # to the last marker's transfer
        latest = partial(props.latest, start=start)
        props.assume((config.columns >= 1) & (config.columns <= 3), when=start | row)

        def count(name, transfer):
            """Transfers of this row."""
            counter = Signal(range(5), name=name)
            with m.If(start):
                m.d.sync += counter.eq(0)
            with m.Elif(transfer & (counter != 4)):
                m.d.sync += counter.eq(counter + 1)
            return counter

        # The tracked key, and the exact sum of its tokens taken this row.
        q_shape, k_shape = o.payload.q.shape(), o.payload.k.shape()
        tracked_q, tracked_k = Signal(q_shape), Signal(k_shape)
        m.d.comb += [tracked_q.eq(any_const(q_shape)), tracked_k.eq(any_const(k_shape))]

        def is_tracked(payload):
            return ~payload.marker & (payload.q == tracked_q) & (payload.k == tracked_k)

        exact = Signal(signed(NARROW.acc_bits + 2))
        added = 0
        peak = Signal(signed(NARROW.acc_bits))  # the maximum of zero and the tracked tokens
        peak_now = peak
        marks_taken = []
        for r in range(radix):
            source = unit.i[r]
            taken = source.valid & source.ready
            head = source.payload
            seen, last = latest(f"source{r}", taken, order_key(head))
            marks = count(f"source{r}_marks", taken & head.marker)
            finished = Signal(name=f"source{r}_finished")
            with m.If(start):
                m.d.sync += finished.eq(0)
            with m.Elif(taken & head.marker & head.last):
                m.d.sync += finished.eq(1)
            live = row & ~start & config.present[r] & ~finished
            props.assume((~seen | (order_key(head) > last)) & (head.q == marks)
                         & (~head.marker | (head.last == (head.q == config.columns - 1))),
                         when=live & source.valid)
            props.check(f"source {r}: nothing taken when absent or past its last marker",
                        ~taken, when=~config.present[r] | finished | ~row)
            added = added + Mux(is_tracked(head) & taken, head.value, 0)
            peak_now = Mux(is_tracked(head) & taken & (head.value > peak_now), head.value,
                           peak_now)
            marks_taken.append(marks)
        with m.If(start):
            m.d.sync += [exact.eq(0), peak.eq(0)]
        with m.Else():
            m.d.sync += [exact.eq(exact + added), peak.eq(peak_now)]

        out_seen, out_last = latest("out", sent, order_key(o.payload))
        mark_seen, mark_q = latest("out_mark", sent & o.payload.marker, o.payload.q)
        props.check("outputs strictly increasing in (q, marker, k) within a row",
                    order_key(o.payload) > out_last, when=row & sent & out_seen)
        props.check("no data at or before a marker already sent", o.payload.q > mark_q,
                    when=row & sent & ~o.payload.marker & mark_seen)
        for r in range(radix):
            props.check(f"the marker of q only once source {r} sent its marker of q",
                        ~config.present[r] | (marks_taken[r] > o.payload.q),
                        when=row & o.valid & o.payload.marker)
        props.check("markers count the columns, the last says last",
                    (o.payload.q == Mux(mark_seen, mark_q + 1, 0))
                    & (o.payload.last == (o.payload.q == config.columns - 1)),
                    when=row & sent & o.payload.marker)
        props.check("order_error stays clear for sources that keep the order",
                    ~unit.order_error)

        low, high = NARROW.acc_range
        saturated = Signal(signed(NARROW.acc_bits))
        m.d.comb += saturated.eq(exact)
        with m.If(exact > high):
            m.d.comb += saturated.eq(high)
        with m.Elif(exact < low):
            m.d.comb += saturated.eq(low)
        expected = Signal(signed(NARROW.acc_bits))
        m.d.comb += expected.eq(Mux(config.maximum, peak, saturated))
        left = Signal()
        with m.If(start):
            m.d.sync += left.eq(0)
        with m.Elif(sent & is_tracked(o.payload)):
            m.d.sync += left.eq(1)
        props.check("the tracked key leaves as the saturated sum of its tokens (with maximum: "
                    "their maximum and zero), never zero",
                    (o.payload.value == expected) & (expected != 0),
                    when=row & o.valid & is_tracked(o.payload))
        props.check("a nonzero result of the tracked key leaves before its column's marker",
                    left | (expected == 0),
                    when=row & sent & o.payload.marker & (o.payload.q == tracked_q))

        both = Signal()
        m.d.comb += both.eq(1)
        for r in range(radix):
            with m.If(~(unit.i[r].valid & unit.i[r].ready & ~unit.i[r].payload.marker)):
                m.d.comb += both.eq(0)
        ended = Signal()
        m.d.sync += ended.eq(ended | ends)
        everyone = config.present == (1 << radix) - 1
        props.cover("every source merged into one key", both)
        props.cover("an output stalls", o.valid & ~o.ready & ~o.payload.marker)
        props.cover("a row of two columns from every source ends with data",
                    ends & (config.columns == 2) & everyone & out_seen & left)
        props.cover("the tracked sum saturates", sent & is_tracked(o.payload)
                    & (exact < low) & ~config.maximum)
        props.cover("every source merged into one key by the maximum", both & config.maximum)
        props.cover("a maximum of negative tokens leaves nothing",
                    ends & config.maximum & (exact < 0) & (peak == 0))
        props.cover("a second row starts", ended & start)


def _row_merger(cls=RowMerger):
    return cls(radix=2, max_channels=2, max_columns=3, numerics=NARROW)


EagerRowMerger = mutant(RowMerger, "merge.eq(complete & any_head & held_free)",
                        "merge.eq(any_head & held_free)", name="EagerRowMerger")
WrappingRowMerger = mutant(
    RowMerger, "saturated = Mux(total > high, high, Mux(total < low, low, total))",
    "saturated = total", name="WrappingRowMerger")
SummingRowMerger = mutant(
    RowMerger, "reduced = Mux(self.config.maximum, Mux(largest < 0, 0, largest), saturated)",
    "reduced = saturated", name="SummingRowMerger")
FloorlessRowMerger = mutant(
    RowMerger, "Mux(largest < 0, 0, largest)", "largest", name="FloorlessRowMerger")


def make_views():
    return [RowMergerView(_row_merger(), depth=10),
            RowMergerView(_row_merger(), depth=14, tag="deep", modes=("bmc",), slow=("bmc",))]


def broken_views():
    """(view of a broken variant, the property its check must fail, or a tuple of those it
    may fail first)."""
    return [
        (RowMergerView(_row_merger(EagerRowMerger), depth=8),
         ("outputs strictly increasing", "the marker of q only once",
          "the tracked key leaves as the saturated sum")),
        (RowMergerView(_row_merger(WrappingRowMerger), depth=8),
         "the tracked key leaves as the saturated sum"),
        (RowMergerView(_row_merger(SummingRowMerger), depth=8),
         "the tracked key leaves as the saturated sum"),
        (RowMergerView(_row_merger(FloorlessRowMerger), depth=8),
         "the tracked key leaves as the saturated sum"),
    ]
