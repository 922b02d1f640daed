"""Formal views of the row fetchers: requests only for the row given, no word past its count,
and its columns' markers in order, for any words the memory returns."""

from functools import partial

from amaranth import Cat, Mux, Signal

from isosceles.hw.fetch import RowFetcher, TableRowFetcher
from isosceles.tb.formal import FormalView, any_seq, mutant
from isosceles.tb.formal_rmerger import NARROW

__all__ = ["RowFetcherView", "TableRowFetcherView", "make_views", "broken_views"]

MAX_CHANNELS, MAX_COLUMNS, ADDR_WIDTH = 1, 2, 8
MAX_WORDS = MAX_COLUMNS * (MAX_CHANNELS + 1)


def _key(payload):
    """``(w, marker, c)``, a marker's ``c`` read as 0: the order of lane stream I."""
    return Cat(payload.c & ~payload.marker.replicate(len(payload.c)), payload.marker, payload.w)


class RowFetcherView(FormalView):
    """Rows of up to two columns of one channel, 8-bit addresses, any ``config``, any
    ``start`` and any words (well formed or not: the checks hold for both).

    Assumed: ``W`` at most ``max_columns``; the memory offers a word only after the row's first
    request is accepted, and past the words asked for (more may come, the next client's) only
    while no request of the row waits. The view latches ``config`` at an accepted ``start``.
    Checked: every request is the row's, ``{words_addr, count}``, once and none for an empty
    row; no request or word is taken outside a row and no word past ``count``; ``o`` sends, in
    strictly increasing ``(w, marker, c)``, data of the current column only and the markers of
    ``0 .. W - 1`` in turn, the last saying ``last``; ``busy`` falls only once all ``count``
    words are taken and every marker has left.
    """

    driven = ("start", "config")

    def properties(self, m, props, unit):
        config, start, req, word, o = unit.config, unit.start, unit.req, unit.word, unit.o
        busy = unit.status.busy
        m.d.comb += [start.eq(any_seq(1)), config.eq(any_seq(len(config.as_value())))]
        self.accepted = accepted = start & ~busy
        self.kept = Signal.like(config)
        with m.If(accepted):
            m.d.sync += self.kept.eq(config)

        row_counter = partial(props.counter, clear=accepted)

        asked = req.valid & req.ready
        took = word.valid & word.ready
        self.requests = row_counter("requests", range(4), asked)
        asked_words = row_counter("asked_words", range(2 * MAX_WORDS + 16),
                                  Mux(asked, req.payload.words, 0))
        self.words = row_counter("words", range(2 * MAX_WORDS + 16), took)
        # Past the words asked for, the memory may offer more (the next client's, say), but
        # only while no request of the row is waiting, as on a shared port.
        props.assume((self.requests != 0) & ((self.words < asked_words) | ~req.valid),
                     when=word.valid)
        props.assume(config.W <= MAX_COLUMNS, when=accepted)
        props.check("no request or word taken outside a row", ~asked & ~took, when=~busy)
        self.request_properties(m, props, unit)
        props.check("no word taken past the row's", ~took, when=self.words >= self.row_words)

        sent = o.valid & o.ready
        marks = row_counter("marks", range(MAX_COLUMNS + 2), sent & o.payload.marker)
        seen, last = Signal(), Signal.like(_key(o.payload))
        with m.If(accepted):
            m.d.sync += seen.eq(0)
        with m.Elif(sent):
            m.d.sync += [seen.eq(1), last.eq(_key(o.payload))]
        props.check("o strictly increasing in (w, marker, c)", _key(o.payload) > last,
                    when=busy & sent & seen)
        props.check("data of the current column, the markers of 0 .. W - 1 in turn",
                    (o.payload.w == marks) & (marks < self.kept.W)
                    & (~o.payload.marker | (o.payload.last == (marks == self.kept.W - 1))),
                    when=busy & o.valid)
        props.check("nothing on o outside a row", ~o.valid, when=~busy)
        fell = props.past(busy) & ~busy
        props.check("busy falls once every word is taken and every marker has left",
                    (self.words == self.row_words) & (marks == self.kept.W), when=fell)

        data_out = row_counter("data_out", range(4), sent & ~o.payload.marker)
        props.cover("a row of two columns and two data tokens ends well formed",
                    fell & (self.kept.W == 2) & (data_out == 2) & ~unit.status.format_error)
        props.cover("a data token waits for the lane", o.valid & ~o.ready & ~o.payload.marker)
        props.cover("a row with a format error ends", fell & unit.status.format_error
                    & (self.words != 0))

    def request_properties(self, m, props, unit):
        """The row's one request; ``self.row_words``: the words the row must take."""
        req, kept = unit.req, self.kept
        self.row_words = kept.count
        props.check("the one request is the row's words_addr and count, none for an empty row",
                    (self.requests == 0) & (req.payload.addr == kept.words_addr)
                    & (req.payload.words == kept.count) & (kept.count != 0),
                    when=req.valid & req.ready)


