"""Formal view of the R-merger: column order and watermarks, under any sources that keep theirs."""

from functools import partial

from amaranth import Mux, Signal

from isosceles.golden.numerics import Numerics
from isosceles.hw.rmerger import RMerger
from isosceles.tb.formal import FormalView, any_seq, mutant

__all__ = ["RMergerView", "make_views", "broken_views", "NARROW"]

# The narrowest numerics: 3-bit partial sums, so saturation is within reach.
NARROW = Numerics(act_bits=2, weight_bits=2, acc_bits=3, bias_bits=2, mult_bits=2, shift_bits=2)


class RMergerView(FormalView):
    """Two sources, rows of up to three columns, any sums.

    Assumed of the environment: ``start`` only between rows, ``config`` held through a row,
    and each present source sends columns below ``config.columns``, its data in increasing
    ``q``, its watermarks in increasing ``q`` and never before data of that column (a pending
    data token is past a pending watermark). Checked, within a row: outputs are strictly
    increasing in ``q``; no output is at or before a watermark already sent; the unit's
    watermark ``q`` comes only once every present source has finished ``q``; the watermarks
    count ``0, 1, ...`` and the one of the last column says ``last``.
    """

    driven = ("start", "config")

    def properties(self, m, props, unit):
        radix = len(unit.fiber)
        config, start = unit.config, unit.start
        m.d.comb += [start.eq(any_seq(1)), config.eq(any_seq(len(config.as_value())))]
        out_mark = unit.watermark
        ends = out_mark.valid & out_mark.ready & out_mark.payload.last
        row = props.row(start=start, ends=ends, config=config)  # to the last watermark
        latest = partial(props.latest, start=start)

        finished = []
        for r in range(radix):
            fiber, mark = unit.fiber[r], unit.watermark_in[r]
            fq, wq = fiber.payload.q, mark.payload.q
            data_seen, data_q = latest(f"data{r}", fiber.valid & fiber.ready, fq)
            mark_seen, mark_q = latest(f"mark{r}", mark.valid & mark.ready, wq)
            live = row & ~start & config.present[r]
            props.assume((fq < config.columns) & (~data_seen | (fq > data_q))
                         & (~mark_seen | (fq > mark_q)), when=live & fiber.valid)
            props.assume((wq < config.columns) & (~data_seen | (wq >= data_q))
                         & (~mark_seen | (wq > mark_q)), when=live & mark.valid)
            props.assume(fq > wq, when=live & fiber.valid & mark.valid)
            finished.append((mark_seen, mark_q))

        o = unit.o
        sent = o.valid & o.ready
        marked = out_mark.valid & out_mark.ready
        out_seen, out_q = latest("out", sent, o.payload.q)
        mark_seen, mark_q = latest("out_mark", marked, out_mark.payload.q)
        props.check("outputs strictly increasing in q within a row", o.payload.q > out_q,
                    when=row & sent & out_seen)
        props.check("no output at or before a watermark already sent",
                    (o.payload.q > mark_q) & (~marked | (o.payload.q > out_mark.payload.q)),
                    when=row & sent & mark_seen)
        for r, (seen, q) in enumerate(finished):
            props.check(f"watermark q only once source {r} has finished q",
                        ~config.present[r] | (seen & (q >= out_mark.payload.q)),
                        when=out_mark.valid)
        props.check("watermarks count the columns, the last says last",
                    (out_mark.payload.q == Mux(mark_seen, mark_q + 1, 0))
                    & (out_mark.payload.last == (out_mark.payload.q == config.columns - 1)),
                    when=marked)

        both = Signal()
        m.d.comb += both.eq(1)
        for r in range(radix):
            with m.If(~(unit.fiber[r].valid & unit.fiber[r].ready)):
                m.d.comb += both.eq(0)
        ended = Signal()
        m.d.sync += ended.eq(ended | ends)
        props.cover("every source merged into one column", both)
        everyone = config.present == (1 << radix) - 1
        props.cover("a row of two columns from every source ends",
                    ends & (config.columns == 2) & everyone & out_seen)
        low = NARROW.acc_range[0]
        total = sum(unit.fiber[r].payload.value for r in range(radix))
        # Merged heads are added in `held`, one cycle, then registered on `o`: two cycles.
        props.cover("a sum saturates", props.past(props.past(both & (total < low))) & o.valid
                    & (o.payload.value == low))
        props.cover("a second row starts", ended & start)


def _rmerger(cls=RMerger):
    return cls(radix=2, max_columns=3, numerics=NARROW)


EarlyRMerger = mutant(RMerger, "return ~present[r] | (done[r] > q)",
                      "return ~present[r] | (done[r] >= q)", name="EarlyRMerger")
HastyMarkRMerger = mutant(
    RMerger, "o_clear = held_clear & (~self.o.valid | (self.o.payload.q > out_done))",
    "o_clear = 1",
    name="HastyMarkRMerger")


def make_views():
    return [RMergerView(_rmerger(), depth=10),
            RMergerView(_rmerger(), depth=16, tag="deep", modes=("bmc",), slow=("bmc",))]


def broken_views():
    """(view of a broken variant, the property its check must fail, or a tuple of those it
    may fail first)."""
    return [
        (RMergerView(_rmerger(EarlyRMerger), depth=8), "watermark q only once source"),
        (RMergerView(_rmerger(HastyMarkRMerger), depth=8),
         "no output at or before a watermark already sent"),
    ]
