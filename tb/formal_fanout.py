"""Formal view of the substream fan-out: each substream gets exactly its data tokens and the
column markers of the rows it feeds, in order and unchanged."""

from amaranth import Array, Mux, Signal

from isosceles.hw.fanout import SubstreamFanout
from isosceles.tb.formal import FormalView, any_const, mutant
from isosceles.tb.formal_rmerger import NARROW

__all__ = ["SubstreamFanoutView", "make_views", "broken_views"]

MAX_KERNEL, MAX_CHANNELS, MAX_COLUMNS = 2, 1, 2
CAPACITY = MAX_CHANNELS + 2  # tokens each substream holds


class SubstreamFanoutView(FormalView):
    """Two substreams of three tokens (one memory of six), one channel, two columns, 3-bit
    values, any tokens (a data token of a filter row past the last is never taken) and any
    ``rows``.

    Assumed: ``rows`` held while a token waits on ``i`` (the unit's contract holds it through a
    row). The view counts, per substream ``r``, the tokens sent to it, counted when taken from
    ``i``: a data token of row ``r``, and a marker whose ``rows`` has bit ``r``, as the marker of
    its column (``k`` and ``value`` 0). Checked, per substream: no more tokens leave than were
    sent to it (counting the one offered now, which the unit may already have pushed); for a
    substream and an index the solver chooses, the token at that index on ``o[r]`` is the one
    sent to ``r`` at that index (so none is lost, duplicated, altered or reordered, bar the
    last); a data token is taken at once while its substream has room (a whole column always
    fits, the unit's guarantee against lanes and row mergers waiting on each other) and never
    while it is full; a marker for no substream is taken at once.
    """

    def properties(self, m, props, unit):
        i, rows, token = unit.i, unit.rows, unit.i.payload
        props.assume(rows == props.past(rows), when=props.past(i.valid & ~i.ready))
        taken = i.valid & i.ready
        layout = unit.o[0].payload.shape()
        expected = Signal(layout)
        m.d.comb += [expected.q.eq(token.q), expected.marker.eq(token.marker),
                     expected.last.eq(token.last)]
        with m.If(~token.marker):
            m.d.comb += [expected.k.eq(token.k), expected.value.eq(token.value)]

        counter = range(16)
        sent, popped, inside, to = [], [], [], []
        for r in range(MAX_KERNEL):
            o = unit.o[r]
            to_r = Signal(name=f"to{r}")
            m.d.comb += to_r.eq(i.valid & Mux(token.marker, rows[r], token.r == r))
            sent_r = props.counter(f"sent{r}", counter, taken & to_r, clear=0)
            popped_r = props.counter(f"popped{r}", counter, o.valid & o.ready, clear=0)
            inside_r = Signal(counter, name=f"inside{r}")
            m.d.comb += inside_r.eq(sent_r - popped_r)
            props.check(f"o[{r}]: no more tokens leave than were sent to it",
                        popped_r < sent_r + to_r, when=o.valid & o.ready)
            props.check(f"substream {r}: a data token is taken exactly while it has room",
                        i.ready == (inside_r < CAPACITY),
                        when=i.valid & ~token.marker & (token.r == r))
            sent.append(sent_r), popped.append(popped_r), inside.append(inside_r)
            to.append(to_r)
        props.check("a marker for no substream is taken at once", i.ready,
                    when=i.valid & token.marker & (rows == 0))

        # The tracked token: index `n` of substream `chosen`.
        chosen = Signal(range(MAX_KERNEL))
        n = Signal(range(8))
        m.d.comb += [chosen.eq(any_const(len(chosen))), n.eq(any_const(len(n)))]
        value, recorded = Signal(layout), Signal()
        with m.If(Array(to)[chosen] & (Array(sent)[chosen] == n)):
            m.d.sync += [value.eq(expected), recorded.eq(1)]
        out = Array(unit.o)[chosen]
        at_n = out.valid & (Array(popped)[chosen] == n)
        props.check("the token at index n of a substream is the one sent to it at n",
                    recorded & (out.payload.as_value() == value.as_value()), when=at_n)

        props.cover("a marker for both substreams is taken",
                    taken & token.marker & (rows == (1 << MAX_KERNEL) - 1))
        props.cover("a data token waits for its full substream while the other pops",
                    i.valid & ~i.ready & ~token.marker & (token.r == 0)
                    & unit.o[1].valid & unit.o[1].ready)
        props.cover("the tracked marker leaves its substream after three tokens",
                    at_n & out.ready & value.marker & (n == 3) & (chosen == 1))


def _fanout(cls=SubstreamFanout):
    return cls(numerics=NARROW, max_kernel=MAX_KERNEL, max_channels=MAX_CHANNELS,
               max_columns=MAX_COLUMNS)


DuplicatingFanout = mutant(SubstreamFanout, "given.eq(given | (pending & ~remaining))",
                           "given.eq(given)", name="DuplicatingFanout")
HastyFanout = mutant(SubstreamFanout,
                     "self.i.ready.eq(~has_pending | (queue.i.ready & (remaining == 0)))",
                     "self.i.ready.eq(~has_pending | queue.i.ready)", name="HastyFanout")


def make_views():
    return [SubstreamFanoutView(_fanout(), depth=8),
            SubstreamFanoutView(_fanout(), depth=12, tag="deep", modes=("bmc",),
                                slow=("bmc",))]


def broken_views():
    """(view of a broken variant, the property its check must fail, or a tuple of those it
    may fail first)."""
    return [
        (SubstreamFanoutView(_fanout(DuplicatingFanout), depth=8),
         ("no more tokens leave than were sent to it",
          "the token at index n of a substream is the one sent to it at n")),
        (SubstreamFanoutView(_fanout(HastyFanout), depth=8),
         "the token at index n of a substream is the one sent to it at n"),
    ]