class TableRowFetcherView(RowFetcherView):
    """:class:`RowFetcherView` through the row table: the first request is the entry's, and the
    second is the one the two entry words returned name.

    Checked besides: the first request is ``{entry_addr, 2}``; the second is
    ``{words_addr + 4 * offset, count}`` of the entry's words and comes only when
    ``1 <= count <= 4`` (the longest row); no third; an entry counting more sets
    ``format_error``; the row takes exactly its two entry words and ``count`` (or none).
    """

    def request_properties(self, m, props, unit):
        req, kept, word = unit.req, self.kept, unit.word
        took = word.valid & word.ready
        offset, count = Signal(32), Signal(32)
        with m.If(took & (self.words == 0)):
            m.d.sync += offset.eq(word.payload)
        with m.If(took & (self.words == 1)):
            m.d.sync += count.eq(word.payload)
        too_long = count > MAX_WORDS
        self.row_words = Signal(range(2 * MAX_WORDS + 16))
        m.d.comb += self.row_words.eq(2 + Mux(too_long, 0, count))
        row_addr = Signal(ADDR_WIDTH)
        m.d.comb += row_addr.eq(kept.words_addr + offset * 4)
        props.check("the first request is the entry's, 2 words at entry_addr",
                    (req.payload.addr == kept.entry_addr) & (req.payload.words == 2),
                    when=req.valid & req.ready & (self.requests == 0))
        props.check("the second request is the row's, count words at words_addr + 4 * offset",
                    (self.words >= 2) & (req.payload.addr == row_addr)
                    & (req.payload.words == count) & (count != 0) & ~too_long,
                    when=req.valid & req.ready & (self.requests == 1))
        props.check("no third request", ~(req.valid & req.ready), when=self.requests >= 2)
        props.check("an entry counting more than the longest row is a format error",
                    unit.status.format_error, when=(self.words >= 2) & too_long
                    & props.past(unit.status.busy) & ~unit.status.busy)


def _fetcher(cls=RowFetcher):
    return cls(numerics=NARROW, max_channels=MAX_CHANNELS, max_columns=MAX_COLUMNS,
               addr_width=ADDR_WIDTH)


GreedyRowFetcher = mutant(RowFetcher, "with m.If(busy & words_left):", "with m.If(busy):",
                          name="GreedyRowFetcher")
HastyRowFetcher = mutant(
    RowFetcher, "busy & ~words_left & (col == config.W) & ~self.o.valid & ~pending",
    "busy & ~words_left & (col == config.W) & ~pending", name="HastyRowFetcher")
UnscaledTableRowFetcher = mutant(
    TableRowFetcher, "config.words_addr + (offset << 2)", "config.words_addr + offset",
    name="UnscaledTableRowFetcher")


def make_views():
    return [RowFetcherView(_fetcher(), depth=10),
            TableRowFetcherView(_fetcher(TableRowFetcher), depth=14),
            RowFetcherView(_fetcher(), depth=14, tag="deep", modes=("bmc",), slow=("bmc",)),
            TableRowFetcherView(_fetcher(TableRowFetcher), depth=18, tag="deep",
                                modes=("bmc",), slow=("bmc",))]


def broken_views():
    """(view of a broken variant, the property its check must fail, or a tuple of those it
    may fail first)."""
    return [
        (RowFetcherView(_fetcher(GreedyRowFetcher), depth=8), "no word taken past the row's"),
        (RowFetcherView(_fetcher(HastyRowFetcher), depth=8),
         ("busy falls once every word is taken", "nothing on o outside a row")),
        (TableRowFetcherView(_fetcher(UnscaledTableRowFetcher), depth=8),
         "the second request is the row's"),
    ]
