"""Formal view of the K-merger: (q, k) order, markers after every watermark, no token lost."""

from functools import partial

from amaranth import Mux, Signal

from isosceles.hw.kmerger import KMerger
from isosceles.tb.formal import FormalView, any_const, any_seq, mutant
from isosceles.tb.formal_rmerger import NARROW
from isosceles.tb.formal_row_merger import order_key

__all__ = ["KMergerView", "make_views", "broken_views"]


class KMergerView(FormalView):
    """Two fibers (radix 2, a two-entry heap), rows of up to three columns, 3-bit sums.

    Assumed of the environment: ``start`` only between rows (from ``start`` to the transfer of
    the marker with ``last``), ``config`` held through a row with ``1 <= channels <= 2`` and
    ``1 <= columns <= 3``; each source ``k < channels``, until its last watermark is taken,
    sends data in strictly increasing ``q`` below ``columns``, the watermarks of ``0, 1, ...``
    in turn (the last with ``last``), and a watermark only once its data of that column is
    taken (a pending data token is past a pending watermark; data is past every watermark
    taken). Checked: outputs strictly increasing in ``(q, marker, k)`` within a row; no data at
    or before a marker already sent; the marker of ``q`` only once every present source's
    watermark of ``q`` is taken; the markers count the columns and the last says ``last``; no
    token taken from a source past ``channels`` or past its last watermark; ``order_error``
    stays clear. For one data token the solver chooses: it leaves with its ``(q, k, value)``
    before the marker of its column (strict order makes it once).
    """

    driven = ("start", "config")

    def properties(self, m, props, unit):
        radix = len(unit.fiber)
        config, start, o = unit.config, unit.start, unit.o
        m.d.comb += [start.eq(any_seq(1)), config.eq(any_seq(len(config.as_value())))]
        sent = o.valid & o.ready
        ends = sent & o.payload.marker & o.payload.last
        row = props.row(start=start, ends=ends, config=config)  # to the last marker's transfer
        latest = partial(props.latest, start=start)
        props.assume((config.columns >= 1) & (config.columns <= 3) & (config.channels >= 1)
                     & (config.channels <= radix), when=start | row)

        # The tracked token: the solver picks one data transfer of the row.
        tracking, tracked = Signal(), Signal.like(o.payload)
        choose = Signal()
        m.d.comb += choose.eq(any_const(1) & any_seq(1))
        with m.If(start):
            m.d.sync += tracking.eq(0)

        marks_taken = []
        for k in range(radix):
            fiber, mark = unit.fiber[k], unit.watermark[k]
            took = fiber.valid & fiber.ready
            marked = mark.valid & mark.ready
            data_seen, data_q = latest(f"data{k}", took, fiber.payload.q)
            marks = Signal(range(5), name=f"source{k}_marks")
            finished = Signal(name=f"source{k}_finished")
            with m.If(start):
                m.d.sync += [marks.eq(0), finished.eq(0)]
            with m.Elif(marked):
                m.d.sync += [marks.eq(marks + 1), finished.eq(mark.payload.last)]
            present = config.channels > k
            live = row & ~start & present & ~finished
            fq, wq = fiber.payload.q, mark.payload.q
            props.assume((fq < config.columns) & (~data_seen | (fq > data_q)) & (fq >= marks),
                         when=live & fiber.valid)
            props.assume((wq == marks) & (mark.payload.last == (wq == config.columns - 1)),
                         when=live & mark.valid)
            props.assume(fq > wq, when=live & fiber.valid & mark.valid)
            props.check(f"source {k}: nothing taken past channels or its last watermark",
                        ~took & ~marked, when=~present | finished | ~row)
            with m.If(row & ~start & ~tracking & took & choose):
                m.d.sync += [tracking.eq(1), tracked.q.eq(fq), tracked.k.eq(k),
                             tracked.value.eq(fiber.payload.value)]
            marks_taken.append(marks)

        out_seen, out_last = latest("out", sent, order_key(o.payload))
        mark_seen, mark_q = latest("out_mark", sent & o.payload.marker, o.payload.q)
        props.check("outputs strictly increasing in (q, marker, k) within a row",
                    order_key(o.payload) > out_last, when=row & sent & out_seen)
        props.check("no data at or before a marker already sent", o.payload.q > mark_q,
                    when=row & sent & ~o.payload.marker & mark_seen)
        for k in range(radix):
            props.check(f"the marker of q only once source {k} sent its watermark of q",
                        (config.channels <= k) | (marks_taken[k] > o.payload.q),
                        when=row & o.valid & o.payload.marker)
        props.check("markers count the columns, the last says last",
                    (o.payload.q == Mux(mark_seen, mark_q + 1, 0))
                    & (o.payload.last == (o.payload.q == config.columns - 1)),
                    when=row & sent & o.payload.marker)
        props.check("order_error stays clear for sources that keep the order",
                    ~unit.order_error)

        is_tracked = (tracking & ~o.payload.marker & (o.payload.q == tracked.q)
                      & (o.payload.k == tracked.k))
        left = Signal()
        with m.If(start):
            m.d.sync += left.eq(0)
        with m.Elif(sent & is_tracked):
            m.d.sync += left.eq(1)
        props.check("the tracked token leaves with its value",
                    o.payload.value == tracked.value, when=row & o.valid & is_tracked)
        props.check("the tracked token leaves before its column's marker", left,
                    when=row & tracking & sent & o.payload.marker & (o.payload.q == tracked.q))

        ended = Signal()
        m.d.sync += ended.eq(ended | ends)
        props.cover("an output stalls", o.valid & ~o.ready & ~o.payload.marker)
        props.cover("a row of two columns from two sources ends after the tracked token",
                    ends & (config.columns == 2) & (config.channels == 2) & left)
        props.cover("both sources' data of one column leave in k order",
                    sent & ~o.payload.marker & (o.payload.k == 1) & out_seen
                    & (out_last == order_key(o.payload) - 1))
        props.cover("a second row starts", ended & start)


def _kmerger(cls=KMerger):
    return cls(radix=2, max_columns=3, numerics=NARROW)


HastyMarkerKMerger = mutant(
    KMerger, "(heap.empty | (~heap.busy & (root_q > marked)))", "(heap.empty | ~heap.busy)",
    name="HastyMarkerKMerger")
OneMarkKMerger = mutant(KMerger, "(mark_valid | ~present).all()", "mark_valid.any()",
                        name="OneMarkKMerger")


def make_views():
    return [KMergerView(_kmerger(), depth=12),
            KMergerView(_kmerger(), depth=16, tag="deep", modes=("bmc",), slow=("bmc",))]


def broken_views():
    """(view of a broken variant, the property its check must fail, or a tuple of those it
    may fail first)."""
    return [
        (KMergerView(_kmerger(HastyMarkerKMerger), depth=10),
         ("no data at or before a marker already sent", "outputs strictly increasing",
          "the tracked token leaves before its column's marker")),
        (KMergerView(_kmerger(OneMarkKMerger), depth=10),
         "the marker of q only once source"),
    ]
